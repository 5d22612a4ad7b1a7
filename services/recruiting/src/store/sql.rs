//! The store on SQLite and PostgreSQL: one implementation, generic over the
//! back end. Both schemas use the same column types as seen from Rust
//! (BIGINT / INTEGER as `i64`, TEXT, BLOB / BYTEA) and both take `$n`
//! placeholders, so each statement is written once; what differs by back end
//! is behind [`RecruitingSql`] (`backend.rs`).
//!
//! Each aggregate implements its trait in a file of its own (`platforms.rs`,
//! `employers.rs`, …); the blocks of generic SQL there state, besides
//! `DB: RecruitingSql`, the Rust types they bind and read (see
//! [`talent_server::Sql`] for why a trait cannot carry them):
//!
//! ```ignore
//! where
//!     for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
//!     for<'n> &'n str: ColumnIndex<DB::Row>,
//!     String: Column<DB>,
//!     Option<String>: Column<DB>,
//!     i64: Column<DB>,
//!     Option<i64>: Column<DB>,
//!     Vec<u8>: Column<DB>,
//!     Option<Vec<u8>>: Column<DB>,
//! ```

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
};

use sqlx::{ColumnIndex, Database, Executor, Pool, Postgres, Sqlite};
use talent_server::{Column, FieldViolations};
use tracing::Instrument;

use super::{
    PostingRecord, RecruitingStore, StoreError, backend::RecruitingSql, coalesce::PointReads,
};
use crate::pii::Cipher;

/// How many coalesced point reads (`get_posting`) run at once; the
/// lookups that arrive meanwhile wait for the next batch. One: under load
/// every batch then carries all the lookups that waited, so each costs
/// the fewest statements and hand-offs; an idle service still reads at
/// once.
const POINT_READ_BATCHES: usize = 1;
/// The most lookups one coalesced read carries.
const POINT_READ_KEYS: usize = 128;

/// A writing transaction and its span, which lasts from `begin` until the
/// transaction is committed or dropped. Derefs to the connection, as
/// sqlx's transaction does.
pub(super) struct Tx<DB: Database> {
    inner: sqlx::Transaction<'static, DB>,
    span: tracing::Span,
}

impl<DB: Database> Tx<DB> {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        let Self { inner, span } = self;
        inner.commit().instrument(span).await
    }

    /// The transaction's trace context, when traces are exported.
    pub(super) fn traceparent(&self) -> Option<String> {
        talent_server::telemetry::traceparent(&self.span)
    }
}

impl<DB: Database> Deref for Tx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.inner
    }
}

impl<DB: Database> DerefMut for Tx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.inner
    }
}

/// The store on back end `DB`.
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
    pub(super) cipher: Cipher,
    /// `get_posting`'s lookups, by (platform, external id).
    pub(super) postings: Arc<PointReads<(String, String), PostingRecord>>,
}

/// The store on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;
/// The store on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            cipher: self.cipher.clone(),
            postings: self.postings.clone(),
        }
    }
}

impl<DB: RecruitingSql> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    pub fn new(pool: Pool<DB>, cipher: Cipher) -> Self {
        let postings = Arc::new(PointReads::new(
            POINT_READ_BATCHES,
            POINT_READ_KEYS,
            Self::read_postings(pool.clone()),
        ));
        Self {
            pool,
            cipher,
            postings,
        }
    }
}

impl<DB: RecruitingSql> SqlStore<DB> {
    /// A writing transaction. Every write of the store begins here, so its
    /// span is the one of every store transaction.
    pub(super) async fn begin(&self) -> Result<Tx<DB>, sqlx::Error> {
        let span = tracing::info_span!("store.transaction");
        let inner = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .instrument(span.clone())
            .await?;
        Ok(Tx { inner, span })
    }
}

impl<DB: RecruitingSql> RecruitingStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    fn stream_group(&self) -> usize {
        DB::STREAM_GROUP
    }
}

/// A field violation as a store error.
pub(super) fn invalid(field: &str, description: &str) -> StoreError {
    let mut v = FieldViolations::new();
    v.add(field, description);
    StoreError::Invalid(v)
}

/// Stored integers that came from `i32` fields.
pub(super) fn int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or_default()
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
