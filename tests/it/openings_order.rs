//! Openings do not depend on push order: the three "Welder"
//! postings (B overlaps A and C, A and C do not overlap) are one opening of
//! four positions in every order, through the public API and the figures
//! metrics serves after the relay; and a change that breaks the bridge
//! splits them again.

use crate::support;

use support::{
    TestApp,
    metrics::{self as m, Metrics},
    recruiting::{TestPlatform, credit_code, employer, posting},
};
use talent_proto::talent::{metrics::v1 as mpb, recruiting::v1 as rpb};

/// (platform index, external id, publish day in January 2020, headcount).
const WELDERS: [(usize, &str, i32, i32); 3] = [(0, "A", 1, 2), (1, "B", 20, 3), (0, "C", 36, 4)];

fn welder(code: &str, (_, id, day, headcount): (usize, &str, i32, i32)) -> rpb::Posting {
    // Day 36 of January is 5 February.
    let publish = m::at(if day > 31 {
        m::date(2020, 2, day - 31)
    } else {
        m::date(2020, 1, day)
    });
    let mut p = posting(id, "Welder", code);
    p.workplace_district = "370212".to_owned();
    p.headcount = headcount;
    p.expire_time = Some(prost_types::Timestamp {
        seconds: publish.seconds + 30 * 86_400,
        nanos: 0,
    });
    p.publish_time = Some(publish);
    p
}

async fn setup(app: &TestApp) -> ([TestPlatform; 2], String) {
    let platforms = [
        app.create_platform("a").await,
        app.create_platform("b").await,
    ];
    let code = credit_code("91370212MA3C00071");
    app.push_employers(
        &platforms[0],
        vec![employer(&code, "Welding Co", "370212", "C")],
    )
    .await;
    (platforms, code)
}

/// (openings, headcount demanded, postings) of 2020 as metrics serves them.
async fn figures(app: &TestApp) -> (i64, i64, i64) {
    app.relay_drained().await;
    let metrics = Metrics::connect(app).await;
    let total = metrics
        .activity(mpb::GetRecruitmentActivityRequest {
            period: m::period(m::date(2020, 1, 1), m::date(2021, 1, 1)),
            ..Default::default()
        })
        .await
        .total
        .expect("a total row");
    (
        m::value(&total.openings),
        m::value(&total.headcount_demanded),
        m::value(&total.postings),
    )
}

async fn openings(app: &TestApp, platforms: &[TestPlatform; 2]) -> Vec<String> {
    let mut out = Vec::new();
    for (platform, id, _, _) in WELDERS {
        out.push(app.get_posting(&platforms[platform], id).await.opening_id);
    }
    out
}

#[tokio::test]
async fn three_welders_are_one_opening_of_four_positions_in_every_push_order() {
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let app = TestApp::spawn_with_relay().await;
        let (platforms, code) = setup(&app).await;
        for i in order {
            let item = WELDERS[i];
            let results = app
                .push_postings(&platforms[item.0], vec![welder(&code, item)])
                .await;
            assert!(results[0].error.is_none(), "{order:?}: {results:?}");
        }
        let ids = openings(&app, &platforms).await;
        assert!(ids.iter().all(|id| id == &ids[0]), "{order:?}: {ids:?}");
        assert_eq!(figures(&app).await, (1, 4, 3), "{order:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn shortening_the_bridge_splits_the_opening_and_the_figures_follow() {
    let app = TestApp::spawn_with_relay().await;
    let (platforms, code) = setup(&app).await;
    // C first, then the bridge, then A.
    for i in [2, 1, 0] {
        let item = WELDERS[i];
        app.push_postings(&platforms[item.0], vec![welder(&code, item)])
            .await;
    }
    assert_eq!(figures(&app).await, (1, 4, 3));
    // B now expires on 25 January: it still overlaps A (to 31 January),
    // not C.
    let mut shorter = welder(&code, WELDERS[1]);
    shorter.expire_time = Some(m::at(m::date(2020, 1, 25)));
    let results = app.push_postings(&platforms[1], vec![shorter]).await;
    assert!(results[0].error.is_none(), "{results:?}");
    let ids = openings(&app, &platforms).await;
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    // A and B: max(2, 3); C: 4.
    assert_eq!(figures(&app).await, (2, 7, 3));
    app.stop().await;
}

/// Runs `sql` on the recruiting database, raw.
async fn execute(app: &TestApp, sql: &'static str) {
    match app.backend {
        talent_server::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        talent_server::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

#[tokio::test]
async fn a_database_written_by_the_old_rule_is_regrouped_at_start() {
    let mut app = TestApp::spawn_with_relay().await;
    let (platforms, code) = setup(&app).await;
    for i in [2, 0, 1] {
        let item = WELDERS[i];
        app.push_postings(&platforms[item.0], vec![welder(&code, item)])
            .await;
    }
    let derived = openings(&app, &platforms).await;
    // What the old rule left when C came first: C in an opening of its
    // own, A and B in another, with random ids; and every match key
    // queued, as the migration that brought the current rule does.
    execute(
        &app,
        "UPDATE postings SET opening_id = CASE external_id \
         WHEN 'C' THEN '00000000-0000-4000-8000-00000000000c' \
         ELSE '00000000-0000-4000-8000-00000000000a' END",
    )
    .await;
    execute(
        &app,
        "INSERT INTO openings_to_regroup (employer_code, title_key, district) \
         SELECT DISTINCT employer_code, title_key, district FROM postings",
    )
    .await;
    app.restart_recruiting().await;
    assert_eq!(openings(&app, &platforms).await, derived);
    assert_eq!(figures(&app).await, (1, 4, 3));
    app.stop().await;
}
