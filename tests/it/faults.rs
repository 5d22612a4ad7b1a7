//! Storage faults as the client sees them: each becomes `UNAVAILABLE`
//! (never `INTERNAL`), health follows the database, and the service
//! recovers by itself once the fault is gone.

use std::time::Duration;

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
    recruiting::{TestPlatform, authed, credit_code, employer, posting},
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
