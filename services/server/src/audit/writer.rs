//! The audit log's writer: one task per service that appends the events
//! of a bounded queue in batches, and deletes the rows older than the
//! retention.
//!
//! A full queue makes the calls that record wait, never drops an event: an
//! audit log that silently loses entries is worse than a slower answer. A
//! batch the database refuses is tried again (with a growing pause) until
//! it commits; only while the service stops does the writer give up, after
//! a few attempts, and log how many events it lost. On shutdown the writer
//! takes no more events, appends what is queued, and ends
//! ([`AuditWriter::finish`]).

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::{
    sync::{Notify, mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{AuditRow, Event, Redactor, now_micros};

/// Events waiting for the writer; beyond it, recording waits.
pub const QUEUE_CAPACITY: usize = 4096;
/// Most events appended in one statement.
pub const BATCH: usize = 256;
/// How long the writer gathers queued events (those no call waits for)
/// before it appends them: one statement and one commit for the queries of
/// this long, not one each. The statistics queries that run beside an
/// append share the machine with it; what an append costs them is mostly
/// its statement and commit, not its rows, so fewer appends of more rows
/// cost them less. It is also the longest such a row waits to be appended,
/// and so the most of them a crash of the service may lose.
pub const LINGER: Duration = Duration::from_millis(250);
/// How often rows older than the retention are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Attempts at a batch while the service stops, before it is given up.
const ATTEMPTS_WHEN_STOPPING: u32 = 3;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where audit events are kept: the service's database
/// ([`AuditLog`](super::AuditLog)).
pub trait AuditSink: Send + Sync + 'static {
    /// Appends `rows` in one transaction.
    fn append<'a>(&'a self, rows: &'a [AuditRow]) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Deletes the rows older than `retention` before `now`
    /// (microseconds); how many.
    fn prune(&self, now: i64, retention: Duration) -> BoxFuture<'_, anyhow::Result<u64>>;
}

struct Entry {
    /// None: a flush, told once every event queued before it committed.
    event: Option<Event>,
    /// Told once the event's row committed.
    committed: Option<oneshot::Sender<()>>,
}

/// Where the layer hands events to the writer.
#[derive(Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<Entry>,
    /// Told when a batch is ready: a call waits for an entry it queued, or
    /// a batch's worth is queued. While it gathers, the writer is woken by
    /// this, not by every queued event.
    ready: Arc<Notify>,
}

impl AuditQueue {
    /// Queues `event`; when `committed`, returns only once its row
    /// committed. Waits while the queue is full.
    pub async fn record(&self, event: Event, committed: bool) {
        let method = event.method.clone();
        let (ack, done) = if committed {
            let (ack, done) = oneshot::channel();
            (Some(ack), Some(done))
        } else {
            (None, None)
        };
        let entry = Entry {
            event: Some(event),
            committed: ack,
        };
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(entry)) => {
                // In a task of its own, so that the event is queued even
                // when this call is cancelled while it waits.
                let tx = self.tx.clone();
                let sent = tokio::spawn(async move { tx.send(entry).await.is_ok() }).await;
                if !matches!(sent, Ok(true)) {
                    tracing::error!(%method, "the audit log is closed; an audit event is lost");
                    return;
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(%method, "the audit log is closed; an audit event is lost");
                return;
            }
        }
        if done.is_some() || self.tx.max_capacity() - self.tx.capacity() >= BATCH {
            self.ready.notify_one();
        }
        let Some(done) = done else { return };
        if done.await.is_err() {
            tracing::error!(%method, "the audit event of this call was not committed");
        }
    }
}

impl AuditQueue {
    /// Returns once every event queued before committed (or was given up),
    /// so that a listing in this replica shows every call it answered.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        let entry = Entry {
            event: None,
            committed: Some(ack),
        };
        if self.tx.send(entry).await.is_ok() {
            self.ready.notify_one();
            let _ = done.await;
        }
    }
}

/// The running writer.
pub struct AuditWriter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl AuditWriter {
    /// Starts the writer over `sink`, deleting rows older than `retention`
    /// (none: never) every [`PRUNE_EVERY`]; the queue to record with.
    pub fn start(
        sink: Arc<dyn AuditSink>,
        redactor: Redactor,
        retention: Option<Duration>,
    ) -> (AuditQueue, Self) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let ready = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            rx,
            ready.clone(),
            sink,
            redactor,
            retention,
            stop.clone(),
        ));
        (AuditQueue { tx, ready }, Self { stop, task })
    }

    /// Takes no more events, appends those queued, and ends.
    pub async fn finish(self) {
        self.stop.cancel();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the audit writer failed");
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Entry>,
    ready: Arc<Notify>,
    sink: Arc<dyn AuditSink>,
    redactor: Redactor,
    retention: Option<Duration>,
    stop: CancellationToken,
) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut entries = Vec::with_capacity(BATCH);
    let mut stopping = false;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled(), if !stopping => {
                rx.close();
                stopping = true;
            }
            n = rx.recv_many(&mut entries, BATCH) => {
                if n == 0 {
                    break;
                }
                if !stopping {
                    gather(&mut rx, &mut entries, &ready).await;
                }
                let rows: Vec<AuditRow> = entries
                    .iter()
                    .filter_map(|e| e.event.as_ref())
                    .map(|event| AuditRow::of(event, &redactor))
                    .collect();
                if append(&*sink, &rows, &stop).await {
                    for entry in entries.drain(..) {
                        if let Some(ack) = entry.committed {
                            let _ = ack.send(());
                        }
                    }
                } else {
                    entries.clear();
                }
            }
            _ = prune.tick(), if retention.is_some() && !stopping => {
                let retention = retention.unwrap_or(Duration::MAX);
                match sink.prune(now_micros(), retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "audit events past their retention deleted"),
                    Err(err) => tracing::warn!(error = %err, "deleting old audit events failed; trying later"),
                }
            }
        }
    }
}

/// Adds to `entries` what arrives within [`LINGER`], up to [`BATCH`],
/// unless a call waits for one of them (a recorded call or a flush). The
/// events queued meanwhile are taken when the time is up or `ready` is
/// told, not one by one as they arrive: a queued event does not wake the
/// writer.
async fn gather(rx: &mut mpsc::Receiver<Entry>, entries: &mut Vec<Entry>, ready: &Notify) {
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut time_up = false;
    loop {
        while entries.len() < BATCH
            && let Ok(entry) = rx.try_recv()
        {
            entries.push(entry);
        }
        if time_up || entries.len() >= BATCH || entries.iter().any(|e| e.committed.is_some()) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => time_up = true,
            () = ready.notified() => {}
        }
    }
}

/// Appends `rows`, trying again until they commit, or, once the service
/// stops, until a few attempts failed. Whether they committed.
async fn append(sink: &dyn AuditSink, rows: &[AuditRow], stop: &CancellationToken) -> bool {
    if rows.is_empty() {
        return true;
    }
    let mut pause = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        match sink.append(rows).await {
            Ok(()) => return true,
            Err(err) => {
                attempts += 1;
                if stop.is_cancelled() && attempts >= ATTEMPTS_WHEN_STOPPING {
                    tracing::error!(error = %err, lost = rows.len(), "audit events could not be written before the service stopped");
                    return false;
                }
                tracing::warn!(error = %err, events = rows.len(), "writing audit events failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
