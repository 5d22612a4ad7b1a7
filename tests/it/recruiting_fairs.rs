//! FairService: fairs, participations (explicit and through postings), and
//! their events.

use crate::support;

use support::{
    TestApp,
    recruiting::{DAY, authed, credit_code, employer, error_reason, posting, ts, violated_fields},
};
use talent_proto::talent::{events::v1 as ev, recruiting::v1 as pb, r#type::v1 as types};
use tonic::{Code, transport::Channel};

type Client = pb::fair_service_client::FairServiceClient<Channel>;

async fn client(app: &TestApp) -> Client {
    pb::fair_service_client::FairServiceClient::new(app.recruiting_channel().await)
}

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn fair(name: &str, start: i64) -> pb::Fair {
    pb::Fair {
        display_name: name.to_owned(),
        start_time: Some(ts(start)),
        end_time: Some(ts(start + 2 * DAY)),
        ..Default::default()
    }
}

fn create(fair_id: &str, fair: pb::Fair, request_id: &str) -> pb::CreateFairRequest {
    pb::CreateFairRequest {
        parent: String::new(),
        fair: Some(fair),
        fair_id: fair_id.to_owned(),
        request_id: request_id.to_owned(),
    }
}

#[tokio::test]
async fn fairs_are_created_idempotently_and_emit_fair_held() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let mut fairs = client(&app).await;
    let request_id = "0b5b2c0e-3b0c-4b8e-8f5e-1d2f3a4b5c6d";

    let created = fairs
        .create_fair(authed(
            create("spring", fair("春季招聘会", START), request_id),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .fair
        .unwrap();
    assert_eq!(created.name, "platforms/a/fairs/spring");
    assert_eq!(created.format(), types::FairFormat::Online);
    assert_eq!(created.organiser_platform_id, "a");
    assert_eq!(created.participation_count, 0);
    let replay = fairs
        .create_fair(authed(
            create("spring", fair("春季招聘会", START), request_id),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .fair
        .unwrap();
    assert_eq!(replay, created);
    let reused = fairs
        .create_fair(authed(
            create("autumn", fair("秋季", START), request_id),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));
    let taken = fairs
        .create_fair(authed(create("spring", fair("again", START), ""), &a.key))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    // Ids are per platform.
    fairs
        .create_fair(authed(create("spring", fair("b's", START), ""), &b.key))
        .await
        .unwrap();
    // A server-assigned id.
    let assigned = fairs
        .create_fair(authed(create("", fair("no id", START + DAY), ""), &a.key))
        .await
        .unwrap()
        .into_inner()
        .fair
        .unwrap();
    assert_eq!(assigned.fair_id.len(), 36);

    let events = app.outbox().await;
    assert_eq!(events.len(), 3);
    let ev::event::Payload::FairHeld(held) = events[0].1.payload.clone().unwrap() else {
        panic!("expected FairHeld");
    };
    assert_eq!(held.fair, "platforms/a/fairs/spring");
    assert_eq!(held.organiser_platform_id, "a");
    assert_eq!(held.format(), types::FairFormat::Online);
    assert_eq!(held.start_time, Some(ts(START)));
    assert_eq!(held.end_time, Some(ts(START + 2 * DAY)));

    let invalid = fairs
        .create_fair(authed(
            create(
                "bad id",
                pb::Fair {
                    format: 9,
                    end_time: Some(ts(START - DAY)),
                    district: "12".into(),
                    ..fair("", START)
                },
                "nope",
            ),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&invalid),
        [
            "fair.display_name",
            "fair.format",
            "fair.end_time",
            "fair.district",
            "fair_id",
            "request_id"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn participations_are_registered_once_explicitly_or_by_posting() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C30001");
    let e2 = credit_code("91370200MA3C30002");
    app.push_employers(
        &a,
        vec![
            employer(&e1, "One", "370212", "C39"),
            employer(&e2, "Two", "370203", "I"),
        ],
    )
    .await;
    let mut fairs = client(&app).await;
    fairs
        .create_fair(authed(create("f1", fair("Fair", START), ""), &a.key))
        .await
        .unwrap();
    let register = |parent: &str, code: &str| pb::RegisterParticipationRequest {
        parent: parent.to_owned(),
        participation: Some(pb::Participation {
            employer_credit_code: code.to_owned(),
            ..Default::default()
        }),
    };

    let first = fairs
        .register_participation(authed(register("platforms/a/fairs/f1", &e1), &a.key))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    let participation = first.participation.unwrap();
    assert_eq!(
        participation.name,
        format!("platforms/a/fairs/f1/participations/{e1}")
    );
    let again = fairs
        .register_participation(authed(register("platforms/a/fairs/f1", &e1), &a.key))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.participation.unwrap(), participation);

    let hidden = fairs
        .register_participation(authed(register("platforms/a/fairs/f1", &e1), &b.key))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let unknown = fairs
        .register_participation(authed(
            register("platforms/a/fairs/f1", &credit_code("91370200MA3C39999")),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&unknown),
        ["participation.employer_credit_code"]
    );

    // A posting in the fair registers its employer (once).
    let in_fair = pb::Posting {
        fair: "platforms/a/fairs/f1".into(),
        ..posting("p-1", "Job", &e2)
    };
    let results = app
        .push_postings(
            &a,
            vec![
                in_fair.clone(),
                pb::Posting {
                    external_id: "p-2".into(),
                    ..in_fair
                },
            ],
        )
        .await;
    assert!(results.iter().all(|r| r.error.is_none()));
    let got = fairs
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
    assert_eq!(got.participation_count, 2);
    assert_eq!(
        app.get_posting(&a, "p-1").await.fair,
        "platforms/a/fairs/f1"
    );
    app.push_postings(&a, vec![posting("p-3", "Not in a fair", &e2)])
        .await;
    let mut postings =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await);
    let in_f1: Vec<String> = postings
        .list_postings(authed(
            pb::ListPostingsRequest {
                fair: "platforms/a/fairs/f1".into(),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .postings
        .into_iter()
        .map(|p| p.external_id)
        .collect();
    assert_eq!(in_f1, ["p-1", "p-2"]);

    let participations: Vec<ev::FairParticipation> = app
        .outbox_payloads()
        .await
        .into_iter()
        .filter_map(|p| match p {
            ev::event::Payload::FairParticipation(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(participations.len(), 2);
    assert_eq!(participations[0].employer_credit_code, e1);
    assert_eq!(participations[0].employer_district, "370212");
    assert_eq!(participations[0].employer_industry, "C39");
    assert_eq!(participations[0].fair_start_time, Some(ts(START)));
    assert_eq!(participations[1].employer_credit_code, e2);
    assert_eq!(participations[1].fair, "platforms/a/fairs/f1");
    app.stop().await;
}

#[tokio::test]
async fn fairs_are_listed_by_start_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let mut fairs = client(&app).await;
    for (id, offset) in [("c", 2), ("a", 0), ("b", 1), ("d", 3)] {
        fairs
            .create_fair(authed(
                create(id, fair(id, START + offset * DAY), ""),
                &a.key,
            ))
            .await
            .unwrap();
    }
    fairs
        .create_fair(authed(create("x", fair("x", START), ""), &b.key))
        .await
        .unwrap();
    let list = |page_token: String, from: Option<i64>, before: Option<i64>| pb::ListFairsRequest {
        parent: String::new(),
        page_size: 3,
        page_token,
        start_time_from: from.map(ts),
        start_time_before: before.map(ts),
    };
    let first = fairs
        .list_fairs(authed(list(String::new(), None, None), &a.key))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = first.fairs.iter().map(|f| f.fair_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let second = fairs
        .list_fairs(authed(
            list(first.next_page_token.clone(), None, None),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = second.fairs.iter().map(|f| f.fair_id.as_str()).collect();
    assert_eq!(ids, ["d"]);
    assert!(second.next_page_token.is_empty());
    let window = fairs
        .list_fairs(authed(
            list(String::new(), Some(START + DAY), Some(START + 3 * DAY)),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = window.fairs.iter().map(|f| f.fair_id.as_str()).collect();
    assert_eq!(ids, ["b", "c"]);
    let changed = fairs
        .list_fairs(authed(
            list(first.next_page_token, Some(START), None),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);
    let hidden = fairs
        .get_fair(authed(
            pb::GetFairRequest {
                name: "platforms/b/fairs/x".into(),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    app.stop().await;
}
