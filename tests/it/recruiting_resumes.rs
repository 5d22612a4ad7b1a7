//! ResumeService: person keys, personal data encrypted at rest, consent,
//! erasure and export.

use crate::support;

use support::{
    TestApp,
    recruiting::{ADMIN_KEY, TestPlatform, authed, item_error, violated_fields},
};
use talent_proto::{
    google::r#type::Date,
    talent::{events::v1 as ev, recruiting::v1 as pb, r#type::v1 as types},
};
use tonic::Code;

/// Resident ID numbers and their person keys under the test secret
/// ("test-city-secret-0123456789"), computed independently (Python's
/// hmac module).
const ID_1: &str = "37020219980315108x";
const KEY_1: &str = "65d2a451df2b639b2af26c9556da5a2f811f90b408452090cd201083ace41169";
const ID_2: &str = "370202199901011232";
const KEY_2: &str = "d45535b68374ca8c660edd05130dda2e0c430b9df846d1c7305631c9e9072ec8";

const NAME: &str = "王秘密";
const PHONE: &str = "13912345678";
const EMAIL: &str = "wang.secret@example.cn";

fn resume(external_id: &str, id: &str, consent: bool) -> pb::Resume {
    pb::Resume {
        external_id: external_id.to_owned(),
        resident_id_number: id.to_owned(),
        full_name: NAME.to_owned(),
        phone: PHONE.to_owned(),
        email: EMAIL.to_owned(),
        education: vec![pb::EducationEntry {
            degree_level: types::DegreeLevel::Master as i32,
            university_code: "4137010426".into(),
            university_name: "青岛大学".into(),
            discipline: types::Discipline::Engineering as i32,
            major: "计算机".into(),
            graduation_date: Some(Date {
                year: 2023,
                month: 6,
                day: 30,
            }),
        }],
        professional_title_level: types::ProfessionalTitleLevel::Intermediate as i32,
        statistical_use_consent: consent,
        ..Default::default()
    }
}

async fn push(app: &TestApp, p: &TestPlatform, resumes: Vec<pb::Resume>) -> Vec<pb::ResumeResult> {
    let channel = app.recruiting_channel().await;
    let mut client = pb::resume_service_client::ResumeServiceClient::new(channel);
    let mut responses = client
        .upsert_resumes(authed(
            tokio_stream::iter([pb::UpsertResumesRequest { resumes }]),
            &p.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    assert!(responses.message().await.unwrap().is_none());
    response.results
}

async fn client(
    app: &TestApp,
) -> pb::resume_service_client::ResumeServiceClient<tonic::transport::Channel> {
    pb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await)
}

fn received(payload: &ev::event::Payload) -> &ev::ResumeReceived {
    match payload {
        ev::event::Payload::ResumeReceived(r) => r,
        other => panic!("expected ResumeReceived, got {other:?}"),
    }
}

#[tokio::test]
async fn a_resume_gets_its_person_key_and_only_its_platform_sees_it() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let results = push(&app, &a, vec![resume("r-1", ID_1, true)]).await;
    assert_eq!(results[0].outcome(), pb::UpsertOutcome::Created);
    assert_eq!(results[0].person_key, KEY_1);
    assert_eq!(results[0].name, "platforms/a/resumes/r-1");

    let got = client(&app)
        .await
        .get_resume(authed(
            pb::GetResumeRequest {
                name: "platforms/a/resumes/r-1".into(),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .resume
        .unwrap();
    assert_eq!(got.resident_id_number, ID_1.to_uppercase());
    assert_eq!(got.full_name, NAME);
    assert_eq!(got.phone, format!("+86{PHONE}"));
    assert_eq!(got.email, EMAIL);
    assert_eq!(got.person_key, KEY_1);
    assert_eq!(got.education.len(), 1);
    assert!(got.statistical_use_consent);
    assert!(!got.erased);

    let hidden = client(&app)
        .await
        .get_resume(authed(
            pb::GetResumeRequest {
                name: "platforms/a/resumes/r-1".into(),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    // The same résumé again: UNCHANGED, no event.
    let again = push(&app, &a, vec![resume("r-1", ID_1, true)]).await;
    assert_eq!(again[0].outcome(), pb::UpsertOutcome::Unchanged);
    assert_eq!(app.outbox().await.len(), 1);

    // The ID number is immutable.
    let other_id = push(&app, &a, vec![resume("r-1", ID_2, true)]).await;
    assert_eq!(
        item_error!(other_id[0]),
        (
            Code::InvalidArgument,
            vec!["resumes[0].resident_id_number".to_owned()]
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn personal_data_is_not_stored_in_plain_text() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    push(
        &app,
        &a,
        vec![resume("r-1", ID_1, true), resume("r-2", ID_2, false)],
    )
    .await;
    let needles = [
        NAME.to_owned(),
        PHONE.to_owned(),
        EMAIL.to_owned(),
        ID_1.to_uppercase(),
        ID_2.to_owned(),
    ];
    let haystack: Vec<u8> = match app.backend {
        talent_server::Backend::Sqlite => {
            // Every byte of the database, its write-ahead log included.
            let path = app
                .recruiting_database_url()
                .trim_start_matches("sqlite://")
                .to_owned();
            let mut bytes = std::fs::read(&path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        talent_server::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            let mut bytes = Vec::new();
            for table in ["resumes", "outbox"] {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(t AS TEXT) FROM {table} t"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                for (row,) in rows {
                    bytes.extend(row.into_bytes());
                }
            }
            let payloads: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT payload FROM outbox")
                .fetch_all(&pool)
                .await
                .unwrap();
            for (payload,) in payloads {
                bytes.extend(payload);
            }
            pool.close().await;
            bytes
        }
    };
    assert!(!haystack.is_empty());
    for needle in &needles {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{needle} is stored in plain text"
        );
    }
    // The person keys are there (pseudonymous, not personal data).
    assert!(haystack.windows(KEY_1.len()).any(|w| w == KEY_1.as_bytes()));
    app.stop().await;
}

#[tokio::test]
async fn resume_received_carries_attributes_only_with_consent() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    push(
        &app,
        &a,
        vec![resume("r-1", ID_1, true), resume("r-2", ID_2, false)],
    )
    .await;
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), 2);
    let with = received(&events[0]);
    assert_eq!(with.resume, "platforms/a/resumes/r-1");
    assert_eq!(with.person_key, KEY_1);
    assert_eq!(with.revision, 1);
    assert!(with.statistical_use_consent);
    let attributes = with.attributes.as_ref().unwrap();
    assert_eq!(
        attributes.education,
        [ev::EducationFacts {
            degree_level: types::DegreeLevel::Master as i32,
            university_code: "4137010426".into(),
            discipline: types::Discipline::Engineering as i32,
            graduation_date: Some(Date {
                year: 2023,
                month: 6,
                day: 30
            }),
        }]
    );
    assert_eq!(
        attributes.professional_title_level,
        types::ProfessionalTitleLevel::Intermediate as i32
    );
    let without = received(&events[1]);
    assert_eq!(without.person_key, KEY_2);
    assert!(!without.statistical_use_consent);
    assert!(without.attributes.is_none());

    // A preference change: UPDATED, no event.
    let preferences = pb::Resume {
        desired_districts: vec!["370212".into(), "370212".into()],
        ..resume("r-1", ID_1, true)
    };
    let updated = push(&app, &a, vec![preferences.clone()]).await;
    assert_eq!(updated[0].outcome(), pb::UpsertOutcome::Updated);
    assert_eq!(app.outbox().await.len(), 2);

    // Withdrawing consent: a new revision without attributes.
    let withdrawn = push(
        &app,
        &a,
        vec![pb::Resume {
            statistical_use_consent: false,
            ..preferences
        }],
    )
    .await;
    assert_eq!(withdrawn[0].outcome(), pb::UpsertOutcome::Updated);
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), 3);
    let last = received(&events[2]);
    assert_eq!(last.revision, 2);
    assert!(!last.statistical_use_consent);
    assert!(last.attributes.is_none());
    assert_eq!(last.first_received_at, with.first_received_at);
    app.stop().await;
}

#[tokio::test]
async fn invalid_resumes_are_rejected_one_by_one() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let results = push(
        &app,
        &a,
        vec![
            pb::Resume {
                resident_id_number: "370202199901011233".into(),
                phone: "12345".into(),
                email: "a@b@c".into(),
                ..resume("bad-1", ID_2, true)
            },
            resume("ok-1", ID_2, true),
            pb::Resume {
                full_name: String::new(),
                education: vec![pb::EducationEntry {
                    degree_level: 0,
                    university_code: "12".into(),
                    discipline: 99,
                    graduation_date: Some(Date {
                        year: 2023,
                        month: 2,
                        day: 30,
                    }),
                    ..Default::default()
                }],
                professional_title_level: 17,
                desired_industries: vec!["Z".into()],
                ..resume("bad-2", ID_1, true)
            },
        ],
    )
    .await;
    let outcomes: Vec<_> = results.iter().map(|r| r.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            pb::UpsertOutcome::Rejected,
            pb::UpsertOutcome::Created,
            pb::UpsertOutcome::Rejected
        ]
    );
    assert_eq!(
        item_error!(results[0]).1,
        [
            "resumes[0].resident_id_number",
            "resumes[0].phone",
            "resumes[0].email"
        ]
    );
    assert_eq!(
        item_error!(results[2]).1,
        [
            "resumes[2].full_name",
            "resumes[2].education[0].degree_level",
            "resumes[2].education[0].university_code",
            "resumes[2].education[0].discipline",
            "resumes[2].education[0].graduation_date",
            "resumes[2].professional_title_level",
            "resumes[2].desired_industries[0]"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn erasure_removes_personal_data_everywhere_and_export_shows_what_is_held() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    push(&app, &a, vec![resume("r-1", ID_1, true)]).await;
    push(
        &app,
        &b,
        vec![resume("rb-1", ID_1, false), resume("rb-2", ID_2, true)],
    )
    .await;

    // Export: a platform sees its own records, the admin all of them.
    let export = |key: String, person: pb::export_person_request::Person| {
        let app = &app;
        async move {
            client(app)
                .await
                .export_person(authed(
                    pb::ExportPersonRequest {
                        person: Some(person),
                    },
                    &key,
                ))
                .await
                .unwrap()
                .into_inner()
        }
    };
    use pb::export_person_request::Person as ExportBy;
    let of_a = export(a.key.clone(), ExportBy::ResidentIdNumber(ID_1.into())).await;
    assert_eq!(of_a.person_key, KEY_1);
    let names: Vec<_> = of_a.resumes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["platforms/a/resumes/r-1"]);
    assert_eq!(of_a.resumes[0].full_name, NAME);
    assert!(of_a.json.contains(&format!("\"person_key\":\"{KEY_1}\"")));
    assert!(of_a.json.contains("\"fullName\":\"王秘密\""));
    assert!(of_a.json.contains("DEGREE_LEVEL_MASTER"));
    let of_all = export(ADMIN_KEY.into(), ExportBy::PersonKey(KEY_1.into())).await;
    let names: Vec<_> = of_all.resumes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["platforms/a/resumes/r-1", "platforms/b/resumes/rb-1"]
    );
    let nobody = export(a.key.clone(), ExportBy::PersonKey("0".repeat(64))).await;
    assert!(nobody.resumes.is_empty());

    // a erases the person: a's count is 1, b's copy is erased too.
    let before = app.outbox().await.len();
    let erased = client(&app)
        .await
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::ResidentIdNumber(
                    ID_1.into(),
                )),
                reason: "ticket 42".into(),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.person_key, KEY_1);
    assert_eq!(erased.erased_resume_count, 1);
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), before + 1);
    match events.last().unwrap() {
        ev::event::Payload::PersonErased(e) => {
            assert_eq!(e.person_key, KEY_1);
            assert_eq!(e.erase_time, erased.erase_time);
        }
        other => panic!("expected PersonErased, got {other:?}"),
    }

    let shell = client(&app)
        .await
        .get_resume(authed(
            pb::GetResumeRequest {
                name: "platforms/b/resumes/rb-1".into(),
            },
            &b.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .resume
        .unwrap();
    assert!(shell.erased);
    assert_eq!(shell.person_key, KEY_1);
    assert!(shell.full_name.is_empty());
    assert!(shell.resident_id_number.is_empty());
    assert!(shell.phone.is_empty());
    assert!(shell.email.is_empty());
    // The other person on b is untouched.
    let kept = client(&app)
        .await
        .get_resume(authed(
            pb::GetResumeRequest {
                name: "platforms/b/resumes/rb-2".into(),
            },
            &b.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .resume
        .unwrap();
    assert_eq!(kept.full_name, NAME);

    // Again: zero, no new event. An erased résumé takes no upsert.
    let again = client(&app)
        .await
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::PersonKey(KEY_1.into())),
                reason: String::new(),
            },
            &b.key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.erased_resume_count, 0);
    assert_eq!(app.outbox().await.len(), before + 1);
    let refused = push(&app, &b, vec![resume("rb-1", ID_1, false)]).await;
    assert_eq!(item_error!(refused[0]).0, Code::FailedPrecondition);

    let after = export(ADMIN_KEY.into(), ExportBy::PersonKey(KEY_1.into())).await;
    assert!(
        after
            .resumes
            .iter()
            .all(|r| r.erased && r.full_name.is_empty())
    );
    assert!(!after.json.contains(NAME));

    let bad = client(&app)
        .await
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::PersonKey("xyz".into())),
                reason: String::new(),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["person_key"]);
    let missing = client(&app)
        .await
        .erase_person(authed(pb::ErasePersonRequest::default(), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing), ["person"]);

    // The admin may erase too; its PersonErased names no platform.
    let by_admin = client(&app)
        .await
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::ResidentIdNumber(
                    ID_2.into(),
                )),
                reason: String::new(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_admin.person_key, KEY_2);
    assert_eq!(by_admin.erased_resume_count, 1);
    let last = app.outbox().await.pop().unwrap().1;
    assert_eq!(last.platform_id, "");
    assert!(matches!(
        last.payload,
        Some(ev::event::Payload::PersonErased(_))
    ));
    let unauthenticated = client(&app)
        .await
        .export_person(pb::ExportPersonRequest {
            person: Some(ExportBy::PersonKey(KEY_2.into())),
        })
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    app.stop().await;
}

/// Messages sent without waiting for answers may be stored together in one
/// transaction; whatever the service groups, the outcomes and the events
/// are those of the same messages sent one at a time, each after the
/// answer to the one before.
#[tokio::test]
async fn messages_in_flight_decide_as_if_sent_one_at_a_time() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let batch = |ids: std::ops::Range<usize>, consent: bool| -> Vec<pb::Resume> {
        ids.map(|i| {
            resume(
                &format!("r-{i}"),
                if i % 3 == 0 { ID_1 } else { ID_2 },
                consent,
            )
        })
        .collect()
    };
    // New, then half of them again with consent withdrawn beside new
    // ones, then the first message twice.
    let messages = vec![
        batch(0..300, true),
        batch(150..450, false),
        batch(0..300, true),
        batch(0..300, true),
    ];

    let before = app.outbox().await.len();
    let mut grouped = client(&app)
        .await
        .upsert_resumes(authed(
            tokio_stream::iter(
                messages
                    .clone()
                    .into_iter()
                    .map(|resumes| pb::UpsertResumesRequest { resumes }),
            ),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut in_flight = Vec::new();
    while let Some(response) = grouped.message().await.unwrap() {
        in_flight.push(response.results);
    }
    let events_in_flight = app.outbox().await.len() - before;

    let before = app.outbox().await.len();
    let mut one_at_a_time = Vec::new();
    for resumes in messages {
        one_at_a_time.push(push(&app, &b, resumes).await);
    }
    let events_one_at_a_time = app.outbox().await.len() - before;

    let outcomes = |answers: &[Vec<pb::ResumeResult>]| -> Vec<Vec<(String, pb::UpsertOutcome)>> {
        answers
            .iter()
            .map(|results| {
                results
                    .iter()
                    .map(|r| (r.external_id.clone(), r.outcome()))
                    .collect()
            })
            .collect()
    };
    assert_eq!(outcomes(&in_flight), outcomes(&one_at_a_time));
    use pb::UpsertOutcome::{Created, Unchanged, Updated};
    let seen: Vec<Vec<pb::UpsertOutcome>> = in_flight
        .iter()
        .map(|results| results.iter().map(|r| r.outcome()).collect())
        .collect();
    assert_eq!(
        seen,
        [
            vec![Created; 300],
            [vec![Updated; 150], vec![Created; 150]].concat(),
            [vec![Unchanged; 150], vec![Updated; 150]].concat(),
            vec![Unchanged; 300],
        ]
    );
    assert!(events_in_flight > 0);
    assert_eq!(events_in_flight, events_one_at_a_time);
    app.stop().await;
}
