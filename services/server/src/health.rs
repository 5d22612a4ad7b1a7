//! Whether the service's database answers, as its health reports it.
//!
//! A probe (`SELECT 1`) runs at most once per [`PROBE_INTERVAL`], never per
//! call, and its answer turns the service SERVING or NOT_SERVING by itself.
//! Corruption is different: once a call or the probe met it
//! ([`DbFault::Corrupt`]), the service stays NOT_SERVING until it is
//! restarted, because only an operator can repair the file.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    Db,
    db_error::{self, DbFault},
};

/// How often the database is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What the last probe, or a call, learned about the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    Answering,
    NotAnswering,
    Corrupt,
}

impl DbState {
    pub fn name(self) -> &'static str {
        match self {
            DbState::Answering => "answering",
            DbState::NotAnswering => "not_answering",
            DbState::Corrupt => "corrupt",
        }
    }

    /// The state after a probe answered `probe`: corruption is kept.
    pub fn after(self, probe: Result<(), DbFault>) -> Self {
        match (self, probe) {
            (DbState::Corrupt, _) | (_, Err(DbFault::Corrupt)) => DbState::Corrupt,
            (_, Ok(())) => DbState::Answering,
            (_, Err(_)) => DbState::NotAnswering,
        }
    }
}

/// The database's state, shared by the probe, the call layer (which
/// reports corruption it sees in a response) and health.
#[derive(Debug)]
pub struct DbHealth {
    state: watch::Sender<DbState>,
}

impl Default for DbHealth {
    fn default() -> Self {
        Self {
            state: watch::Sender::new(DbState::Answering),
        }
    }
}

impl DbHealth {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn state(&self) -> DbState {
        *self.state.borrow()
    }

    /// Changes of the state.
    pub fn subscribe(&self) -> watch::Receiver<DbState> {
        self.state.subscribe()
    }

    /// A call met a corrupt database.
    pub fn mark_corrupt(&self) {
        self.observe(Err(DbFault::Corrupt));
    }

    fn observe(&self, probe: Result<(), DbFault>) {
        self.state.send_if_modified(|state| {
            let next = state.after(probe);
            let changed = next != *state;
            if changed {
                tracing::warn!(from = state.name(), to = next.name(), "database state");
            }
            *state = next;
            changed
        });
    }

    /// Probes `db` every [`PROBE_INTERVAL`] until `stop` is cancelled.
    pub async fn probe(self: Arc<Self>, db: Db, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            // A probe that does not answer within the interval counts as a
            // database that does not answer (an unreachable PostgreSQL
            // otherwise holds it for the pool's whole acquire timeout).
            let answer = match tokio::time::timeout(PROBE_INTERVAL, select_one(&db)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(match db_error::classify(&err) {
                    DbFault::Corrupt => DbFault::Corrupt,
                    _ => DbFault::Unavailable {
                        retry_after: PROBE_INTERVAL,
                    },
                }),
                Err(_) => Err(DbFault::Unavailable {
                    retry_after: PROBE_INTERVAL,
                }),
            };
            self.observe(answer);
        }
    }
}

async fn select_one(db: &Db) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_move_the_state_and_corruption_stays() {
        let unreachable = || {
            Err(DbFault::Unavailable {
                retry_after: PROBE_INTERVAL,
            })
        };
        let state = DbState::Answering.after(unreachable());
        assert_eq!(state, DbState::NotAnswering);
        let state = state.after(Ok(()));
        assert_eq!(state, DbState::Answering);
        let state = state.after(Err(DbFault::Corrupt));
        assert_eq!(state, DbState::Corrupt);
        assert_eq!(state.after(Ok(())), DbState::Corrupt);
        assert_eq!(state.after(unreachable()), DbState::Corrupt);
    }

    #[tokio::test]
    async fn the_probe_sees_a_closed_pool_and_corruption_sticks() {
        let db = Db::open("sqlite::memory:", 1).await.unwrap();
        let health = DbHealth::new();
        let stop = CancellationToken::new();
        let mut changes = health.subscribe();
        let task = tokio::spawn(health.clone().probe(db.clone(), stop.clone()));
        db.close().await;
        changes.changed().await.unwrap();
        assert_eq!(health.state(), DbState::NotAnswering);
        health.mark_corrupt();
        assert_eq!(health.state(), DbState::Corrupt);
        stop.cancel();
        task.await.unwrap();
    }
}
