//! The store conformance suite: the cases every `RecruitingStore` must
//! pass, called on the store directly (not through gRPC), on SQLite always
//! and on PostgreSQL when `TALENT_TEST_POSTGRES_URL` is set. Each case gets
//! a fresh database and reads back the outbox to check the events each
//! change wrote; expected figures are worked out by hand in the case.

mod catalog;
mod people;

use std::sync::atomic::{AtomicI64, Ordering};

use prost::Message as _;
use talent_proto::talent::events::v1 as ev;
use talent_recruiting::{
    pii::Cipher,
    relay::{Outbox, SqlOutbox},
    store::{PgStore, PlatformRecord, RecruitingStore, RequestId, SqliteStore, StoreError},
};
use talent_server::Db;

use crate::support::store::StoreDatabase;

/// An instant all cases start from: 2023-11-14T22:13:20Z, in microseconds.
pub const T0: i64 = 1_700_000_000_000_000;
pub const DAY: i64 = 86_400_000_000;

/// One store on a fresh database, and what the cases need beside it.
pub struct Env<S> {
    pub store: S,
    outbox: SqlOutbox,
    /// The highest outbox position `events` has returned.
    seen: AtomicI64,
    database: StoreDatabase,
}

impl<S: RecruitingStore> Env<S> {
    /// The events written to the outbox since the previous call, in
    /// outbox order.
    pub async fn events(&self) -> Vec<ev::event::Payload> {
        let after = self.seen.load(Ordering::SeqCst);
        let rows = self.outbox.next_batch(Some(after), 100_000).await.unwrap();
        if let Some(last) = rows.last() {
            self.seen.store(last.seq, Ordering::SeqCst);
        }
        rows.iter()
            .map(|row| {
                let event = ev::Event::decode(row.event.as_slice()).unwrap();
                assert_eq!(
                    event.sequence,
                    u64::try_from(row.seq).unwrap(),
                    "an event carries its outbox position"
                );
                event.payload.expect("every event has a payload")
            })
            .collect()
    }

    /// Asserts that nothing was written to the outbox since the last look.
    pub async fn no_events(&self) {
        let events = self.events().await;
        assert!(events.is_empty(), "unexpected events: {events:?}");
    }

    /// Runs `sql` on the store's database directly, as an older version
    /// or an operator would have.
    pub async fn execute(&self, sql: &'static str) {
        match &self.database.db {
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .unwrap();
    }

    /// Creates platform `id` at `T0`.
    pub async fn platform(&self, id: &str) {
        self.store
            .create_platform(platform(id), None)
            .await
            .unwrap();
    }
}

async fn env<S>(database: StoreDatabase, store: S) -> Env<S> {
    Env {
        store,
        outbox: SqlOutbox::new(database.db.clone()),
        seen: AtomicI64::new(0),
        database,
    }
}

fn cipher() -> Cipher {
    Cipher::new(&[7; 32])
}

async fn sqlite() -> Env<SqliteStore> {
    let database = StoreDatabase::sqlite().await;
    let Db::Sqlite(pool) = &database.db else {
        unreachable!("a SQLite URL opens a SQLite pool")
    };
    let store = SqliteStore::new(pool.clone(), cipher());
    env(database, store).await
}

async fn postgres() -> Option<Env<PgStore>> {
    let database = StoreDatabase::postgres().await?;
    let Db::Postgres(pool) = &database.db else {
        unreachable!("a PostgreSQL URL opens a PostgreSQL pool")
    };
    let store = PgStore::new(pool.clone(), cipher());
    Some(env(database, store).await)
}

/// The cases, each on a fresh database from `fresh`.
async fn conformance<S, F>(fresh: impl Fn() -> F)
where
    S: RecruitingStore,
    F: Future<Output = Env<S>>,
{
    catalog::platforms_and_keys(&fresh().await).await;
    catalog::employers_keep_the_last_write_of_each_field(&fresh().await).await;
    catalog::postings_are_created_updated_or_unchanged(&fresh().await).await;
    catalog::openings_match_across_platforms(&fresh().await).await;
    catalog::openings_of_an_earlier_rule_are_derived_again_once(&fresh().await).await;
    catalog::postings_close_and_expire(&fresh().await).await;
    catalog::fairs_and_participations(&fresh().await).await;
    people::resumes_upsert_and_erase(&fresh().await).await;
    people::hires_one_and_in_batches(&fresh().await).await;
    people::separations(&fresh().await).await;
    people::applications_and_their_states(&fresh().await).await;
    people::request_ids_are_idempotent_for_seven_days(&fresh().await).await;
    people::a_failed_change_writes_no_events(&fresh().await).await;
}

#[tokio::test]
async fn the_sqlite_store_conforms() {
    conformance(sqlite).await;
}

#[tokio::test]
async fn the_postgres_store_conforms() {
    if std::env::var(crate::support::POSTGRES_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        conformance(|| async { postgres().await.expect("PostgreSQL is configured") }).await;
    }
}

// ----- shared inputs -----

pub fn platform(id: &str) -> PlatformRecord {
    PlatformRecord {
        id: id.to_owned(),
        display_name: format!("Platform {id}"),
        created_at: T0,
        disabled_at: None,
    }
}

pub fn request(id: &str, fingerprint: &[u8]) -> RequestId {
    RequestId {
        id: id.to_owned(),
        fingerprint: fingerprint.to_vec(),
    }
}

/// The field paths of an `Invalid` error; panics on any other result.
pub fn invalid_fields<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Vec<String> {
    match result {
        Err(StoreError::Invalid(violations)) => {
            violations.iter().map(|v| v.field.clone()).collect()
        }
        other => panic!("expected field violations, got {other:?}"),
    }
}

/// The name of an event's kind, for compact comparisons.
pub fn kind(payload: &ev::event::Payload) -> &'static str {
    use ev::event::Payload as P;
    match payload {
        P::PostingPublished(_) => "PostingPublished",
        P::PostingUpdated(_) => "PostingUpdated",
        P::PostingClosed(_) => "PostingClosed",
        P::ResumeReceived(_) => "ResumeReceived",
        P::PersonErased(_) => "PersonErased",
        P::FairHeld(_) => "FairHeld",
        P::FairParticipation(_) => "FairParticipation",
        P::Hired(_) => "Hired",
        P::Separated(_) => "Separated",
        P::ApplicationSubmitted(_) => "ApplicationSubmitted",
    }
}

pub fn kinds(events: &[ev::event::Payload]) -> Vec<&'static str> {
    events.iter().map(kind).collect()
}
