//! EmploymentService.BatchRecordHires: many hires in one call, one result
//! per hire in order, each checked and recorded as RecordHire would, and
//! one Hired event per recorded hire in request order.

use crate::support;

use support::{
    TestApp,
    recruiting::{authed, credit_code, employer, item_error, posting, violated_fields},
};
use talent_proto::{
    google::r#type::Date,
    talent::{events::v1 as ev, recruiting::v1 as pb},
};
use tonic::{Code, transport::Channel};

type Client = pb::employment_service_client::EmploymentServiceClient<Channel>;

/// Resident ID numbers and their person keys under the test secret,
/// computed independently (Python's hmac module); the same as in
/// `recruiting_employments.rs`.
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

fn batch(requests: Vec<pb::RecordHireRequest>) -> pb::BatchRecordHiresRequest {
    pb::BatchRecordHiresRequest {
        parent: String::new(),
        requests,
    }
}

fn hired(payload: &ev::event::Payload) -> &ev::Hired {
    match payload {
        ev::event::Payload::Hired(h) => h,
        other => panic!("expected Hired, got {other:?}"),
    }
}

#[tokio::test]
async fn a_batch_records_the_valid_hires_and_reports_the_others_in_place() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let _b = app.create_platform("b").await;
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
                industry: "C38".into(),
                ..posting("job", "Welder", &e1)
            }],
        )
        .await;
    let opening = posted[0].opening_id.clone();
    let before = app.outbox().await.len();
    let mut client: Client =
        pb::employment_service_client::EmploymentServiceClient::new(app.recruiting_channel().await);

    let request_id = "9a7c1e2d-5f4b-4a3c-8d2e-1f0a9b8c7d6e";
    let requests = vec![
        // 0: the employer's place.
        hire_by_id(ID_2, &e2),
        // 1: unknown employer (found only by the store).
        hire_by_id(ID_1, &credit_code("91370200MA3C49999")),
        // 2: the posting's place and opening, with a request id.
        pb::RecordHireRequest {
            posting: a.posting_name("job"),
            request_id: request_id.into(),
            ..hire_by_id(ID_1, &e1)
        },
        // 3: malformed (found by the API).
        pb::RecordHireRequest {
            start_date: date(2025, 2, 29),
            workplace_district: "37".into(),
            ..hire_by_id(ID_1, &e1)
        },
        // 4: the same request id again in this request.
        pb::RecordHireRequest {
            request_id: request_id.into(),
            ..hire_by_id(ID_2, &e1)
        },
        // 5: another platform's résumé.
        pb::RecordHireRequest {
            person: Some(pb::record_hire_request::Person::Resume(
                "platforms/b/resumes/r1".into(),
            )),
            ..hire_by_id(ID_1, &e1)
        },
        // 6: a résumé of the platform that does not exist.
        pb::RecordHireRequest {
            person: Some(pb::record_hire_request::Person::Resume(
                "platforms/a/resumes/missing".into(),
            )),
            ..hire_by_id(ID_1, &e1)
        },
    ];
    let results = client
        .batch_record_hires(authed(batch(requests.clone()), &a.key))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(
        results.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    let direct = results[0].employment.clone().expect("hire 0 recorded");
    assert!(results[0].error.is_none());
    assert_eq!(direct.person_key, KEY_2);
    assert_eq!(direct.workplace_district, "310101");
    assert_eq!(direct.industry, "I");
    assert_eq!(direct.reporting_platform_id, "a");
    let placed = results[2].employment.clone().expect("hire 2 recorded");
    assert_eq!(placed.person_key, KEY_1);
    assert_eq!(placed.workplace_district, "370203");
    assert_eq!(placed.industry, "C38");
    assert_eq!(placed.posting, "platforms/a/postings/job");
    assert_ne!(placed.name, direct.name);

    assert!(results[1].employment.is_none());
    assert_eq!(
        item_error!(results[1]),
        (
            Code::InvalidArgument,
            vec!["requests[1].employer_credit_code".to_string()]
        )
    );
    assert_eq!(
        item_error!(results[3]).1,
        ["requests[3].workplace_district", "requests[3].start_date"]
    );
    assert_eq!(item_error!(results[4]).1, ["requests[4].request_id"]);
    assert_eq!(item_error!(results[5]).0, Code::NotFound);
    assert_eq!(item_error!(results[6]).1, ["requests[6].resume"]);

    // One Hired event per recorded hire, in request order.
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), before + 2);
    let first = hired(&events[before]);
    assert_eq!(first.employment, direct.name);
    assert_eq!(first.person_key, KEY_2);
    assert_eq!(first.workplace_district, "310101");
    let second = hired(&events[before + 1]);
    assert_eq!(second.employment, placed.name);
    assert_eq!(second.opening_id, opening);

    // The request id recorded in the batch is honoured by RecordHire (and
    // by a later batch): the same employment, no new event.
    let replay = client
        .record_hire(authed(requests[2].clone(), &a.key))
        .await
        .unwrap()
        .into_inner()
        .employment
        .unwrap();
    assert_eq!(replay, placed);
    let again = client
        .batch_record_hires(authed(batch(vec![requests[2].clone()]), &a.key))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(again[0].employment.as_ref(), Some(&placed));
    let reused = client
        .batch_record_hires(authed(
            batch(vec![pb::RecordHireRequest {
                workplace_district: "370211".into(),
                ..requests[2].clone()
            }]),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(item_error!(reused[0]).0, Code::InvalidArgument);
    assert_eq!(app.outbox().await.len(), before + 2);
}

#[tokio::test]
async fn the_request_as_a_whole_is_checked() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let _b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C40001");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;
    let mut client: Client =
        pb::employment_service_client::EmploymentServiceClient::new(app.recruiting_channel().await);

    let empty = client
        .batch_record_hires(authed(batch(vec![]), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["requests"]);
    let too_many = client
        .batch_record_hires(authed(batch(vec![hire_by_id(ID_1, &e1); 1001]), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["requests"]);
    let other = client
        .batch_record_hires(authed(
            pb::BatchRecordHiresRequest {
                parent: "platforms/b".into(),
                requests: vec![hire_by_id(ID_1, &e1)],
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    // An item naming another platform fails alone.
    let results = client
        .batch_record_hires(authed(
            batch(vec![
                pb::RecordHireRequest {
                    parent: "platforms/b".into(),
                    ..hire_by_id(ID_1, &e1)
                },
                hire_by_id(ID_2, &e1),
            ]),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(item_error!(results[0]).0, Code::PermissionDenied);
    assert_eq!(
        results[1]
            .employment
            .as_ref()
            .map(|e| e.person_key.as_str()),
        Some(KEY_2)
    );

    // A full batch of 1,000 distinct persons is recorded in one call.
    let requests: Vec<pb::RecordHireRequest> = (0..1000u32)
        .map(|n| hire_by_id(&resident_id(n), &e1))
        .collect();
    let before = app.outbox().await.len();
    let results = client
        .batch_record_hires(authed(batch(requests), &a.key))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|r| r.error.is_none()));
    assert_eq!(app.outbox().await.len(), before + 1000);
}

/// A valid resident ID number for person `n` (district 370202, born in
/// 1990 on day `n / 1000`, order code `n % 1000`), with its check
/// character computed by the ISO 7064 MOD 11-2 rule.
fn resident_id(n: u32) -> String {
    let month = time::Month::try_from(u8::try_from(1 + n / 1000 / 28).unwrap()).unwrap();
    let day = u8::try_from(1 + n / 1000 % 28).unwrap();
    let birth = time::Date::from_calendar_date(1990, month, day).unwrap();
    talent_codes::resident_id::make("370202", birth, u16::try_from(n % 1000).unwrap())
}
