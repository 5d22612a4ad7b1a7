//! Storage faults as the client sees them: each becomes `UNAVAILABLE`
//! (never `INTERNAL`), health follows the database, and the service
//! recovers by itself once the fault is gone.

use std::time::{Duration, Instant};

use talent_proto::talent::recruiting::v1 as pb;
use talent_server::Backend;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use crate::support::{
    Options, TestApp,
    metrics::{self as m, Metrics},
    recruiting::{TestPlatform, authed, credit_code, employer, posting, ts},
    sample,
};

const POSTING_SERVICE: &str = "talent.recruiting.v1.PostingService";

/// A platform with one employer, ready for postings.
async fn platform_with_employer(app: &TestApp) -> (TestPlatform, String) {
    let platform = app.create_platform("p1").await;
    let code = credit_code("91110000MA01ABCD0");
    let results = app
        .push_employers(&platform, vec![employer(&code, "Acme", "110101", "I")])
        .await;
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    (platform, code)
}

/// `count` postings with long descriptions, so that storing them needs
/// new pages.
fn postings(prefix: &str, count: usize, code: &str) -> Vec<pb::Posting> {
    (0..count)
        .map(|i| {
            let mut p = posting(&format!("{prefix}-{i}"), "Welder", code);
            p.description = format!("{prefix} {i} ").repeat(200);
            p
        })
        .collect()
}

async fn try_push(
    app: &TestApp,
    platform: &TestPlatform,
    postings: Vec<pb::Posting>,
) -> Result<Vec<pb::PostingResult>, tonic::Status> {
    app.recruiting()
        .await
        .postings
        .batch_upsert_postings(authed(
            pb::BatchUpsertPostingsRequest { postings },
            &platform.key,
        ))
        .await
        .map(|r| r.into_inner().results)
}

/// The SQLite URL of a service's database without the test's parameters.
fn plain_sqlite_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

async fn health_of(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.recruiting_channel().await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status()
}

/// Waits (bounded) until the recruiting service's health of `service`
/// reports `want`, through a Watch stream.
async fn until_health(app: &TestApp, service: &str, want: ServingStatus) {
    let mut watch = HealthClient::new(app.recruiting_channel().await)
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(update) = watch.next().await {
            if update.expect("a health update").status() == want {
                return;
            }
        }
        panic!("the health stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("{service} never became {want:?}"));
}

#[tokio::test]
async fn a_full_disk_is_unavailable_and_writes_resume_once_space_is_free() {
    let app = TestApp::spawn_with(Options {
        recruiting_sqlite_params: Some("pragma.max_page_count=2000".into()),
        ..Default::default()
    })
    .await;
    if app.backend != Backend::Sqlite {
        return; // The cap is SQLite's; PostgreSQL's disk is the server's.
    }
    let (platform, code) = platform_with_employer(&app).await;
    try_push(&app, &platform, postings("before", 5, &code))
        .await
        .expect("a write before the disk is full");

    // Another process fills the file to its cap.
    let url = plain_sqlite_url(app.recruiting_database_url()).to_owned();
    let ballast = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE ballast (b BLOB)")
        .execute(&ballast)
        .await
        .unwrap();
    loop {
        let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
            .fetch_one(&ballast)
            .await
            .unwrap();
        if pages >= 2000 {
            break;
        }
        sqlx::query("INSERT INTO ballast VALUES (zeroblob(500000))")
            .execute(&ballast)
            .await
            .unwrap();
    }

    // Every connection of the pool meets the full disk at least once.
    for round in 0..8 {
        let status = try_push(
            &app,
            &platform,
            postings(&format!("full{round}"), 50, &code),
        )
        .await
        .expect_err("no write fits on a full disk");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let retry = status.get_details_retry_info().expect("a retry delay");
        assert!(retry.retry_delay.is_some());
    }

    // Space is freed: the very next writes succeed, on every connection.
    sqlx::query("DROP TABLE ballast")
        .execute(&ballast)
        .await
        .unwrap();
    ballast.close().await;
    for round in 0..8 {
        try_push(
            &app,
            &platform,
            postings(&format!("after{round}"), 5, &code),
        )
        .await
        .expect("writes succeed once the disk has space");
    }
    let got = app.get_posting(&platform, "after7-4").await;
    assert_eq!(got.title, "Welder");
    assert_eq!(
        health_of(&app, POSTING_SERVICE).await,
        ServingStatus::Serving
    );
    app.stop().await;
}

#[tokio::test]
async fn a_corrupt_sqlite_file_is_unavailable_and_not_serving() {
    let mut app = TestApp::spawn().await;
    if app.backend != Backend::Sqlite {
        return;
    }
    let (platform, code) = platform_with_employer(&app).await;
    try_push(&app, &platform, postings("p", 20, &code))
        .await
        .expect("postings stored");
    app.stop_recruiting().await;

    // Overwrite the root page of the employers table with garbage (not
    // postings, which the service reads at start to check its openings).
    let url = plain_sqlite_url(app.recruiting_database_url()).to_owned();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let (root,): (i64,) =
        sqlx::query_as("SELECT rootpage FROM sqlite_master WHERE name = 'employers'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (page_size,): (i64,) = sqlx::query_as("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let path = url.trim_start_matches("sqlite://");
    let mut bytes = std::fs::read(path).unwrap();
    let start = usize::try_from((root - 1) * page_size).unwrap();
    let end = start + usize::try_from(page_size).unwrap();
    bytes[start..end].fill(0xA5);
    std::fs::write(path, bytes).unwrap();

    app.start_recruiting().await;
    assert_eq!(
        health_of(&app, POSTING_SERVICE).await,
        ServingStatus::Serving
    );
    let status = app
        .recruiting()
        .await
        .employers
        .get_employer(authed(
            pb::GetEmployerRequest {
                name: format!("employers/{code}"),
            },
            &platform.key,
        ))
        .await
        .expect_err("the employers table is damaged");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "DATABASE_CORRUPT"
    );
    until_health(&app, POSTING_SERVICE, ServingStatus::NotServing).await;
    until_health(&app, "", ServingStatus::NotServing).await;
    app.stop().await;
}

/// Runs `sql` on the PostgreSQL server of `database_url` (as the test's
/// administrator, outside the database).
async fn admin_sql(database_url: &str, sql: String) {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn database_name(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap();
    path.split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_backend_terminated_mid_call_is_unavailable_on_both_services() {
    let app = TestApp::spawn().await;
    if app.backend != Backend::Postgres {
        return;
    }
    let (platform, code) = platform_with_employer(&app).await;

    // Recruiting: the call waits for a lock the test holds, and its
    // backend is terminated while it waits.
    let recruiting_db = database_name(app.recruiting_database_url());
    let status = terminated_mid_call(
        app.recruiting_database_url(),
        "postings",
        &recruiting_db,
        try_push(&app, &platform, postings("t", 3, &code)),
    )
    .await
    .expect_err("the call's backend was terminated");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // And the service carries on.
    try_push(&app, &platform, postings("after", 3, &code))
        .await
        .expect("a write after the termination");

    // Metrics: the same for a publish.
    use crate::support::metrics::{Metrics, date, hired, person};
    let metrics = Metrics::connect(&app).await;
    let metrics_db = database_name(app.metrics_database_url());
    let event = hired("e1", &person(1), "110101", "I", date(2025, 3, 1), "p1");
    let outcome = terminated_mid_call(
        app.metrics_database_url(),
        "applied_events",
        &metrics_db,
        metrics.publish_batches_with(&metrics.relay_key, vec![vec![event.clone()]]),
    )
    .await;
    let status = outcome.expect_err("the call's backend was terminated");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let acks = metrics.publish(vec![event]).await;
    assert_eq!(acks.len(), 1);
    app.stop().await;
}

/// Runs `call` while the test holds an exclusive lock on `table`; once a
/// backend of `database` waits for that lock, terminates it, then lets go.
async fn terminated_mid_call<T>(
    database_url: &str,
    table: &str,
    database: &str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    use sqlx::Connection;
    let mut locker = sqlx::PgConnection::connect(database_url).await.unwrap();
    let mut tx = locker.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    let killer = async {
        let watcher = sqlx::PgPool::connect(database_url).await.unwrap();
        loop {
            let killed: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            .bind(database)
            .fetch_all(&watcher)
            .await
            .unwrap();
            if !killed.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        watcher.close().await;
    };
    let (result, ()) = tokio::join!(call, killer);
    tx.rollback().await.unwrap();
    result
}

#[tokio::test]
async fn health_follows_a_postgresql_database_that_stops_answering() {
    let app = TestApp::spawn().await;
    if app.backend != Backend::Postgres {
        return;
    }
    let url = app.recruiting_database_url().to_owned();
    let name = database_name(&url);
    let server = url.replace(&format!("/{name}"), "/postgres");
    admin_sql(
        &server,
        format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
    )
    .await;
    admin_sql(
        &server,
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    until_health(&app, POSTING_SERVICE, ServingStatus::NotServing).await;
    until_health(&app, "", ServingStatus::NotServing).await;

    admin_sql(
        &server,
        format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"),
    )
    .await;
    until_health(&app, POSTING_SERVICE, ServingStatus::Serving).await;
    app.create_platform("p1").await;
    app.stop().await;
}

/// Which part of a SQLite file the garbage goes over.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// The 100-byte header (the magic string, the page size).
    Header,
    /// Every page but the first (the tables and indexes; the schema on
    /// page 1 stays readable).
    Pages,
}

/// Writes garbage over part of the SQLite file of `url`, after moving
/// everything in its write-ahead log into it. The service must be stopped.
async fn damage_sqlite_file(url: &str, damage: Damage) -> std::path::PathBuf {
    let url = plain_sqlite_url(url);
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let (page_size,): (i64,) = sqlx::query_as("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let path = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    let mut bytes = std::fs::read(&path).unwrap();
    let range = match damage {
        Damage::Header => 0..100,
        Damage::Pages => usize::try_from(page_size).unwrap()..bytes.len(),
    };
    assert!(range.end <= bytes.len() && !range.is_empty(), "{range:?}");
    bytes[range].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A service whose SQLite file was damaged while it was stopped (garbage
/// over the header, or over every table and index) does not start: the
/// error names the file and says it is damaged, with no panic. (A page
/// found damaged while serving is `a_corrupt_sqlite_file_is_unavailable_and_not_serving`.)
#[tokio::test]
async fn a_sqlite_file_damaged_before_the_start_is_refused_naming_the_file() {
    for damage in [Damage::Header, Damage::Pages] {
        let mut app = TestApp::spawn_with_relay().await;
        if app.backend != Backend::Sqlite {
            return;
        }
        let (platform, code) = platform_with_employer(&app).await;
        try_push(&app, &platform, postings("p", 20, &code))
            .await
            .expect("postings stored");
        app.relay_drained().await;
        app.stop_recruiting().await;
        app.stop_metrics().await;
        let metrics_file = damage_sqlite_file(app.metrics_database_url(), damage).await;
        let recruiting_file = damage_sqlite_file(app.recruiting_database_url(), damage).await;

        let metrics = app.try_start_metrics().await;
        let recruiting = app.try_start_recruiting().await;
        for (service, started, file) in [
            ("metrics", metrics, metrics_file),
            ("recruiting", recruiting, recruiting_file),
        ] {
            let error = format!(
                "{:#}",
                started.expect_err(&format!("{service} refuses a damaged file ({damage:?})"))
            );
            assert!(
                error.contains(&file.display().to_string()),
                "{damage:?} {service}: {error}"
            );
            assert!(
                error.contains("is damaged"),
                "{damage:?} {service}: {error}"
            );
        }
        app.begin_shutdown();
    }
}

/// `postings` published on 2020-05-01, where `postings_counted` looks.
fn dated_postings(prefix: &str, count: usize, code: &str) -> Vec<pb::Posting> {
    postings(prefix, count, code)
        .into_iter()
        .map(|p| pb::Posting {
            publish_time: Some(ts(1_588_305_600)),
            ..p
        })
        .collect()
}

/// Postings of 2020 metrics counts, as an OPERATOR key reads them.
async fn postings_counted(app: &TestApp) -> i64 {
    let metrics = Metrics::connect(app).await;
    let response = metrics
        .stats()
        .get_recruitment_activity(m::with_key(
            talent_proto::talent::metrics::v1::GetRecruitmentActivityRequest {
                period: m::period(m::date(2020, 1, 1), m::date(2021, 1, 1)),
                ..Default::default()
            },
            &metrics.operator_key,
        ))
        .await
        .expect("GetRecruitmentActivity")
        .into_inner();
    m::value(&response.total.expect("a total").postings)
}

/// The event ids `sql` reads from the database of `url`, sorted.
async fn event_ids(url: &str, sql: &'static str) -> Vec<String> {
    let mut ids: Vec<(String,)> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(plain_sqlite_url(url))
            .await
            .unwrap();
        let ids = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        ids
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let ids = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        ids
    };
    ids.sort();
    ids.into_iter().map(|(id,)| id).collect()
}

/// Every event recruiting wrote was applied by metrics, and nothing else
/// was (none lost); the figure counts each posting once (none doubled).
async fn delivered_exactly(app: &TestApp, postings: i64) {
    let sent = event_ids(app.recruiting_database_url(), "SELECT event_id FROM outbox").await;
    let applied = event_ids(
        app.metrics_database_url(),
        "SELECT event_id FROM applied_events",
    )
    .await;
    assert!(!sent.is_empty());
    assert_eq!(sent, applied, "the events sent are the events applied");
    assert_eq!(postings_counted(app).await, postings);
}

/// Metrics away "for minutes", compressed: recruiting keeps taking writes,
/// the backlog shows in its `/health` detail and on Prometheus, and once
/// metrics is back everything is delivered, each event once.
#[tokio::test]
async fn metrics_away_leaves_a_visible_backlog_that_drains_exactly() {
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 30;
    let mut app = TestApp::spawn_with_relay().await;
    let (platform, code) = platform_with_employer(&app).await;
    app.relay_drained().await;

    app.stop_metrics().await;
    for round in 0..ROUNDS {
        let batch = dated_postings(&format!("away{round}"), PER_ROUND, &code);
        let results = try_push(&app, &platform, batch)
            .await
            .expect("recruiting takes writes while metrics is away");
        assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    }
    let waiting = (ROUNDS * PER_ROUND) as u64;
    let operator = app.recruiting_prometheus_addr;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let detail = talent::commands::http_get_json(&operator.to_string(), "/health")
            .await
            .expect("the health detail");
        let page = TestApp::prometheus_text(operator).await;
        let gauge = sample(&page, "talent_relay_backlog_rows");
        if detail["relay"]["backlog_rows"].as_u64() == Some(waiting)
            && gauge == Some(waiting as f64)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog of {waiting} never showed: {detail}, gauge {gauge:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        health_of(&app, POSTING_SERVICE).await,
        ServingStatus::Serving
    );

    app.start_metrics().await;
    app.relay_drained().await;
    delivered_exactly(&app, waiting as i64).await;
    app.stop().await;
}

/// PostgreSQL cut off from recruiting mid-run (a proxy closes every
/// connection and refuses new ones): calls are UNAVAILABLE, never
/// INTERNAL, and health turns NOT_SERVING; once the network is back,
/// writes succeed, health is SERVING, and no acknowledged write is lost.
#[tokio::test]
async fn postgresql_cut_off_mid_run_is_unavailable_and_loses_no_acknowledged_write() {
    let app = TestApp::spawn_with(Options {
        relay: true,
        recruiting_postgres_proxy: true,
        ..Default::default()
    })
    .await;
    let Some(proxy) = &app.recruiting_proxy else {
        return; // PostgreSQL only.
    };
    let (platform, code) = platform_with_employer(&app).await;
    let mut acknowledged = Vec::new();
    let before = dated_postings("before", 20, &code);
    try_push(&app, &platform, before.clone())
        .await
        .expect("a write before the cut");
    acknowledged.extend(before);

    proxy.cut();
    // Every connection of the pool meets the cut, and new ones fail.
    let mut refused = Vec::new();
    for round in 0..6 {
        let batch = dated_postings(&format!("cut{round}"), 5, &code);
        let status = try_push(&app, &platform, batch.clone())
            .await
            .expect_err("no write without the database");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        refused.push(batch);
    }
    let status = app
        .recruiting()
        .await
        .postings
        .get_posting(authed(
            pb::GetPostingRequest {
                name: platform.posting_name("before-0"),
            },
            &platform.key,
        ))
        .await
        .expect_err("no read without the database");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    until_health(&app, POSTING_SERVICE, ServingStatus::NotServing).await;
    until_health(&app, "", ServingStatus::NotServing).await;

    proxy.restore();
    until_health(&app, POSTING_SERVICE, ServingStatus::Serving).await;
    until_health(&app, "", ServingStatus::Serving).await;
    let after = dated_postings("after", 20, &code);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match try_push(&app, &platform, after.clone()).await {
            Ok(results) => {
                assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
                break;
            }
            // A connection closed by the cut may still be met once.
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    Instant::now() < deadline,
                    "writes never resumed: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    acknowledged.extend(after);
    // The refused calls may or may not have committed; sent again (an
    // upsert is idempotent) they are acknowledged too.
    for batch in refused {
        try_push(&app, &platform, batch.clone())
            .await
            .expect("a refused write sent again");
        acknowledged.extend(batch);
    }
    for posting in &acknowledged {
        let got = app.get_posting(&platform, &posting.external_id).await;
        assert_eq!(got.title, posting.title);
    }
    app.relay_drained().await;
    delivered_exactly(&app, acknowledged.len() as i64).await;
    app.stop().await;
}
