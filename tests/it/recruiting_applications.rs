//! ApplicationService: creation (idempotent), the state machine with every
//! illegal move, hiring through an application, listing and isolation.

use crate::support;

use support::{
    TestApp,
    recruiting::{
        DAY, TestPlatform, authed, credit_code, employer, error_reason, now_secs, posting, ts,
        violated_fields,
    },
};
use talent_proto::{
    google::r#type::Date,
    talent::{events::v1 as ev, recruiting::v1 as pb},
};
use tonic::{Code, transport::Channel};

type Client = pb::application_service_client::ApplicationServiceClient<Channel>;

const ID_1: &str = "37020219980315108X";
const KEY_1: &str = "65d2a451df2b639b2af26c9556da5a2f811f90b408452090cd201083ace41169";

async fn push_resume(app: &TestApp, p: &TestPlatform, external_id: &str) {
    let mut client =
        pb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await);
    let resume = pb::Resume {
        external_id: external_id.to_owned(),
        resident_id_number: ID_1.to_owned(),
        full_name: "求职者".to_owned(),
        ..Default::default()
    };
    let mut responses = client
        .upsert_resumes(authed(
            tokio_stream::iter([pb::UpsertResumesRequest {
                resumes: vec![resume],
            }]),
            &p.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let results = responses.message().await.unwrap().unwrap().results;
    assert!(results[0].error.is_none(), "{results:?}");
}

/// Platforms a and b, an employer, a's open posting "job" (workplace
/// 370203 / C38) and a's résumé "cv".
pub(crate) async fn setup(app: &TestApp) -> (TestPlatform, TestPlatform, String) {
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C50001");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;
    let results = app
        .push_postings(
            &a,
            vec![
                pb::Posting {
                    publish_time: Some(ts(now_secs() - DAY)),
                    workplace_district: "370203".into(),
                    industry: "C38".into(),
                    ..posting("job", "Welder", &e1)
                },
                posting("closed", "Cook", &e1),
            ],
        )
        .await;
    assert!(results.iter().all(|r| r.error.is_none()));
    push_resume(app, &a, "cv").await;
    (a, b, results[0].opening_id.clone())
}

pub(crate) fn create(
    posting: &str,
    application_id: &str,
    request_id: &str,
) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        parent: String::new(),
        application: Some(pb::Application {
            resume: "platforms/a/resumes/cv".into(),
            posting: format!("platforms/a/postings/{posting}"),
            ..Default::default()
        }),
        application_id: application_id.to_owned(),
        request_id: request_id.to_owned(),
    }
}

pub(crate) fn move_to(
    name: &str,
    state: pb::ApplicationState,
) -> pb::UpdateApplicationStatusRequest {
    pb::UpdateApplicationStatusRequest {
        name: name.to_owned(),
        state: state as i32,
        hire: Some(pb::HireDetails {
            start_date: Some(Date {
                year: 2025,
                month: 9,
                day: 1,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn applications_are_created_once_and_emit_application_submitted() {
    let app = TestApp::spawn().await;
    let (a, b, opening) = setup(&app).await;
    let mut client: Client = pb::application_service_client::ApplicationServiceClient::new(
        app.recruiting_channel().await,
    );
    let before = app.outbox().await.len();
    let request_id = "3c0f3b7e-6a1d-4f42-9b2e-5d8c7a6b5e4f";

    let created = client
        .create_application(authed(create("job", "app-1", request_id), &a.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(created.name, "platforms/a/applications/app-1");
    assert_eq!(created.state(), pb::ApplicationState::Submitted);
    assert_eq!(created.history.len(), 1);
    assert_eq!(
        created.history[0].from_state(),
        pb::ApplicationState::Unspecified
    );
    assert_eq!(
        created.history[0].to_state(),
        pb::ApplicationState::Submitted
    );
    let replay = client
        .create_application(authed(create("job", "app-1", request_id), &a.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(replay, created);
    let reused = client
        .create_application(authed(create("closed", "app-1", request_id), &a.key))
        .await
        .unwrap_err();
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));
    let taken = client
        .create_application(authed(create("job", "app-1", ""), &a.key))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);

    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), before + 1);
    let ev::event::Payload::ApplicationSubmitted(submitted) = &events[before] else {
        panic!("expected ApplicationSubmitted, got {:?}", events[before]);
    };
    assert_eq!(submitted.application, "platforms/a/applications/app-1");
    assert_eq!(submitted.resume, "platforms/a/resumes/cv");
    assert_eq!(submitted.posting, "platforms/a/postings/job");
    assert_eq!(submitted.opening_id, opening);
    assert_eq!(submitted.workplace_district, "370203");
    assert_eq!(submitted.industry, "C38");
    assert_eq!(submitted.submit_time, created.submit_time);

    // Rejections.
    let mut posting_client =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await);
    posting_client
        .close_posting(authed(
            pb::ClosePostingRequest {
                name: a.posting_name("closed"),
                close_time: None,
            },
            &a.key,
        ))
        .await
        .unwrap();
    let closed = client
        .create_application(authed(create("closed", "", ""), &a.key))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);
    let before_publish = client
        .create_application(authed(
            pb::CreateApplicationRequest {
                application: Some(pb::Application {
                    resume: "platforms/a/resumes/cv".into(),
                    posting: a.posting_name("job"),
                    submit_time: Some(ts(now_secs() - 3 * DAY)),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(before_publish.code(), Code::FailedPrecondition);
    let missing = client
        .create_application(authed(create("nope", "", ""), &a.key))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing), ["application.posting"]);
    let other = client
        .create_application(authed(create("job", "", ""), &b.key))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
    let hidden = client
        .get_application(authed(
            pb::GetApplicationRequest {
                name: created.name.clone(),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(app.outbox().await.len(), before + 2, "+ PostingClosed only");
    app.stop().await;
}

#[tokio::test]
async fn every_illegal_move_is_failed_precondition() {
    use pb::ApplicationState as S;
    let app = TestApp::spawn().await;
    let (a, _, _) = setup(&app).await;
    let mut client: Client = pb::application_service_client::ApplicationServiceClient::new(
        app.recruiting_channel().await,
    );
    let all = [
        S::Submitted,
        S::Screening,
        S::Interview,
        S::Offered,
        S::Hired,
        S::Rejected,
        S::Withdrawn,
    ];
    // The moves the state machine allows, written out.
    let legal = |from: S, to: S| {
        matches!(
            (from, to),
            (S::Submitted, S::Screening)
                | (S::Screening, S::Interview)
                | (S::Interview, S::Offered)
                | (S::Offered, S::Hired)
                | (
                    S::Submitted | S::Screening | S::Interview | S::Offered,
                    S::Rejected | S::Withdrawn
                )
        )
    };
    // The path to each state.
    let path = |state: S| -> Vec<S> {
        match state {
            S::Submitted => vec![],
            S::Screening => vec![S::Screening],
            S::Interview => vec![S::Screening, S::Interview],
            S::Offered => vec![S::Screening, S::Interview, S::Offered],
            S::Hired => vec![S::Screening, S::Interview, S::Offered, S::Hired],
            S::Rejected => vec![S::Rejected],
            S::Withdrawn => vec![S::Screening, S::Withdrawn],
            S::Unspecified => unreachable!(),
        }
    };
    for (i, from) in all.iter().enumerate() {
        let name = client
            .create_application(authed(create("job", &format!("app-{i}"), ""), &a.key))
            .await
            .unwrap()
            .into_inner()
            .application
            .unwrap()
            .name;
        for step in path(*from) {
            let moved = client
                .update_application_status(authed(move_to(&name, step), &a.key))
                .await
                .unwrap()
                .into_inner()
                .application
                .unwrap();
            assert_eq!(moved.state(), step);
        }
        for to in all {
            if legal(*from, to) {
                continue;
            }
            let status = client
                .update_application_status(authed(move_to(&name, to), &a.key))
                .await
                .unwrap_err();
            assert_eq!(
                status.code(),
                Code::FailedPrecondition,
                "{from:?} -> {to:?}: {status:?}"
            );
        }
        let got = client
            .get_application(authed(pb::GetApplicationRequest { name }, &a.key))
            .await
            .unwrap()
            .into_inner()
            .application
            .unwrap();
        assert_eq!(got.state(), *from);
        assert_eq!(got.history.len(), path(*from).len() + 1);
    }
    let bad = client
        .update_application_status(authed(
            pb::UpdateApplicationStatusRequest {
                name: "platforms/a/applications/app-0".into(),
                state: 0,
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["state"]);

    // Filters.
    let listed = client
        .list_applications(authed(
            pb::ListApplicationsRequest {
                state: S::Rejected as i32,
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .applications;
    let names: Vec<_> = listed.iter().map(|a| a.application_id.as_str()).collect();
    assert_eq!(names, ["app-5"]);
    let all_listed = client
        .list_applications(authed(
            pb::ListApplicationsRequest {
                posting: a.posting_name("job"),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(all_listed.len(), 7);
    app.stop().await;
}

#[tokio::test]
async fn hiring_through_an_application_records_the_employment() {
    use pb::ApplicationState as S;
    let app = TestApp::spawn().await;
    let (a, _, opening) = setup(&app).await;
    let mut client: Client = pb::application_service_client::ApplicationServiceClient::new(
        app.recruiting_channel().await,
    );
    let name = client
        .create_application(authed(create("job", "hire-me", ""), &a.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap()
        .name;
    for step in [S::Screening, S::Interview, S::Offered] {
        client
            .update_application_status(authed(
                pb::UpdateApplicationStatusRequest {
                    reason: "ok".into(),
                    ..move_to(&name, step)
                },
                &a.key,
            ))
            .await
            .unwrap();
    }
    let no_hire = client
        .update_application_status(authed(
            pb::UpdateApplicationStatusRequest {
                hire: None,
                ..move_to(&name, S::Hired)
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_hire), ["hire"]);
    let too_early = client
        .update_application_status(authed(
            pb::UpdateApplicationStatusRequest {
                transition_time: Some(ts(now_secs() - 2 * DAY)),
                ..move_to(&name, S::Hired)
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_early), ["transition_time"]);
    let before = app.outbox().await.len();
    let hired = client
        .update_application_status(authed(move_to(&name, S::Hired), &a.key))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(hired.state(), S::Hired);
    assert!(hired.employment.starts_with("platforms/a/employments/"));
    let reasons: Vec<_> = hired.history.iter().map(|t| t.reason.as_str()).collect();
    assert_eq!(reasons, ["", "ok", "ok", "ok", ""]);

    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), before + 1);
    let ev::event::Payload::Hired(h) = &events[before] else {
        panic!("expected Hired, got {:?}", events[before]);
    };
    assert_eq!(h.employment, hired.employment);
    assert_eq!(h.person_key, KEY_1);
    assert_eq!(h.workplace_district, "370203");
    assert_eq!(h.industry, "C38");
    assert_eq!(h.opening_id, opening);
    assert_eq!(h.application, name);
    assert_eq!(h.posting, "platforms/a/postings/job");
    assert_eq!(
        h.start_date,
        Some(Date {
            year: 2025,
            month: 9,
            day: 1
        })
    );

    // The person's export holds the application and the employment.
    let mut resumes =
        pb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await);
    let export = resumes
        .export_person(authed(
            pb::ExportPersonRequest {
                person: Some(pb::export_person_request::Person::PersonKey(KEY_1.into())),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.resumes.len(), 1);
    assert_eq!(export.applications.len(), 1);
    assert_eq!(export.applications[0].name, name);
    assert_eq!(export.employments.len(), 1);
    assert_eq!(export.employments[0].name, hired.employment);
    assert!(export.json.contains("APPLICATION_STATE_HIRED"));
    assert!(export.json.contains(&hired.employment));
    app.stop().await;
}
