//! EmploymentService: direct hires, separations, where a hire is placed,
//! idempotency, and the Hired / Separated events.

use crate::support;

use support::{
    TestApp,
    recruiting::{authed, credit_code, employer, error_reason, posting, violated_fields},
};
use talent_proto::{
    google::r#type::Date,
    talent::{events::v1 as ev, recruiting::v1 as pb},
};
use tonic::{Code, transport::Channel};

type Client = pb::employment_service_client::EmploymentServiceClient<Channel>;

/// Resident ID numbers and their person keys under the test secret,
/// computed independently (Python's hmac module).
const ID_1: &str = "37020219980315108X";
const KEY_1: &str = "65d2a451df2b639b2af26c9556da5a2f811f90b408452090cd201083ace41169";
const ID_2: &str = "370202199901011232";
const KEY_2: &str = "d45535b68374ca8c660edd05130dda2e0c430b9df846d1c7305631c9e9072ec8";

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn hire_by_id(id: &str, employer: &str) -> pb::RecordHireRequest {
    pb::RecordHireRequest {
        person: Some(pb::record_hire_request::Person::ResidentIdNumber(
            id.to_owned(),
        )),
        employer_credit_code: employer.to_owned(),
        start_date: date(2025, 7, 1),
        ..Default::default()
    }
}

fn hired(payload: &ev::event::Payload) -> &ev::Hired {
    match payload {
        ev::event::Payload::Hired(h) => h,
        other => panic!("expected Hired, got {other:?}"),
    }
}

#[tokio::test]
async fn hires_are_placed_recorded_once_and_emitted() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C40001");
    let e2 = credit_code("91370200MA3C40002");
    app.push_employers(
        &a,
        vec![
            employer(&e1, "One", "370212", "C39"),
            employer(&e2, "Two", "310101", "I"),
        ],
    )
    .await;
    let posted = app
        .push_postings(
            &a,
            vec![pb::Posting {
                workplace_district: "370203".into(),
                industry: "C3".into(),
                ..posting("job", "Welder", &e1)
            }],
        )
        .await;
    assert!(posted[0].error.is_some(), "C3 is not an industry code");
    let posted = app
        .push_postings(
            &a,
            vec![pb::Posting {
                workplace_district: "370203".into(),
                industry: "C38".into(),
                ..posting("job", "Welder", &e1)
            }],
        )
        .await;
    let opening = posted[0].opening_id.clone();
    let before = app.outbox().await.len();
    let mut client: Client =
        pb::employment_service_client::EmploymentServiceClient::new(app.recruiting_channel().await);

    // No workplace, no posting: the employer's district and industry.
    let direct = client
        .record_hire(authed(hire_by_id(ID_2, &e2), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(direct.person_key, KEY_2);
    assert_eq!(direct.workplace_district, "310101");
    assert_eq!(direct.industry, "I");
    assert_eq!(direct.reporting_platform_id, "a");
    assert_eq!(direct.start_date, date(2025, 7, 1));
    assert!(direct.end_date.is_none());
    assert!(direct.name.starts_with("platforms/a/employments/"));

    // With a posting: the posting's district and industry, and its opening.
    let request_id = "9a7c1e2d-5f4b-4a3c-8d2e-1f0a9b8c7d6e";
    let with_posting = pb::RecordHireRequest {
        posting: a.posting_name("job"),
        request_id: request_id.into(),
        ..hire_by_id(&ID_1.to_lowercase(), &e1)
    };
    let placed = client
        .record_hire(authed(with_posting.clone(), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(placed.person_key, KEY_1);
    assert_eq!(placed.workplace_district, "370203");
    assert_eq!(placed.industry, "C38");
    assert_eq!(placed.posting, "platforms/a/postings/job");
    // Replayed: the same employment, no second event.
    let replay = client
        .record_hire(authed(with_posting.clone(), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(replay, placed);
    let reused = client
        .record_hire(authed(
            pb::RecordHireRequest {
                workplace_district: "370211".into(),
                ..with_posting
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));

    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), before + 2);
    let first = hired(&events[before]);
    assert_eq!(first.employment, direct.name);
    assert_eq!(first.person_key, KEY_2);
    assert_eq!(first.employer_credit_code, e2);
    assert_eq!(first.workplace_district, "310101");
    assert_eq!(first.reporting_platform_id, "a");
    assert_eq!(first.posting, "");
    assert_eq!(first.opening_id, "");
    let second = hired(&events[before + 1]);
    assert_eq!(second.workplace_district, "370203");
    assert_eq!(second.industry, "C38");
    assert_eq!(second.opening_id, opening);
    assert_eq!(second.start_date, date(2025, 7, 1));

    // Rejections.
    let wrong_employer = client
        .record_hire(authed(
            pb::RecordHireRequest {
                posting: a.posting_name("job"),
                ..hire_by_id(ID_1, &e2)
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&wrong_employer), ["employer_credit_code"]);
    let unknown = client
        .record_hire(authed(
            hire_by_id(ID_1, &credit_code("91370200MA3C49999")),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["employer_credit_code"]);
    let bad = client
        .record_hire(authed(
            pb::RecordHireRequest {
                person: None,
                start_date: date(2025, 2, 29),
                workplace_district: "37".into(),
                ..hire_by_id(ID_1, "123")
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        [
            "person",
            "employer_credit_code",
            "workplace_district",
            "start_date"
        ]
    );
    let far = client
        .record_hire(authed(
            pb::RecordHireRequest {
                start_date: date(2099, 1, 1),
                ..hire_by_id(ID_1, &e1)
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&far), ["start_date"]);
    let other_posting = client
        .record_hire(authed(
            pb::RecordHireRequest {
                posting: a.posting_name("job"),
                ..hire_by_id(ID_1, &e1)
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(other_posting.code(), Code::NotFound);
    let missing_resume = client
        .record_hire(authed(
            pb::RecordHireRequest {
                person: Some(pb::record_hire_request::Person::Resume(
                    "platforms/a/resumes/nobody".into(),
                )),
                ..hire_by_id(ID_1, &e1)
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing_resume), ["resume"]);
    assert_eq!(app.outbox().await.len(), before + 2);
    app.stop().await;
}

#[tokio::test]
async fn separations_end_employments_and_are_listed() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C40011");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;
    let mut client: Client =
        pb::employment_service_client::EmploymentServiceClient::new(app.recruiting_channel().await);
    let mut names = Vec::new();
    for (id, start) in [(ID_1, date(2024, 3, 1)), (ID_2, date(2025, 1, 15))] {
        let e = client
            .record_hire(authed(
                pb::RecordHireRequest {
                    start_date: start,
                    ..hire_by_id(id, &e1)
                },
                &a.key,
            ))
            .await
            .unwrap()
            .into_inner()
            .employment
            .unwrap();
        names.push(e.name);
    }
    let separate = |name: &str, end| pb::RecordSeparationRequest {
        name: name.to_owned(),
        end_date: end,
    };
    let too_early = client
        .record_separation(authed(separate(&names[0], date(2024, 3, 1)), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_early), ["end_date"]);
    let hidden = client
        .record_separation(authed(separate(&names[0], date(2024, 9, 1)), &b.key))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    let before = app.outbox().await.len();
    let ended = client
        .record_separation(authed(separate(&names[0], date(2024, 9, 1)), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(ended.end_date, date(2024, 9, 1));
    let same = client
        .record_separation(authed(separate(&names[0], date(2024, 9, 1)), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(same, ended);
    client
        .record_separation(authed(separate(&names[0], date(2024, 10, 1)), &a.key))
        .await
        .unwrap();
    let events = app.outbox_payloads().await;
    let separations: Vec<(i64, Option<Date>)> = events[before..]
        .iter()
        .map(|p| match p {
            ev::event::Payload::Separated(s) => {
                assert_eq!(s.employment, names[0]);
                assert_eq!(s.person_key, KEY_1);
                (s.revision, s.end_date)
            }
            other => panic!("expected Separated, got {other:?}"),
        })
        .collect();
    assert_eq!(separations, [(1, date(2024, 9, 1)), (2, date(2024, 10, 1))]);

    let list = |filter: pb::ListEmploymentsRequest| {
        let mut client = client.clone();
        let key = a.key.clone();
        async move {
            client
                .list_employments(authed(filter, &key))
                .await
                .unwrap()
                .into_inner()
                .employments
                .into_iter()
                .map(|e| e.person_key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(pb::ListEmploymentsRequest::default()).await,
        [KEY_1, KEY_2]
    );
    assert_eq!(
        list(pb::ListEmploymentsRequest {
            active_on: date(2024, 9, 30),
            ..Default::default()
        })
        .await,
        [KEY_1]
    );
    assert_eq!(
        list(pb::ListEmploymentsRequest {
            active_on: date(2024, 10, 1),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(pb::ListEmploymentsRequest {
            person_key: KEY_2.into(),
            employer_credit_code: e1.clone(),
            ..Default::default()
        })
        .await,
        [KEY_2]
    );
    let page = client
        .list_employments(authed(
            pb::ListEmploymentsRequest {
                page_size: 1,
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.employments.len(), 1);
    let next = client
        .list_employments(authed(
            pb::ListEmploymentsRequest {
                page_size: 1,
                page_token: page.next_page_token.clone(),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.employments[0].person_key, KEY_2);
    assert!(next.next_page_token.is_empty());
    let changed = client
        .list_employments(authed(
            pb::ListEmploymentsRequest {
                page_size: 1,
                page_token: page.next_page_token,
                person_key: KEY_1.into(),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);
    let of_b = client
        .list_employments(authed(pb::ListEmploymentsRequest::default(), &b.key))
        .await
        .unwrap()
        .into_inner();
    assert!(of_b.employments.is_empty());
    app.stop().await;
}
