//! The unary batch methods of applications, separations, fairs and
//! participations: one result per item in request order, each item checked
//! and stored as its single call would, a failed item reported in place
//! (field paths from the request root) without stopping the others.

use crate::{
    recruiting_applications::{create, move_to, setup},
    support,
};

use support::{
    TestApp,
    recruiting::{authed, credit_code, employer, item_error, ts, violated_fields},
};
use talent_proto::{google::r#type::Date, talent::recruiting::v1 as pb};
use tonic::Code;

fn name(id: &str) -> String {
    format!("platforms/a/applications/{id}")
}

#[tokio::test]
async fn applications_are_created_and_moved_in_batches_with_results_in_place() {
    let app = TestApp::spawn().await;
    let (a, _b, _) = setup(&app).await;
    let mut client = pb::application_service_client::ApplicationServiceClient::new(
        app.recruiting_channel().await,
    );
    let before = app.outbox().await.len();

    let created = client
        .batch_create_applications(authed(
            pb::BatchCreateApplicationsRequest {
                parent: String::new(),
                requests: vec![
                    create("job", "app-1", ""),
                    // Malformed (found by the API).
                    create("job", "bad id!", ""),
                    // No such posting (found by the store).
                    create("nope", "app-3", ""),
                    create("job", "app-4", ""),
                    // Taken by item 0 of this request.
                    create("job", "app-1", ""),
                    // Another platform's posting.
                    pb::CreateApplicationRequest {
                        application: Some(pb::Application {
                            resume: "platforms/a/resumes/cv".into(),
                            posting: "platforms/b/postings/job".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ],
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(created.len(), 6);
    for (i, result) in created.iter().enumerate() {
        assert_eq!(result.index, i as i32);
    }
    assert_eq!(created[0].application.as_ref().unwrap().name, name("app-1"));
    assert_eq!(created[3].application.as_ref().unwrap().name, name("app-4"));
    assert_eq!(
        item_error!(created[1]),
        (
            Code::InvalidArgument,
            vec!["requests[1].application_id".to_string()]
        )
    );
    assert_eq!(
        item_error!(created[2]).1,
        ["requests[2].application.posting"]
    );
    assert_eq!(item_error!(created[4]).0, Code::AlreadyExists);
    assert_eq!(item_error!(created[5]).0, Code::NotFound);
    // One ApplicationSubmitted per created application.
    assert_eq!(app.outbox().await.len(), before + 2);

    // Moves in request order: a later move of the same application sees
    // the earlier one; an illegal move fails alone.
    let moved = client
        .batch_update_application_status(authed(
            pb::BatchUpdateApplicationStatusRequest {
                requests: vec![
                    move_to(&name("app-1"), pb::ApplicationState::Screening),
                    move_to(&name("app-1"), pb::ApplicationState::Interview),
                    // Skipping forward.
                    move_to(&name("app-4"), pb::ApplicationState::Offered),
                    move_to(&name("app-1"), pb::ApplicationState::Offered),
                    move_to(&name("app-1"), pb::ApplicationState::Hired),
                    move_to(&name("missing"), pb::ApplicationState::Screening),
                    pb::UpdateApplicationStatusRequest {
                        state: 99,
                        ..move_to(&name("app-4"), pb::ApplicationState::Screening)
                    },
                ],
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(moved.len(), 7);
    let hired = moved[4].application.clone().expect("move 4 applied");
    assert_eq!(hired.state(), pb::ApplicationState::Hired);
    assert_eq!(hired.history.len(), 5);
    assert!(!hired.employment.is_empty());
    assert_eq!(item_error!(moved[2]).0, Code::FailedPrecondition);
    assert_eq!(item_error!(moved[5]).0, Code::NotFound);
    assert_eq!(item_error!(moved[6]).1, ["requests[6].state"]);
    let app4 = client
        .get_application(authed(
            pb::GetApplicationRequest {
                name: name("app-4"),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(app4.state(), pb::ApplicationState::Submitted);

    // Separations of the employment, in order.
    let mut employments =
        pb::employment_service_client::EmploymentServiceClient::new(app.recruiting_channel().await);
    let end = |day| Date {
        year: 2025,
        month: 12,
        day,
    };
    let separated = employments
        .batch_record_separations(authed(
            pb::BatchRecordSeparationsRequest {
                requests: vec![
                    pb::RecordSeparationRequest {
                        name: hired.employment.clone(),
                        end_date: Some(end(1)),
                    },
                    pb::RecordSeparationRequest {
                        name: "platforms/a/employments/missing".into(),
                        end_date: Some(end(1)),
                    },
                    pb::RecordSeparationRequest {
                        name: hired.employment.clone(),
                        end_date: None,
                    },
                    pb::RecordSeparationRequest {
                        name: hired.employment.clone(),
                        end_date: Some(end(15)),
                    },
                ],
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(separated.len(), 4);
    assert_eq!(
        separated[0].employment.as_ref().unwrap().end_date,
        Some(end(1))
    );
    assert_eq!(item_error!(separated[1]).0, Code::NotFound);
    assert_eq!(item_error!(separated[2]).1, ["requests[2].end_date"]);
    assert_eq!(
        separated[3].employment.as_ref().unwrap().end_date,
        Some(end(15))
    );

    // An empty batch is refused as a whole.
    let empty = employments
        .batch_record_separations(authed(
            pb::BatchRecordSeparationsRequest { requests: vec![] },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["requests"]);
}

#[tokio::test]
async fn fairs_and_participations_are_registered_in_batches() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let e1 = credit_code("91370200MA3C60001");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;
    let mut client =
        pb::fair_service_client::FairServiceClient::new(app.recruiting_channel().await);
    let fair = |id: &str, start: i64, end: i64| pb::CreateFairRequest {
        fair: Some(pb::Fair {
            display_name: format!("Fair {id}"),
            start_time: Some(ts(start)),
            end_time: Some(ts(end)),
            ..Default::default()
        }),
        fair_id: id.to_owned(),
        ..Default::default()
    };
    let start = 1_750_000_000;
    let fairs = client
        .batch_create_fairs(authed(
            pb::BatchCreateFairsRequest {
                parent: String::new(),
                requests: vec![
                    fair("f1", start, start + 3600),
                    fair("f2", start, start - 1),
                    fair("f1", start, start + 7200),
                    fair("f3", start, start + 3600),
                ],
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(fairs.len(), 4);
    assert_eq!(fairs[0].fair.as_ref().unwrap().name, "platforms/a/fairs/f1");
    assert_eq!(item_error!(fairs[1]).1, ["requests[1].fair.end_time"]);
    assert_eq!(item_error!(fairs[2]).0, Code::AlreadyExists);
    assert!(fairs[3].fair.is_some());

    let participation = |fair: &str, code: &str| pb::RegisterParticipationRequest {
        parent: format!("platforms/a/fairs/{fair}"),
        participation: Some(pb::Participation {
            employer_credit_code: code.to_owned(),
            ..Default::default()
        }),
    };
    let unknown = credit_code("91370200MA3C69999");
    let registered = client
        .batch_register_participations(authed(
            pb::BatchRegisterParticipationsRequest {
                requests: vec![
                    participation("f1", &e1),
                    participation("f1", &e1),
                    participation("f3", &e1),
                    participation("f1", &unknown),
                    participation("f9", &e1),
                ],
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(registered.len(), 5);
    assert!(registered[0].created);
    assert!(!registered[1].created);
    assert_eq!(
        registered[0].participation.as_ref().unwrap().name,
        format!("platforms/a/fairs/f1/participations/{e1}")
    );
    assert!(registered[2].created);
    assert_eq!(
        item_error!(registered[3]).1,
        ["requests[3].participation.employer_credit_code"]
    );
    assert_eq!(item_error!(registered[4]).0, Code::NotFound);
    let f1 = client
        .get_fair(authed(
            pb::GetFairRequest {
                name: "platforms/a/fairs/f1".into(),
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .fair
        .unwrap();
    assert_eq!(f1.participation_count, 1);
}
