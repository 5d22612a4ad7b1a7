//! What the relay reports about itself: its backlog and lag (Prometheus,
//! the `/health` detail) and whether it does its job, as recruiting's
//! gRPC health reports it under a name of its own ([`HEALTH_SERVICE`]).
//!
//! The relay is SERVING while it delivers or has nothing to deliver, and
//! NOT_SERVING once events wait and it has delivered nothing for longer
//! than its allowed lag; it recovers by itself when delivery resumes. A
//! replica without the lease is SERVING as `standby`: it delivers nothing
//! by design, and the lease holder's health speaks for the outbox. The
//! relay's health is apart from the service's (`""`), so a stalled relay
//! never takes the recruiting API out of rotation.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use talent_codes::now_micros;
use talent_server::CancellationToken;
use tokio::sync::watch;

use super::{Outbox, RelayMetrics};

/// The gRPC health name of the relay, beside the service's own names.
pub const HEALTH_SERVICE: &str = "talent.recruiting.v1.Relay";

/// What the relay is doing, as its health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    /// Another replica holds the lease; this one waits to take over.
    Standby,
    /// Nothing waits to be delivered.
    Idle,
    /// Events wait, and the relay delivered within the allowed lag.
    Delivering,
    /// Events wait, and nothing was delivered for longer than the allowed
    /// lag (metrics down, the key refused, the database unreachable).
    Stalled,
}

impl RelayState {
    pub fn name(self) -> &'static str {
        match self {
            RelayState::Standby => "standby",
            RelayState::Idle => "idle",
            RelayState::Delivering => "delivering",
            RelayState::Stalled => "stalled",
        }
    }

    /// Whether health reports SERVING in this state.
    pub fn serving(self) -> bool {
        self != RelayState::Stalled
    }

    /// The state of a relay that is on `standby` or not, with `backlog`
    /// rows waiting, whose last progress (a delivery, an empty outbox, the
    /// lease taken) was `since_progress` ago.
    pub fn judge(standby: bool, backlog: u64, since_progress: Duration, max_lag: Duration) -> Self {
        if standby {
            RelayState::Standby
        } else if backlog == 0 {
            RelayState::Idle
        } else if since_progress > max_lag {
            RelayState::Stalled
        } else {
            RelayState::Delivering
        }
    }
}

/// What the relay reports about itself (Prometheus, the health detail and
/// its gRPC health).
#[derive(Debug)]
pub struct RelayStatus {
    pub(super) backlog_rows: AtomicU64,
    pub(super) lag_micros: AtomicI64,
    pub(super) delivered: AtomicU64,
    pub(super) connected: AtomicBool,
    pub(super) sampled_at_micros: AtomicI64,
    standby: AtomicBool,
    /// The last delivery, empty outbox or lease taken.
    progress: Mutex<Instant>,
    state: watch::Sender<RelayState>,
    serving: watch::Sender<bool>,
}

impl Default for RelayStatus {
    fn default() -> Self {
        Self {
            backlog_rows: AtomicU64::default(),
            lag_micros: AtomicI64::default(),
            delivered: AtomicU64::default(),
            connected: AtomicBool::default(),
            sampled_at_micros: AtomicI64::default(),
            standby: AtomicBool::default(),
            progress: Mutex::new(Instant::now()),
            state: watch::Sender::new(RelayState::Idle),
            serving: watch::Sender::new(true),
        }
    }
}

impl RelayStatus {
    /// Rows waiting at the last check.
    pub fn backlog_rows(&self) -> u64 {
        self.backlog_rows.load(Ordering::Relaxed)
    }
    /// Age of the oldest waiting row at the last check.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_micros.load(Ordering::Relaxed).max(0) as u64)
    }
    /// Events delivered since start.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Whether a stream to metrics is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// What the relay is doing, as last judged.
    pub fn state(&self) -> RelayState {
        *self.state.borrow()
    }
    /// The state and its changes.
    pub fn state_changes(&self) -> watch::Receiver<RelayState> {
        self.state.subscribe()
    }
    /// Whether the relay is SERVING, and its changes (what gRPC health
    /// reports under [`HEALTH_SERVICE`]).
    pub fn serving(&self) -> watch::Receiver<bool> {
        self.serving.subscribe()
    }
    /// The health detail: backlog, lag, and when they were measured (a
    /// backlog of 0 measured after a write proves that write delivered);
    /// the relay's state and its gRPC health.
    pub fn detail(&self) -> serde_json::Value {
        let state = self.state();
        serde_json::json!({
            "backlog_rows": self.backlog_rows(),
            "lag_seconds": self.lag().as_secs_f64(),
            "delivered": self.delivered(),
            "connected": self.connected(),
            "sampled_at_micros": self.sampled_at_micros.load(Ordering::Relaxed),
            "state": state.name(),
            "health": if state.serving() { "SERVING" } else { "NOT_SERVING" },
        })
    }

    /// The relay delivered (or set aside) events, or found nothing to
    /// deliver.
    pub(super) fn progressed(&self) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Whether another replica holds the lease. Taking the lease counts as
    /// progress: the new holder gets the allowed lag to deliver.
    pub(super) fn set_standby(&self, standby: bool) {
        if self.standby.swap(standby, Ordering::Relaxed) && !standby {
            self.progressed();
        }
    }

    /// Judges the state from the last backlog sample, and publishes it.
    pub(super) fn judge(&self, max_lag: Duration) {
        let backlog = self.backlog_rows();
        if backlog == 0 {
            self.progressed();
        }
        let since = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        let next = RelayState::judge(
            self.standby.load(Ordering::Relaxed),
            backlog,
            since,
            max_lag,
        );
        self.state.send_if_modified(|state| {
            let changed = *state != next;
            if changed && next.serving() != state.serving() {
                if next.serving() {
                    tracing::info!(state = next.name(), "relay: delivering again");
                } else {
                    tracing::warn!(
                        backlog_rows = backlog,
                        undelivered_for_secs = since.as_secs(),
                        "relay: events wait and none was delivered for longer than relay_max_lag_secs"
                    );
                }
            }
            *state = next;
            changed
        });
        self.serving.send_if_modified(|serving| {
            let changed = *serving != next.serving();
            *serving = next.serving();
            changed
        });
    }
}

/// Samples the backlog every `interval` (Prometheus, health detail, a
/// warning when it keeps growing), judges the relay's health by it
/// ([`RelayState::judge`], with `max_lag`) and, every 600 samples, prunes
/// delivered rows past their retention.
pub(super) async fn monitor<O: Outbox>(
    outbox: O,
    metrics: RelayMetrics,
    status: Arc<RelayStatus>,
    retention: Duration,
    interval: Duration,
    max_lag: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    let mut growing = 0u32;
    let mut last = 0u64;
    let mut since_prune = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        // Taken before the query: a backlog of 0 then proves that every row
        // written before this instant was delivered.
        let now = now_micros();
        match outbox.backlog().await {
            Ok(backlog) => {
                let lag = backlog
                    .oldest_created_at_micros
                    .map_or(0, |oldest| (now - oldest).max(0));
                metrics.backlog.set(backlog.rows as i64);
                metrics.lag_seconds.set(lag as f64 / 1e6);
                status.backlog_rows.store(backlog.rows, Ordering::Relaxed);
                status.lag_micros.store(lag, Ordering::Relaxed);
                status.sampled_at_micros.store(now, Ordering::Relaxed);
                growing = if backlog.rows > last && backlog.rows > 0 {
                    growing + 1
                } else {
                    0
                };
                last = backlog.rows;
                if growing > 0 && growing.is_multiple_of(10) {
                    tracing::warn!(
                        backlog_rows = backlog.rows,
                        lag_seconds = lag / 1_000_000,
                        "relay: the outbox backlog keeps growing"
                    );
                }
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "relay: reading the backlog"),
        }
        // Without a new sample the last one stands: a relay that cannot
        // read its outbox cannot deliver it either.
        status.judge(max_lag);
        since_prune += 1;
        if since_prune >= 600 {
            since_prune = 0;
            let before = now_micros() - retention.as_micros() as i64;
            match outbox.prune_delivered(before).await {
                Ok(n) => metrics.pruned.inc_by(n),
                Err(err) => tracing::warn!(error = format!("{err:#}"), "relay: pruning"),
            }
        }
    }
}
