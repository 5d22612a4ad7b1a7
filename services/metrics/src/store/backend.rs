//! What differs between SQLite and PostgreSQL in the metrics store, and
//! only that: how a batch of keys is looked up and how entities are
//! locked. Every other statement is written once, generic over
//! [`MetricsSql`].
//!
//! - SQLite: every transaction begins `BEGIN IMMEDIATE`
//!   (`Sql::BEGIN_WRITE`), so it holds the database's single write lock
//!   from its start; no row lock is needed. Keys go in an `IN (…)` list (SQLite searches
//!   the index once per listed key).
//! - PostgreSQL: entities are locked by `FOR UPDATE` on their
//!   `entity_state` rows, in id order. Keys go in a `VALUES` list joined
//!   `LATERAL` to the select behind `OFFSET 0`, which the planner cannot
//!   flatten, so each key is one index probe whatever the table's
//!   statistics say: with an `IN` list, a table never analyzed (a new
//!   database, or a server without autovacuum) was read whole for every
//!   message.

use sqlx::{Postgres, QueryBuilder, Sqlite};
use talent_server::Sql;

/// The metrics store's back end: [`Sql`] and what the store does
/// differently on it.
pub trait MetricsSql: Sql {
    /// Whether an entity needs its `entity_state` row before it can be
    /// locked (`FOR UPDATE` locks only rows that exist). Where it does not,
    /// an entity gets a row only once it contributes (`save_entities`
    /// upserts): most persons hired never do (no graduate roster row, no
    /// résumé that counts), and their rows, at random places in the
    /// primary key, were one of the two index pages each relayed hire
    /// dirtied.
    const ENTITY_ROWS_FIRST: bool;

    /// `{select} WHERE {column} = key` for every key of `keys`.
    fn keyed_select(select: &str, column: &str, keys: &[&String]) -> QueryBuilder<Self>;

    /// `(id, contribution)` of the `entity_state` rows of `kind` with one
    /// of `ids` (in id order), locked until the transaction ends.
    fn lock_entity_rows(kind: &str, ids: &[&String]) -> QueryBuilder<Self>;
}

impl MetricsSql for Sqlite {
    /// The transaction already holds the database's write lock.
    const ENTITY_ROWS_FIRST: bool = false;

    fn keyed_select(select: &str, column: &str, keys: &[&String]) -> QueryBuilder<Self> {
        let mut q = QueryBuilder::new(format!("{select} WHERE {column} IN ("));
        let mut list = q.separated(", ");
        for k in keys {
            list.push_bind(k.as_str());
        }
        q.push(")");
        q
    }

    fn lock_entity_rows(kind: &str, ids: &[&String]) -> QueryBuilder<Self> {
        let mut q = QueryBuilder::new("SELECT id, contribution FROM entity_state WHERE kind = ");
        q.push_bind(kind);
        q.push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.as_str());
        }
        q.push(")");
        q
    }
}

impl MetricsSql for Postgres {
    const ENTITY_ROWS_FIRST: bool = true;

    fn keyed_select(select: &str, column: &str, keys: &[&String]) -> QueryBuilder<Self> {
        let mut q = QueryBuilder::new("SELECT r.* FROM (");
        q.push_values(keys, |mut b, k| {
            b.push_bind(k.as_str());
        });
        q.push(format!(
            ") AS k (v) CROSS JOIN LATERAL ({select} WHERE {column} = k.v OFFSET 0) AS r"
        ));
        q
    }

    /// One index probe per id, as in `keyed_select`; the lateral subquery
    /// locks its row (which also keeps it from being flattened), and the
    /// ids come in order (sorted by byte, as `COLLATE "C"`), so rows are
    /// locked in id order and transactions locking overlapping sets cannot
    /// deadlock.
    fn lock_entity_rows(kind: &str, ids: &[&String]) -> QueryBuilder<Self> {
        let mut q = QueryBuilder::new("SELECT r.id, r.contribution FROM (");
        q.push_values(ids, |mut b, id| {
            b.push_bind(id.as_str());
        });
        q.push(
            ") AS k (v) CROSS JOIN LATERAL (SELECT id, contribution FROM entity_state \
             WHERE kind = ",
        );
        q.push_bind(kind);
        q.push(" AND id = k.v FOR UPDATE) AS r");
        q
    }
}
