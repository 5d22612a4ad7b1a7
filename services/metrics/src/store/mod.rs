//! Storage: one interface over the two back ends. The SQL is portable
//! (integers for days and instants, text ids, `ON CONFLICT` upserts), so
//! each statement is written once, generic over [`MetricsSql`]; what the
//! back ends do differently (looking a batch of keys up, locking
//! entities) is behind that trait (`backend.rs`). Queries read only the
//! aggregate tables.
//!
//! The service holds a [`Store`] and, while it writes, a [`Tx`]: trait
//! objects over the one generic implementation, so the handlers, the
//! ingestion and the queries are written once and do not name a back
//! end. Each part of the interface is a trait in its own file:
//!
//! | trait | file | what |
//! | --- | --- | --- |
//! | [`KeyStore`] | `keys.rs` | the API keys |
//! | [`AggregateReads`] | `reads.rs` | the queries' reads of the aggregates |
//! | [`FactsTx`] | `facts.rs` | entities, their locks and their facts, in bulk |
//! | [`DeltaWriter`] | `deltas.rs` | differences into logs, cells and running totals |
//! | [`BackfillStore`], [`BackfillTx`] | `backfill.rs` | record keys of earlier data |
//!
//! The generic blocks state, besides `DB: MetricsSql`, the Rust types
//! they bind and read (see [`talent_server::Sql`] for why a trait cannot
//! carry them):
//!
//! ```ignore
//! where
//!     for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
//!     for<'q> &'q str: Encode<'q, DB> + Type<DB>,
//!     for<'n> &'n str: ColumnIndex<DB::Row>,
//!     usize: ColumnIndex<DB::Row>,
//!     String: Column<DB>,
//!     i64: Column<DB>,
//!     Option<i64>: Column<DB>,
//! ```

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Database, Encode, Executor, Pool, Postgres, Sqlite, Type};
use talent_server::{ApiError, Column, Db};

mod backend;
mod backfill;
mod deltas;
mod facts;
mod keys;
mod reads;

pub use backend::MetricsSql;
pub use backfill::{BackfillStore, BackfillTx};
pub use deltas::DeltaWriter;
pub use facts::{EmploymentRow, FactsTx, ParticipationRow, ResumeRow, RosterRecord};
pub use keys::{KeyRow, KeyStore};
pub use reads::{AggregateReads, GatheredDims};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (classified for the caller by
    /// `talent_server`).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value this code cannot read, or rows that contradict each
    /// other: a bug or a damaged database.
    #[error("{0}")]
    Corrupt(String),
}

impl StoreError {
    /// A deadlock or serialization failure: the whole transaction may be
    /// run again.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(e) => e
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "40P01" || code == "40001"),
            StoreError::Corrupt(_) => false,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Database(e) => e.into(),
            StoreError::Corrupt(why) => ApiError::Internal(anyhow::anyhow!(why)),
        }
    }
}

impl From<StoreError> for tonic::Status {
    fn from(err: StoreError) -> Self {
        ApiError::from(err).into()
    }
}

/// The result of a store call.
pub type R<T> = Result<T, StoreError>;

/// The metrics service's storage, on whichever back end it was opened.
#[derive(Clone)]
pub struct Store(Arc<dyn MetricsStore>);

impl Store {
    pub fn new(db: Db) -> Self {
        match db {
            Db::Sqlite(pool) => Self(Arc::new(SqlStore::<Sqlite> { pool })),
            Db::Postgres(pool) => Self(Arc::new(SqlStore::<Postgres> { pool })),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn MetricsStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// An open writing transaction; dropped without `commit`, it rolls back.
pub type Tx = Box<dyn MetricsTx>;

/// Everything the store does outside a transaction.
pub trait MetricsStore: KeyStore + AggregateReads + BackfillStore + Send + Sync {
    /// Begins a writing transaction.
    fn begin(&self) -> BoxFuture<'_, R<Tx>>;
}

/// Everything the store does inside a writing transaction.
pub trait MetricsTx: FactsTx + DeltaWriter + BackfillTx + Send {
    fn commit(self: Box<Self>) -> BoxFuture<'static, R<()>>;
}

/// The store on back end `DB`.
struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: MetricsSql> MetricsStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn begin(&self) -> BoxFuture<'_, R<Tx>> {
        Box::pin(async move {
            let tx: Tx = Box::new(self.pool.begin_with(DB::BEGIN_WRITE).await?);
            Ok(tx)
        })
    }
}

impl<DB: MetricsSql> MetricsTx for sqlx::Transaction<'static, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
{
    fn commit(self: Box<Self>) -> BoxFuture<'static, R<()>> {
        Box::pin(async move { Ok((*self).commit().await?) })
    }
}

/// A fresh database for a test, on the back end the test suite runs on
/// (`TALENT_TEST_POSTGRES_URL` set: PostgreSQL, else SQLite).
#[cfg(test)]
pub(crate) mod test_db {
    use sqlx::migrate::Migrator;
    use talent_codes as codes;

    use super::*;

    const POSTGRES_URL_VAR: &str = "TALENT_TEST_POSTGRES_URL";

    /// A fresh, empty database (see [`migrate`]), and a guard that drops
    /// it (PostgreSQL) or its folder (SQLite).
    pub(crate) async fn database() -> (Db, Box<dyn std::any::Any>) {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(server) if !server.is_empty() => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let name = format!(
                    "talent_test_metrics_{}_{}_{}",
                    std::process::id(),
                    codes::now_micros(),
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                let admin = sqlx::PgPool::connect(&server).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let (base, _) = server.rsplit_once('/').unwrap();
                let pool = sqlx::PgPool::connect(&format!("{base}/{name}"))
                    .await
                    .unwrap();
                /// Drops the database from a runtime of its own (drop is
                /// not async).
                struct DropDatabase(Option<(String, String)>);
                impl Drop for DropDatabase {
                    fn drop(&mut self) {
                        let Some((server, name)) = self.0.take() else {
                            return;
                        };
                        std::thread::spawn(move || {
                            tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .unwrap()
                                .block_on(async move {
                                    let admin = sqlx::PgPool::connect(&server).await?;
                                    let sql =
                                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                    sqlx::query(sqlx::AssertSqlSafe(sql))
                                        .execute(&admin)
                                        .await?;
                                    admin.close().await;
                                    Ok::<_, sqlx::Error>(())
                                })
                        })
                        .join()
                        .expect("the clean-up thread ends")
                        .expect("dropping the test database");
                    }
                }
                (
                    Db::Postgres(pool),
                    Box::new(DropDatabase(Some((server, name)))),
                )
            }
            _ => sqlite_database().await,
        }
    }

    /// A fresh, empty SQLite database, whatever back end the run tests
    /// (for what only SQLite has), and the folder that holds it.
    pub(crate) async fn sqlite_database() -> (Db, Box<dyn std::any::Any>) {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("metrics.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        (Db::Sqlite(pool), Box::new(dir))
    }

    /// Runs one statement (a test's own SQL) to its end.
    pub(crate) async fn execute(db: &Db, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match db {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .unwrap();
    }

    /// Runs the migrations up to (and including) version `to`, or all.
    pub(crate) async fn migrate(db: &Db, to: Option<i64>) {
        let run = |m: &'static Migrator| async move {
            match (db, to) {
                (Db::Sqlite(p), Some(v)) => m.run_to(v, p).await,
                (Db::Sqlite(p), None) => m.run(p).await,
                (Db::Postgres(p), Some(v)) => m.run_to(v, p).await,
                (Db::Postgres(p), None) => m.run(p).await,
            }
        };
        match db {
            Db::Sqlite(_) => run(crate::MIGRATIONS.sqlite).await.unwrap(),
            Db::Postgres(_) => run(crate::MIGRATIONS.postgres).await.unwrap(),
        }
    }
}

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod roll_tests;
