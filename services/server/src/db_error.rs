//! What a database error means for the caller, decided once for both
//! services and both back ends.
//!
//! [`classify`] is a pure function over the error's kind and code (the
//! SQLite result code, the PostgreSQL SQLSTATE). The status each class
//! becomes is decided in [`error`](crate::error): a storage fault is
//! `UNAVAILABLE` (retry later), a conflict is retried inside the service
//! ([`retry_conflicts`]) and then `ABORTED`, and only what is left is
//! `INTERNAL`, a bug.

use std::{future::Future, time::Duration};

/// How long a caller should wait before retrying a busy or locked database:
/// another transaction holds it for a moment.
pub const RETRY_BUSY: Duration = Duration::from_millis(100);
/// How long a caller should wait before retrying an unreachable, full or
/// failing database: an operator or a restart has to act first.
pub const RETRY_UNREACHABLE: Duration = Duration::from_secs(1);
/// How many times a transaction lost to a deadlock or a serialization
/// failure is run again before the caller gets `ABORTED`.
pub const CONFLICT_RETRIES: u32 = 5;

/// The class of a database error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFault {
    /// Unreachable, refused, timed out waiting for a connection, busy,
    /// locked, full or failing to read or write: the same call may succeed
    /// after `retry_after`.
    Unavailable { retry_after: Duration },
    /// The database file or an index is damaged: no retry helps until an
    /// operator acts, so the service stops reporting itself serving.
    Corrupt,
    /// A deadlock or a serialization failure: the transaction was rolled
    /// back whole and may simply be run again.
    Conflict,
    /// A constraint the database enforces, by name when the database names
    /// it; the store maps the ones that mean a client mistake.
    Constraint(Option<String>),
    /// Anything else: a bug in this code.
    Bug,
}

impl DbFault {
    fn unavailable(retry_after: Duration) -> Self {
        Self::Unavailable { retry_after }
    }
}

/// The class of `err`.
pub fn classify(err: &sqlx::Error) -> DbFault {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFault::unavailable(RETRY_UNREACHABLE),
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's (extended) result code, as digits.
                let code = db.code().and_then(|c| c.parse().ok()).unwrap_or(0);
                classify_sqlite(code, db.constraint())
            } else {
                classify_sqlstate(db.code().as_deref().unwrap_or(""), db.constraint())
            }
        }
        _ => DbFault::Bug,
    }
}

/// The class of an SQLite (extended) result code.
pub fn classify_sqlite(code: i32, constraint: Option<&str>) -> DbFault {
    // The primary code is the low byte of an extended one
    // (SQLITE_IOERR_WRITE is 778, SQLITE_IOERR is 10).
    match code & 0xff {
        // SQLITE_BUSY, SQLITE_LOCKED
        5 | 6 => DbFault::unavailable(RETRY_BUSY),
        // SQLITE_NOMEM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL,
        // SQLITE_CANTOPEN, SQLITE_PROTOCOL
        7 | 8 | 10 | 13 | 14 | 15 => DbFault::unavailable(RETRY_UNREACHABLE),
        // SQLITE_CORRUPT, SQLITE_NOTADB
        11 | 26 => DbFault::Corrupt,
        // SQLITE_CONSTRAINT
        19 => DbFault::Constraint(constraint.map(str::to_owned)),
        _ => DbFault::Bug,
    }
}

/// The class of a PostgreSQL SQLSTATE.
pub fn classify_sqlstate(code: &str, constraint: Option<&str>) -> DbFault {
    match code {
        "40001" | "40P01" => DbFault::Conflict,
        "XX001" | "XX002" => DbFault::Corrupt,
        // lock_not_available: another transaction holds the row.
        "55P03" => DbFault::unavailable(RETRY_BUSY),
        // admin_shutdown (pg_terminate_backend, a fast shutdown),
        // crash_shutdown, cannot_connect_now (starting or recovering),
        // query_canceled, a read-only transaction (a standby after a
        // failover).
        "57P01" | "57P02" | "57P03" | "57014" | "25006" => DbFault::unavailable(RETRY_UNREACHABLE),
        // Class 08 connection exception, 53 insufficient resources (53100
        // disk full, 53300 too many connections), 58 system error (I/O).
        _ if ["08", "53", "58"]
            .iter()
            .any(|class| code.starts_with(class)) =>
        {
            DbFault::unavailable(RETRY_UNREACHABLE)
        }
        _ if code.starts_with("23") => DbFault::Constraint(constraint.map(str::to_owned)),
        _ => DbFault::Bug,
    }
}

/// The fault of the first database error in `err`'s cause chain, unless it
/// is a bug or an unmapped constraint (those stay internal errors).
pub fn fault_in(err: &anyhow::Error) -> Option<DbFault> {
    let fault = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .map(classify)?;
    match fault {
        DbFault::Bug | DbFault::Constraint(_) => None,
        fault => Some(fault),
    }
}

/// Runs the transaction `attempt` makes again while it fails with a
/// conflict (`is_conflict`, such as [`ApiError::is_conflict`](crate::ApiError::is_conflict)), at most [`CONFLICT_RETRIES`] more times; the
/// last error is returned as it is (it becomes `ABORTED`).
pub async fn retry_conflicts<T, E, F, Fut>(
    is_conflict: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(e) if retries < CONFLICT_RETRIES && is_conflict(&e) => retries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(retry_after: Duration) -> DbFault {
        DbFault::Unavailable { retry_after }
    }

    #[test]
    fn lost_connections_and_pool_timeouts_are_unavailable() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for err in [
            sqlx::Error::Io(reset),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            assert_eq!(classify(&err), unavailable(RETRY_UNREACHABLE), "{err}");
        }
    }

    #[test]
    fn other_driver_errors_are_bugs() {
        assert_eq!(classify(&sqlx::Error::RowNotFound), DbFault::Bug);
        assert_eq!(
            classify(&sqlx::Error::ColumnNotFound("x".into())),
            DbFault::Bug
        );
    }

    #[test]
    fn sqlite_codes() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT (517)
        for code in [5, 6, 517] {
            assert_eq!(classify_sqlite(code, None), unavailable(RETRY_BUSY));
        }
        // SQLITE_FULL, SQLITE_IOERR, SQLITE_IOERR_WRITE (778), SQLITE_CANTOPEN
        for code in [13, 10, 778, 14] {
            assert_eq!(classify_sqlite(code, None), unavailable(RETRY_UNREACHABLE));
        }
        // SQLITE_CORRUPT, SQLITE_CORRUPT_INDEX (779), SQLITE_NOTADB
        for code in [11, 779, 26] {
            assert_eq!(classify_sqlite(code, None), DbFault::Corrupt);
        }
        // SQLITE_CONSTRAINT_UNIQUE (2067)
        assert_eq!(
            classify_sqlite(2067, Some("posting_key")),
            DbFault::Constraint(Some("posting_key".into()))
        );
        // SQLITE_ERROR (a syntax error), SQLITE_MISMATCH
        assert_eq!(classify_sqlite(1, None), DbFault::Bug);
        assert_eq!(classify_sqlite(20, None), DbFault::Bug);
    }

    #[test]
    fn postgres_sqlstates() {
        assert_eq!(classify_sqlstate("40P01", None), DbFault::Conflict);
        assert_eq!(classify_sqlstate("40001", None), DbFault::Conflict);
        assert_eq!(classify_sqlstate("XX001", None), DbFault::Corrupt);
        assert_eq!(classify_sqlstate("XX002", None), DbFault::Corrupt);
        for code in [
            "57P01", "08006", "08001", "53100", "53300", "58030", "57P03",
        ] {
            assert_eq!(
                classify_sqlstate(code, None),
                unavailable(RETRY_UNREACHABLE),
                "{code}"
            );
        }
        assert_eq!(classify_sqlstate("55P03", None), unavailable(RETRY_BUSY));
        assert_eq!(
            classify_sqlstate("23505", Some("posting_key")),
            DbFault::Constraint(Some("posting_key".into()))
        );
        // undefined_table, syntax_error, an internal error that is no
        // corruption
        for code in ["42P01", "42601", "XX000", ""] {
            assert_eq!(classify_sqlstate(code, None), DbFault::Bug, "{code}");
        }
    }

    #[tokio::test]
    async fn conflicts_are_retried_a_bounded_number_of_times() {
        let mut calls = 0;
        let result: Result<(), &str> = retry_conflicts(
            |e: &&str| *e == "conflict",
            || {
                calls += 1;
                async { Err("conflict") }
            },
        )
        .await;
        assert_eq!(result, Err("conflict"));
        assert_eq!(calls, CONFLICT_RETRIES + 1);

        let mut calls = 0;
        let result: Result<u32, &str> = retry_conflicts(
            |e: &&str| *e == "conflict",
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("conflict") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<(), &str> = retry_conflicts(
            |e: &&str| *e == "conflict",
            || {
                calls += 1;
                async { Err("full") }
            },
        )
        .await;
        assert_eq!(result, Err("full"));
        assert_eq!(calls, 1);
    }
}
