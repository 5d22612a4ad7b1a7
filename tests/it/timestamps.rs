//! Instants and dates no calendar holds (seconds at the ends of `i64`,
//! nanos out of range, years at the ends of `i32`) are field violations
//! with their paths in both services, never a panic or `INTERNAL`: every
//! conversion of an instant happens after the range check, so none can
//! overflow even in a debug build.

use crate::support;

use support::{
    TestApp,
    metrics::{self as m, Metrics},
    recruiting::{authed, credit_code, employer, item_error, posting, violated_fields},
};
use talent_proto::{
    google::r#type::Date,
    talent::{
        events::v1::{self as ev, event::Payload},
        metrics::v1 as mpb,
        recruiting::v1 as rpb,
    },
};
use tonic::Code;

fn at(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

#[tokio::test]
async fn recruiting_refuses_instants_beyond_any_calendar_with_their_paths() {
    let app = TestApp::spawn().await;
    let platform = app.create_platform("a").await;
    let code = credit_code("91370200MA3C00001");
    app.push_employers(&platform, vec![employer(&code, "n", "370212", "C")])
        .await;

    let postings = vec![
        rpb::Posting {
            publish_time: at(i64::MAX, 0),
            ..posting("p0", "Max", &code)
        },
        rpb::Posting {
            publish_time: at(i64::MIN, 0),
            ..posting("p1", "Min", &code)
        },
        rpb::Posting {
            expire_time: at(i64::MAX, 999_999_999),
            ..posting("p2", "Expiry", &code)
        },
        rpb::Posting {
            publish_time: at(1_700_000_000, -1),
            ..posting("p3", "Nanos", &code)
        },
        rpb::Posting {
            publish_time: at(1_700_000_000, 1_000_000_000),
            expire_time: at(i64::MIN, i32::MIN),
            ..posting("p4", "Both", &code)
        },
        posting("p5", "Good", &code),
    ];
    let results = app.push_postings(&platform, postings).await;
    let errors: Vec<(Code, Vec<String>)> = results[..5].iter().map(|r| item_error!(r)).collect();
    let invalid = |fields: &[&str]| {
        (
            Code::InvalidArgument,
            fields.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        errors,
        [
            invalid(&["postings[0].publish_time"]),
            invalid(&["postings[1].publish_time"]),
            invalid(&["postings[2].expire_time"]),
            invalid(&["postings[3].publish_time"]),
            invalid(&["postings[4].publish_time", "postings[4].expire_time"]),
        ]
    );
    assert_eq!(results[5].outcome(), rpb::UpsertOutcome::Created);

    // A listing filter, a fair, a résumé's receive time and a hire's date.
    let channel = app.recruiting_channel().await;
    let err = rpb::posting_service_client::PostingServiceClient::new(channel.clone())
        .list_postings(authed(
            rpb::ListPostingsRequest {
                parent: "platforms/a".into(),
                updated_since: at(i64::MIN, 0),
                ..Default::default()
            },
            &platform.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["updated_since"]);

    let err = rpb::fair_service_client::FairServiceClient::new(channel.clone())
        .create_fair(authed(
            rpb::CreateFairRequest {
                parent: "platforms/a".into(),
                fair_id: "f".into(),
                fair: Some(rpb::Fair {
                    display_name: "Fair".into(),
                    start_time: at(i64::MAX, 0),
                    end_time: at(i64::MAX, 0),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &platform.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["fair.start_time", "fair.end_time"]);

    let mut resumes = rpb::resume_service_client::ResumeServiceClient::new(channel.clone());
    let resume = rpb::Resume {
        external_id: "r".into(),
        resident_id_number: "11010519491231002X".into(),
        full_name: "Person".into(),
        receive_time: at(i64::MAX, 0),
        consent_time: at(i64::MIN, 0),
        ..Default::default()
    };
    let mut answers = resumes
        .upsert_resumes(authed(
            tokio_stream::iter([rpb::UpsertResumesRequest {
                resumes: vec![resume],
            }]),
            &platform.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let result = answers.message().await.unwrap().unwrap().results.remove(0);
    assert_eq!(
        item_error!(result),
        (
            Code::InvalidArgument,
            vec![
                "resumes[0].consent_time".to_owned(),
                "resumes[0].receive_time".to_owned()
            ]
        )
    );

    let err = rpb::employment_service_client::EmploymentServiceClient::new(channel)
        .record_hire(authed(
            rpb::RecordHireRequest {
                parent: "platforms/a".into(),
                person: Some(rpb::record_hire_request::Person::ResidentIdNumber(
                    "11010519491231002X".into(),
                )),
                employer_credit_code: code.clone(),
                start_date: date(i32::MAX, i32::MIN, i32::MAX),
                ..Default::default()
            },
            &platform.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["start_date"]);
}

/// Event `n` of the metrics test, a hire unless changed.
fn hire(n: u64) -> ev::Event {
    m::hired(
        &format!("e{n}"),
        &m::person(n),
        "370212",
        "C",
        Date {
            year: 2024,
            month: 7,
            day: 1,
        },
        "pa",
    )
}

fn with(payload: Payload) -> ev::Event {
    m::event("pa", payload)
}

#[tokio::test]
async fn metrics_rejects_events_with_instants_beyond_any_calendar_with_their_paths() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let employer = m::employer(1);

    let mut occurred = hire(1);
    occurred.occurred_at = at(i64::MIN, 0);
    let mut recorded = hire(2);
    recorded.recorded_at = at(i64::MAX, 0);
    let mut nanos = hire(3);
    nanos.recorded_at = at(1_700_000_000, 1_000_000_000);
    let mut start = hire(4);
    if let Some(Payload::Hired(h)) = &mut start.payload {
        h.start_date = date(i32::MAX, i32::MAX, i32::MIN);
    }
    let posting = m::posting("pa", "p", 1, &m::opening(1), &employer, "370212", 1, {
        prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        }
    });
    let resume = with(Payload::ResumeReceived(ev::ResumeReceived {
        resume: "platforms/pa/resumes/r".into(),
        revision: 1,
        person_key: m::person(6),
        first_received_at: at(i64::MIN, 999_999_999),
        ..Default::default()
    }));
    let application = with(Payload::ApplicationSubmitted(ev::ApplicationSubmitted {
        application: "platforms/pa/applications/a".into(),
        resume: "platforms/pa/resumes/r".into(),
        posting: "platforms/pa/postings/p".into(),
        opening_id: m::opening(1),
        employer_credit_code: employer.clone(),
        workplace_district: "370212".into(),
        industry: "C".into(),
        submit_time: at(i64::MAX, -1),
        fair: String::new(),
    }));
    let fair = with(Payload::FairHeld(ev::FairHeld {
        fair: "platforms/pa/fairs/f".into(),
        organiser_platform_id: "pa".into(),
        format: 1,
        start_time: at(253_402_271_999 + 1, 0),
        end_time: None,
    }));
    let participation = with(Payload::FairParticipation(ev::FairParticipation {
        fair: "platforms/pa/fairs/f".into(),
        employer_credit_code: employer.clone(),
        employer_district: "370212".into(),
        employer_industry: "C".into(),
        fair_start_time: at(1_700_000_000, 0),
        register_time: at(i64::MAX, 0),
    }));
    let erased = with(Payload::PersonErased(ev::PersonErased {
        person_key: m::person(10),
        erase_time: at(-62_135_596_800 - 1, 0),
    }));
    // The first and last instants of the accepted range are accepted.
    let mut first = hire(11);
    first.occurred_at = at(-62_135_596_800, 0);
    let mut last = hire(12);
    last.recorded_at = at(253_402_271_999, 999_999_999);

    let events = vec![
        occurred,
        recorded,
        nanos,
        start,
        posting,
        resume,
        application,
        fair,
        participation,
        erased,
        first,
        last,
    ];
    let acks = metrics
        .publish_batches_with(&metrics.relay_key, vec![events])
        .await
        .expect("the stream survives")
        .remove(0);
    let outcomes: Vec<(mpb::EventOutcome, Vec<String>)> = acks
        .iter()
        .map(|a| {
            let fields = a.error.as_ref().map_or(Vec::new(), |e| {
                assert_eq!(e.code, Code::InvalidArgument as i32, "{a:?}");
                m::violated_fields(&e.details)
            });
            (a.outcome(), fields)
        })
        .collect();
    use mpb::EventOutcome::{Applied, Rejected};
    let rejected = |field: &str| (Rejected, vec![field.to_owned()]);
    assert_eq!(
        outcomes,
        [
            rejected("occurred_at"),
            rejected("recorded_at"),
            rejected("recorded_at"),
            rejected("hired.start_date"),
            rejected("posting_published.facts.publish_time"),
            rejected("resume_received.first_received_at"),
            rejected("application_submitted.submit_time"),
            rejected("fair_held.start_time"),
            rejected("fair_participation.register_time"),
            rejected("person_erased.erase_time"),
            (Applied, vec![]),
            (Applied, vec![]),
        ]
    );

    // A roster row's absurd date, and a query's absurd instant.
    let mut row = m::roster_row(&m::person(20), "4137010001", 3, 8, Date::default());
    row.graduation_date = date(i32::MIN, i32::MAX, 1);
    let roster = metrics.import_roster(vec![row]).await;
    assert_eq!(roster.rejected_count, 1);
    let error = roster.rejected_rows[0].error.as_ref().unwrap();
    assert_eq!(m::violated_fields(&error.details), ["graduation_date"]);

    let err = metrics
        .stats()
        .get_talent_gathered(m::with_key(
            mpb::GetTalentGatheredRequest {
                period: m::period(
                    Date {
                        year: 2024,
                        month: 1,
                        day: 1,
                    },
                    Date {
                        year: 2025,
                        month: 1,
                        day: 1,
                    },
                ),
                as_known_at: at(i64::MIN, 0),
                ..Default::default()
            },
            &metrics.read_key,
        ))
        .await
        .unwrap_err();
    assert_eq!(m::status_fields(&err), ["as_known_at"]);
}
