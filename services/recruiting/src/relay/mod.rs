//! The outbox relay: delivers the recruiting service's events to the metrics
//! service, in outbox order, and marks each row delivered only after metrics
//! acknowledged it (so delivery is at least once; metrics' dedupe by event
//! id makes the effect exactly once).
//!
//! One replica relays at a time: before each batch the relay takes or
//! renews a lease in the database ([`Outbox::acquire_lease`]). Several
//! recruiting replicas on one database therefore never deliver the same row
//! concurrently and the source's order is kept; when the leader dies, its
//! lease expires and another replica carries on where the outbox says.
//!
//! When metrics is down the relay retries with exponential backoff and full
//! jitter; after a restart of either side it resumes from the first
//! undelivered row.

use std::{
    collections::VecDeque,
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use prost::Message;
use rand::Rng;
use talent_proto::talent::{
    events::v1::Event,
    metrics::v1::{EventOutcome, PublishEventsRequest, ingest_service_client::IngestServiceClient},
};
use talent_server::CancellationToken;
use talent_server::prometheus::{self, Gauge, IntCounter, IntGauge, Registry};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{ClientTlsConfig, Endpoint};

mod health;
mod key;
mod sql;

pub use health::{HEALTH_SERVICE, RelayState, RelayStatus};
pub use key::IngestKey;
pub use sql::SqlOutbox;

/// One undelivered outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Position in the outbox; delivery follows it.
    pub seq: i64,
    /// The encoded `talent.events.v1.Event`.
    pub event: Vec<u8>,
    /// When the row was written, unix microseconds.
    pub created_at_micros: i64,
    /// The trace context of the transaction that wrote it, if traced.
    pub traceparent: Option<String>,
}

/// Rows waiting for delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub rows: u64,
    /// When the oldest waiting row was written, unix microseconds.
    pub oldest_created_at_micros: Option<i64>,
}

/// The relay's view of the outbox table.
pub trait Outbox: Clone + Send + Sync + 'static {
    /// Takes the relay lease for `holder`, or renews it if `holder` has it;
    /// `false` while another holder's lease has not expired.
    fn acquire_lease(
        &self,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Gives the lease up (a clean stop), so another replica, or this one
    /// restarted, need not wait for it to expire.
    fn release_lease(&self, holder: &str) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Up to `limit` undelivered rows with the lowest `seq` above `after`
    /// (all undelivered rows when `None`), in `seq` order.
    fn next_batch(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> impl Future<Output = anyhow::Result<Vec<OutboxRow>>> + Send;

    /// Marks rows delivered; `rejected` are those metrics refused for good
    /// (kept for inspection, never sent again).
    fn mark_delivered(
        &self,
        delivered: &[i64],
        rejected: &[i64],
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// What is waiting.
    fn backlog(&self) -> impl Future<Output = anyhow::Result<Backlog>> + Send;

    /// Deletes rows delivered before `before_micros`; returns how many.
    fn prune_delivered(
        &self,
        before_micros: i64,
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

/// How the relay is configured.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The metrics service, `http://host:port` or `https://host:port`.
    pub metrics_url: String,
    /// The TLS of an `https://` URL: the authorities trusted and, for
    /// mutual TLS, the relay's certificate.
    pub tls: Option<ClientTlsConfig>,
    /// A RELAY key of the metrics service, or the file that holds it.
    pub ingest_key: IngestKey,
    /// Events per request message (1 to 1,000).
    pub batch_size: usize,
    /// Batches sent and not yet acknowledged, at most (1 to 64): while
    /// metrics applies some, the next are read and on their way, and
    /// metrics applies those waiting in one transaction (up to four).
    pub max_in_flight: usize,
    /// How often an idle relay looks at the outbox when nothing woke it.
    pub idle_poll: Duration,
    /// First and largest pause between attempts when metrics is down.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long a batch may wait for its acknowledgement.
    pub ack_timeout: Duration,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// How long delivered rows are kept before pruning.
    pub retention: Duration,
    /// How often the backlog is measured.
    pub monitor_interval: Duration,
    /// How long events may wait without any delivery before the relay's
    /// health is NOT_SERVING.
    pub max_lag: Duration,
    /// This replica's lease holder id.
    pub holder: String,
}

impl RelayConfig {
    pub fn new(metrics_url: impl Into<String>, ingest_key: impl Into<IngestKey>) -> Self {
        Self {
            metrics_url: metrics_url.into(),
            tls: None,
            ingest_key: ingest_key.into(),
            batch_size: 1000,
            max_in_flight: 8,
            idle_poll: Duration::from_millis(500),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            monitor_interval: Duration::from_secs(1),
            max_lag: Duration::from_secs(60),
            holder: uuid::Uuid::new_v4().to_string(),
        }
    }
}

#[derive(Clone)]
struct RelayMetrics {
    backlog: IntGauge,
    lag_seconds: Gauge,
    delivered: IntCounter,
    rejected: IntCounter,
    retries: IntCounter,
    pruned: IntCounter,
}

impl RelayMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            backlog: IntGauge::new("relay_backlog_rows", "Outbox rows waiting for delivery")?,
            lag_seconds: Gauge::new(
                "relay_lag_seconds",
                "Age of the oldest outbox row waiting for delivery",
            )?,
            delivered: IntCounter::new(
                "relay_delivered_total",
                "Events acknowledged by the metrics service",
            )?,
            rejected: IntCounter::new(
                "relay_rejected_total",
                "Events the metrics service rejected for good",
            )?,
            retries: IntCounter::new(
                "relay_retries_total",
                "Interrupted deliveries (metrics down, stream broken)",
            )?,
            pruned: IntCounter::new("relay_pruned_total", "Delivered outbox rows pruned")?,
        };
        registry.register(Box::new(m.backlog.clone()))?;
        registry.register(Box::new(m.lag_seconds.clone()))?;
        registry.register(Box::new(m.delivered.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.pruned.clone()))?;
        Ok(m)
    }
}

/// The relay of one recruiting replica.
pub struct Relay<O> {
    outbox: O,
    config: RelayConfig,
    metrics: RelayMetrics,
    status: Arc<RelayStatus>,
    wake: Arc<Notify>,
}

impl<O: Outbox> Relay<O> {
    pub fn new(outbox: O, config: RelayConfig, registry: &Registry) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=1000).contains(&config.batch_size),
            "relay batch size must be 1 to 1000"
        );
        anyhow::ensure!(
            (1..=64).contains(&config.max_in_flight),
            "relay batches in flight must be 1 to 64"
        );
        anyhow::ensure!(
            config.max_lag >= Duration::from_secs(1),
            "the relay's allowed lag must be at least 1 second"
        );
        Ok(Self {
            outbox,
            config,
            metrics: RelayMetrics::register(registry)?,
            status: Arc::default(),
            wake: Arc::default(),
        })
    }

    /// The relay's current state, shared.
    pub fn status(&self) -> Arc<RelayStatus> {
        self.status.clone()
    }

    /// Notified after a transaction wrote outbox rows, so that the relay
    /// does not wait for its next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Delivers until `shutdown` is cancelled; the batch in flight when it
    /// is finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let monitor = tokio::spawn(health::monitor(
            self.outbox.clone(),
            self.metrics.clone(),
            self.status.clone(),
            self.config.retention,
            self.config.monitor_interval,
            self.config.max_lag,
            shutdown.clone(),
        ));
        let mut attempt = 0u32;
        while !shutdown.is_cancelled() {
            match self.session(&shutdown, &mut attempt).await {
                Ok(()) => break,
                Err(err) if err.is::<IdleStreamEnded>() => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    tracing::debug!("relay: metrics ended the idle stream; opening another");
                }
                Err(err) => {
                    self.status.connected.store(false, Ordering::Relaxed);
                    self.metrics.retries.inc();
                    let delay = backoff(attempt, self.config.backoff_min, self.config.backoff_max);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(
                        error = format!("{err:#}"),
                        retry_in_ms = delay.as_millis() as u64,
                        "relay: delivery interrupted"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        self.status.connected.store(false, Ordering::Relaxed);
        if let Err(err) = self.outbox.release_lease(&self.config.holder).await {
            tracing::warn!(error = format!("{err:#}"), "relay: releasing the lease");
        }
        let _ = monitor.await;
    }

    /// One connection to metrics: delivers batches until shutdown (Ok) or
    /// until anything fails (Err, and the caller backs off).
    async fn session(&self, shutdown: &CancellationToken, attempt: &mut u32) -> anyhow::Result<()> {
        // Read before taking the lease: a replica whose key file is not
        // written yet must not hold up one that could deliver.
        let ingest_key = self.config.ingest_key.read()?;
        // Only the lease holder opens a stream.
        while !self
            .outbox
            .acquire_lease(&self.config.holder, self.config.lease_ttl)
            .await?
        {
            self.status.set_standby(true);
            tokio::select! {
                () = tokio::time::sleep(self.config.idle_poll) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
        self.status.set_standby(false);

        let mut endpoint =
            Endpoint::from_shared(self.config.metrics_url.clone()).context("the metrics URL")?;
        if let Some(tls) = &self.config.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .context("the TLS settings of the metrics URL")?;
        }
        let channel = endpoint
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect()
            .await
            .context("connecting to the metrics service")?;
        let (requests, stream) = mpsc::channel::<PublishEventsRequest>(self.config.max_in_flight);
        let mut request = tonic::Request::new(ReceiverStream::new(stream));
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {ingest_key}")
                .parse()
                .context("the ingest key is not valid header text")?,
        );
        let mut acks = IngestServiceClient::new(channel)
            .publish_events(request)
            .await
            .context("opening PublishEvents")?
            .into_inner();
        self.status.connected.store(true, Ordering::Relaxed);

        // Batches sent and not yet acknowledged, oldest first; metrics
        // acknowledges them in order. While batches are in flight, rows
        // are read past the last one sent, so a batch is never sent twice
        // on one stream.
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut last_sent: Option<i64> = None;
        let mut renewed = Instant::now();
        let mut drained = false;
        let mut marks = Marks::new(self.outbox.clone());
        loop {
            marks.start();
            let stopping = shutdown.is_cancelled();
            if stopping && in_flight.is_empty() {
                if marks.idle() {
                    return Ok(());
                }
                // Acknowledged rows are marked before the relay stops.
                marks.finished().await?;
                continue;
            }
            // The lease is renewed well before it would expire, not before
            // every batch: a third of its lifetime at most between renewals.
            if renewed.elapsed() >= self.config.lease_ttl / 3 {
                if !self
                    .outbox
                    .acquire_lease(&self.config.holder, self.config.lease_ttl)
                    .await?
                {
                    bail!("another replica took the relay lease");
                }
                renewed = Instant::now();
            }

            // A short batch (the outbox had fewer rows than a batch) is
            // the only one of its kind in flight: rows committed meanwhile
            // wait for its acknowledgement and then go as one batch, so
            // the batches grow with the rate (each costs metrics one
            // durable transaction) while a lone hire still goes at once.
            let short_in_flight = in_flight.iter().any(|b| b.short);
            if !stopping && in_flight.len() < self.config.max_in_flight && !short_in_flight {
                // With nothing in flight and every acknowledged row marked,
                // read from the first undelivered row again, as after a
                // reconnect: a row that became undelivered behind the last
                // one sent (an operator's reset, say) is not left behind.
                if in_flight.is_empty() && marks.idle() {
                    last_sent = None;
                }
                let rows = self
                    .outbox
                    .next_batch(last_sent, self.config.batch_size)
                    .await?;
                drained = rows.is_empty();
                let short = rows.len() < self.config.batch_size;
                if let Some(last) = rows.last() {
                    last_sent = Some(last.seq);
                    let mut events = Vec::with_capacity(rows.len());
                    let mut undecodable = Vec::new();
                    for row in &rows {
                        match Event::decode(row.event.as_slice()) {
                            Ok(mut event) => {
                                if let Some(traceparent) = &row.traceparent {
                                    event.traceparent.clone_from(traceparent);
                                }
                                events.push((row.seq, event));
                            }
                            // Written by this service: a bug, but one row must not
                            // stop the outbox forever.
                            Err(err) => {
                                tracing::error!(seq = row.seq, error = %err, "relay: undecodable outbox row set aside");
                                undecodable.push(row.seq);
                            }
                        }
                    }
                    if events.is_empty() {
                        marks.push(Vec::new(), undecodable);
                        continue;
                    }
                    let sent: Vec<(i64, String)> = events
                        .iter()
                        .map(|(seq, e)| (*seq, e.event_id.clone()))
                        .collect();
                    // From sending to acknowledgement; linked to the call
                    // that wrote each event.
                    let span = tracing::info_span!("relay.batch", events = sent.len());
                    talent_server::telemetry::link_all(
                        &span,
                        events.iter().map(|(_, e)| e.traceparent.as_str()),
                    );
                    requests
                        .send(PublishEventsRequest {
                            events: events.into_iter().map(|(_, e)| e).collect(),
                        })
                        .await
                        .map_err(|_| anyhow!("the PublishEvents stream closed"))?;
                    in_flight.push_back(InFlight {
                        sent,
                        undecodable,
                        short,
                        _span: span,
                        deadline: tokio::time::Instant::now() + self.config.ack_timeout,
                    });
                    // Fill the pipeline before waiting.
                    continue;
                }
            }

            let Some(oldest) = in_flight.front() else {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.config.idle_poll) => {}
                    () = shutdown.cancelled() => {}
                    r = marks.finished() => r?,
                    // Metrics ends a stream that sends nothing for its
                    // `stream_idle_timeout_secs`: an idle outbox, not a
                    // failure, so the next session starts at once and
                    // quietly (after the marks, so nothing is sent twice).
                    ended = acks.message() => {
                        if let Err(status) = &ended
                            && status.code() == tonic::Code::DeadlineExceeded
                        {
                            loop {
                                marks.start();
                                if marks.idle() {
                                    break;
                                }
                                marks.finished().await?;
                            }
                            return Err(IdleStreamEnded.into());
                        }
                        ended.context("PublishEvents failed")?;
                        bail!("metrics ended the stream");
                    }
                }
                continue;
            };
            // Wait for the oldest batch's acknowledgement; with room in the
            // pipeline and an outbox read empty, look again after the idle
            // poll so new rows need not wait for the acknowledgement.
            let look_again = !stopping && drained && in_flight.len() < self.config.max_in_flight;
            let deadline = oldest.deadline;
            let response = tokio::select! {
                r = tokio::time::timeout_at(deadline, acks.message()) => r
                    .context("no acknowledgement in time")?
                    .context("PublishEvents failed")?
                    .ok_or_else(|| anyhow!("metrics ended the stream"))?,
                () = tokio::time::sleep(self.config.idle_poll), if look_again => continue,
                () = self.wake.notified(), if look_again => continue,
                r = marks.finished() => { r?; continue }
            };
            let Some(batch) = in_flight.pop_front() else {
                bail!("an acknowledgement without a batch");
            };
            let (delivered, rejected) = self.acknowledged(batch, response)?;
            marks.push(delivered, rejected);
            *attempt = 0;
        }
    }

    /// Checks a batch's acknowledgement and counts it; returns the rows to
    /// mark delivered and those to set aside (rejected).
    fn acknowledged(
        &self,
        batch: InFlight,
        response: talent_proto::talent::metrics::v1::PublishEventsResponse,
    ) -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
        let InFlight {
            sent, undecodable, ..
        } = batch;
        if response.acks.len() != sent.len() {
            bail!(
                "metrics acknowledged {} events of {}",
                response.acks.len(),
                sent.len()
            );
        }
        let mut delivered = Vec::with_capacity(sent.len());
        let mut rejected = undecodable;
        for ((seq, event_id), ack) in sent.iter().zip(&response.acks) {
            if &ack.event_id != event_id {
                bail!("acknowledgements out of order");
            }
            match ack.outcome() {
                EventOutcome::Applied | EventOutcome::Duplicate => delivered.push(*seq),
                EventOutcome::Rejected => {
                    tracing::error!(
                        seq,
                        event_id = %event_id,
                        reason = ack.error.as_ref().map(|s| s.message.as_str()).unwrap_or(""),
                        "relay: metrics rejected an event; set aside"
                    );
                    rejected.push(*seq);
                }
                EventOutcome::Unspecified => bail!("an acknowledgement without outcome"),
            }
        }
        self.metrics.delivered.inc_by(delivered.len() as u64);
        self.metrics.rejected.inc_by(rejected.len() as u64);
        self.status
            .delivered
            .fetch_add(delivered.len() as u64, Ordering::Relaxed);
        self.status.progressed();
        Ok((delivered, rejected))
    }
}

/// Metrics ended the relay's stream because it carried nothing for a while.
#[derive(Debug, thiserror::Error)]
#[error("metrics ended the idle PublishEvents stream")]
struct IdleStreamEnded;

/// Acknowledged rows waiting to be marked delivered, and the one marking
/// statement running beside the relay loop.
///
/// Marking is off the loop's path: the loop keeps reading and sending past
/// the last row sent while the rows acknowledged before are marked, and the
/// rows acknowledged meanwhile are marked together by the next statement.
/// On SQLite the marking statement waits for the database's write lock
/// behind the API's transactions; awaited in the loop, that wait stopped
/// delivery. A row acknowledged but
/// not yet marked when the relay fails is sent again after the reconnect,
/// and metrics acknowledges it as a duplicate.
struct Marks<O> {
    outbox: O,
    delivered: Vec<i64>,
    rejected: Vec<i64>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl<O: Outbox> Marks<O> {
    fn new(outbox: O) -> Self {
        Self {
            outbox,
            delivered: Vec::new(),
            rejected: Vec::new(),
            running: None,
        }
    }

    fn push(&mut self, delivered: Vec<i64>, rejected: Vec<i64>) {
        self.delivered.extend(delivered);
        self.rejected.extend(rejected);
    }

    /// Nothing waits to be marked and no marking runs.
    fn idle(&self) -> bool {
        self.running.is_none() && self.delivered.is_empty() && self.rejected.is_empty()
    }

    /// Starts marking everything waiting, unless a marking already runs.
    fn start(&mut self) {
        if self.running.is_some() || (self.delivered.is_empty() && self.rejected.is_empty()) {
            return;
        }
        let outbox = self.outbox.clone();
        let delivered = std::mem::take(&mut self.delivered);
        let rejected = std::mem::take(&mut self.rejected);
        self.running = Some(tokio::spawn(async move {
            outbox.mark_delivered(&delivered, &rejected).await
        }));
    }

    /// Resolves when the running marking ends (with its error, if it
    /// failed); never, while none runs. Cancel-safe.
    async fn finished(&mut self) -> anyhow::Result<()> {
        let Some(running) = &mut self.running else {
            return std::future::pending().await;
        };
        let result = running.await;
        self.running = None;
        result
            .context("the marking task")?
            .context("marking rows delivered")
    }
}

/// A batch on the stream waiting for its acknowledgement.
struct InFlight {
    /// (outbox seq, event id) of each event sent, in order.
    sent: Vec<(i64, String)>,
    /// Rows of the batch that could not be decoded (set aside with it).
    undecodable: Vec<i64>,
    /// Fewer rows than a batch: no other batch is read until it is
    /// acknowledged.
    short: bool,
    /// When its acknowledgement is overdue.
    deadline: tokio::time::Instant,
    /// The batch's span, which ends when the batch is dropped.
    _span: tracing::Span,
}

/// Exponential backoff with jitter: a random pause between half and all of
/// `min × 2^attempt`, capped at `max`, so that replicas that lost metrics at
/// the same moment do not come back in step.
fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let ceiling = min
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(max)
        .max(min);
    let micros = ceiling.as_micros() as u64;
    Duration::from_micros(rand::rng().random_range(micros / 2..=micros))
}

#[cfg(test)]
mod tests;
