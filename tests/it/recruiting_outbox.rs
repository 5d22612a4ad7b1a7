//! The outbox: an event row exists exactly when its change committed, and
//! the expiry sweep emits each posting's expiry once.

use crate::support;

use support::{
    TestApp,
    recruiting::{DAY, credit_code, employer, now_secs, posting, ts},
};
use talent_proto::talent::{events::v1 as ev, recruiting::v1 as pb};
use talent_recruiting::{
    pii::Cipher,
    relay::{Outbox, SqlOutbox},
    store::RecruitingStore,
};
use talent_server::{Backend, Db};
use tonic::Code;

/// Runs `statements` on the recruiting database, beside the service.
async fn execute(app: &TestApp, statements: &[&str]) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }
}

#[tokio::test]
async fn no_change_commits_without_its_event_and_no_event_without_its_change() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let e1 = credit_code("91370200MA3C60001");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;

    // Make every outbox append fail: the whole batch must roll back.
    match app.backend {
        Backend::Sqlite => {
            execute(
                &app,
                &["CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox \
                   BEGIN SELECT RAISE(ABORT, 'outbox refused by the test'); END"],
            )
            .await
        }
        Backend::Postgres => {
            execute(
                &app,
                &[
                    "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'outbox refused by the test'; END $$",
                    "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox \
                     FOR EACH ROW EXECUTE FUNCTION refuse_outbox()",
                ],
            )
            .await
        }
    }
    let mut client =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await);
    let batch = vec![posting("p-1", "Job 1", &e1), posting("p-2", "Job 2", &e1)];
    let failed = client
        .batch_upsert_postings(support::recruiting::authed(
            pb::BatchUpsertPostingsRequest {
                postings: batch.clone(),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    // The injected fault is the service's failure, not the caller's.
    assert_eq!(failed.code(), Code::Internal);
    assert!(app.outbox().await.is_empty());
    let missing = client
        .get_posting(support::recruiting::authed(
            pb::GetPostingRequest {
                name: a.posting_name("p-1"),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        Code::NotFound,
        "the posting rolled back too"
    );

    // Once the outbox accepts rows again, the same batch commits with
    // exactly one event per posting.
    let drop = match app.backend {
        Backend::Sqlite => vec!["DROP TRIGGER refuse_outbox"],
        Backend::Postgres => vec!["DROP TRIGGER refuse_outbox ON outbox"],
    };
    execute(&app, &drop).await;
    let results = app.push_postings(&a, batch).await;
    assert!(
        results
            .iter()
            .all(|r| r.outcome() == pb::UpsertOutcome::Created)
    );
    let events = app.outbox().await;
    let posted: Vec<String> = events
        .iter()
        .map(|(_, e)| match e.payload.as_ref().unwrap() {
            ev::event::Payload::PostingPublished(p) => p.facts.as_ref().unwrap().posting.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        posted,
        ["platforms/a/postings/p-1", "platforms/a/postings/p-2"]
    );
    // Sequence numbers are the outbox positions, strictly increasing.
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(events.iter().all(|(seq, e)| e.sequence == *seq as u64));
    app.stop().await;
}

async fn sweep<S: RecruitingStore>(store: S) -> usize {
    let now = (now_secs() + 1) * 1_000_000;
    store.expire_postings(now).await.unwrap()
}

/// Runs the expiry sweep on the service's database, as the service's
/// background task does every `expiry_sweep_secs`.
async fn run_sweep(app: &TestApp) -> usize {
    let cipher = Cipher::new(&[0; 32]);
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            let n = sweep(talent_recruiting::store::SqliteStore::new(
                pool.clone(),
                cipher,
            ))
            .await;
            pool.close().await;
            n
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.recruiting_database_url())
                .await
                .unwrap();
            let n = sweep(talent_recruiting::store::PgStore::new(pool.clone(), cipher)).await;
            pool.close().await;
            n
        }
    }
}

#[tokio::test]
async fn the_expiry_sweep_emits_each_expiry_once() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    let e1 = credit_code("91370200MA3C60002");
    app.push_employers(&a, vec![employer(&e1, "One", "370212", "C39")])
        .await;
    let now = now_secs();
    let old = pb::Posting {
        publish_time: Some(ts(now - 40 * DAY)),
        expire_time: Some(ts(now - 10 * DAY)),
        ..posting("old", "Old", &e1)
    };
    app.push_postings(&a, vec![old.clone(), posting("new", "New", &e1)])
        .await;

    assert_eq!(run_sweep(&app).await, 1);
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), 3);
    let ev::event::Payload::PostingClosed(closed) = &events[2] else {
        panic!("expected PostingClosed, got {:?}", events[2]);
    };
    assert_eq!(closed.posting, "platforms/a/postings/old");
    assert_eq!(closed.reason(), ev::posting_closed::Reason::Expired);
    assert_eq!(closed.close_time, Some(ts(now - 10 * DAY)));
    assert_eq!(closed.revision, 2);
    let stored = app.get_posting(&a, "old").await;
    assert_eq!(stored.state(), pb::posting::State::Expired);
    assert_eq!(stored.close_time, Some(ts(now - 10 * DAY)));
    assert_eq!(run_sweep(&app).await, 0, "an expiry is emitted once");
    assert_eq!(app.outbox().await.len(), 3);

    // Moving the expiry into the future reopens it, with a new revision.
    let reopened = app
        .push_postings(
            &a,
            vec![pb::Posting {
                expire_time: Some(ts(now + 10 * DAY)),
                ..old
            }],
        )
        .await;
    assert_eq!(reopened[0].outcome(), pb::UpsertOutcome::Updated);
    assert_eq!(
        app.get_posting(&a, "old").await.state(),
        pb::posting::State::Open
    );
    let events = app.outbox_payloads().await;
    let ev::event::Payload::PostingUpdated(updated) = &events[3] else {
        panic!("expected PostingUpdated, got {:?}", events[3]);
    };
    assert_eq!(updated.facts.as_ref().unwrap().revision, 3);
    app.stop().await;
}

#[tokio::test]
async fn marks_of_a_long_backlog_reach_exactly_their_rows() {
    // More acknowledged rows than SQLite takes parameters in a statement
    // (32,766), with gaps: rows not acknowledged stay undelivered, rejected
    // ones are marked as such, and no row between two marked ones is.
    let app = TestApp::spawn().await;
    const ROWS: i64 = 50_000;
    let fill = match app.backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) \
             INSERT INTO outbox (event_id, payload, created_at) SELECT 'e' || i, X'00', 0 FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO outbox (event_id, payload, created_at) \
             SELECT 'e' || i, '\\x00'::bytea, 0 FROM generate_series(1, {ROWS}) i"
        ),
    };
    execute(&app, &[&fill]).await;

    let db = Db::open(app.recruiting_database_url(), 2).await.unwrap();
    let outbox = SqlOutbox::new(db.clone());
    let undelivered = async || -> Vec<i64> {
        let rows = outbox.next_batch(None, 100_000).await.unwrap();
        rows.iter().map(|r| r.seq).collect()
    };
    let seqs = undelivered().await;
    assert_eq!(seqs.len(), ROWS as usize);
    let (mut delivered, mut rejected, mut left) = (Vec::new(), Vec::new(), Vec::new());
    for (i, seq) in seqs.iter().enumerate() {
        match (i % 7, i % 11) {
            (0, _) => left.push(*seq),
            (_, 0) => rejected.push(*seq),
            _ => delivered.push(*seq),
        }
    }
    delivered.reverse(); // the order given does not matter
    assert!(delivered.len() > 32_766);
    outbox.mark_delivered(&delivered, &rejected).await.unwrap();

    assert_eq!(undelivered().await, left);
    let count_rejected = "SELECT COUNT(*) FROM outbox WHERE rejected AND delivered_at IS NOT NULL";
    let marked_rejected: i64 = match &db {
        Db::Sqlite(pool) => sqlx::query_scalar(count_rejected).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_scalar(count_rejected).fetch_one(pool).await,
    }
    .unwrap();
    assert_eq!(marked_rejected, rejected.len() as i64);
    db.close().await;
    app.stop().await;
}
