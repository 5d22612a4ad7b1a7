use std::{
    collections::{BTreeMap, HashSet},
    net::SocketAddr,
    sync::{Mutex, atomic::AtomicU64},
};

use talent_proto::talent::{
    events::v1::{Event, FairHeld, event::Payload},
    metrics::v1::{
        EventAck, PublishEventsResponse,
        ingest_service_server::{IngestService, IngestServiceServer},
    },
};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::*;

type BoxStream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The outbox in memory, with the same contract as the database one.
#[derive(Clone, Default)]
struct MemoryOutbox {
    inner: Arc<Mutex<MemoryState>>,
    /// When set, every marking waits for a permit (a database whose
    /// write lock is busy).
    mark_gate: Option<Arc<tokio::sync::Semaphore>>,
}

#[derive(Default)]
struct MemoryState {
    rows: BTreeMap<i64, (Vec<u8>, Option<bool>)>, // seq -> (event, delivered? rejected?)
    lease: Option<String>,
}

impl MemoryOutbox {
    fn with_events(n: usize) -> Self {
        let outbox = Self::default();
        {
            let mut state = outbox.inner.lock().unwrap();
            for seq in 1..=n as i64 {
                state.rows.insert(seq, (event(seq).encode_to_vec(), None));
            }
        }
        outbox
    }
    fn undelivered(&self) -> usize {
        let state = self.inner.lock().unwrap();
        state.rows.values().filter(|(_, d)| d.is_none()).count()
    }
}

impl Outbox for MemoryOutbox {
    async fn acquire_lease(&self, holder: &str, _ttl: Duration) -> anyhow::Result<bool> {
        let mut state = self.inner.lock().unwrap();
        match &state.lease {
            Some(current) if current != holder => Ok(false),
            _ => {
                state.lease = Some(holder.to_owned());
                Ok(true)
            }
        }
    }
    async fn release_lease(&self, holder: &str) -> anyhow::Result<()> {
        let mut state = self.inner.lock().unwrap();
        if state.lease.as_deref() == Some(holder) {
            state.lease = None;
        }
        Ok(())
    }
    async fn next_batch(&self, after: Option<i64>, limit: usize) -> anyhow::Result<Vec<OutboxRow>> {
        let state = self.inner.lock().unwrap();
        Ok(state
            .rows
            .iter()
            .filter(|(seq, (_, d))| d.is_none() && after.is_none_or(|a| **seq > a))
            .take(limit)
            .map(|(seq, (event, _))| OutboxRow {
                seq: *seq,
                event: event.clone(),
                created_at_micros: 0,
                traceparent: None,
            })
            .collect())
    }
    async fn mark_delivered(&self, delivered: &[i64], rejected: &[i64]) -> anyhow::Result<()> {
        if let Some(gate) = &self.mark_gate {
            gate.acquire().await.unwrap().forget();
        }
        let mut state = self.inner.lock().unwrap();
        for seq in delivered {
            state.rows.get_mut(seq).unwrap().1 = Some(true);
        }
        for seq in rejected {
            state.rows.get_mut(seq).unwrap().1 = Some(false);
        }
        Ok(())
    }
    async fn backlog(&self) -> anyhow::Result<Backlog> {
        Ok(Backlog {
            rows: self.undelivered() as u64,
            oldest_created_at_micros: None,
        })
    }
    async fn prune_delivered(&self, _before: i64) -> anyhow::Result<u64> {
        Ok(0)
    }
}

fn event(seq: i64) -> Event {
    Event {
        event_id: format!("00000000-0000-4000-8000-{seq:012}"),
        source: "recruiting".into(),
        sequence: seq as u64,
        payload: Some(Payload::FairHeld(FairHeld::default())),
        ..Default::default()
    }
}

/// A metrics service that applies each event id once, and can be told
/// to refuse the first streams or to break a stream after applying.
#[derive(Clone, Default)]
struct FakeMetrics {
    applied: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<HashSet<String>>>,
    duplicates: Arc<AtomicU64>,
    refuse_streams: Arc<AtomicU64>,
    /// Break the stream after applying (but before acknowledging) the
    /// batch with this number, counted over all streams; 0 = never.
    break_at_batch: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    reject_sequence: Arc<AtomicU64>,
    /// Hold every acknowledgement of a stream back until this many
    /// batches arrived on it (0 = acknowledge at once): a relay that
    /// waits for each acknowledgement before sending the next batch
    /// never gets one.
    hold_acks_until: Arc<AtomicU64>,
    /// The number of events of each batch received, in order.
    sizes: Arc<Mutex<Vec<usize>>>,
    /// When set, every acknowledgement waits for a permit.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

#[tonic::async_trait]
impl IngestService for FakeMetrics {
    async fn publish_events(
        &self,
        request: Request<Streaming<PublishEventsRequest>>,
    ) -> Result<Response<BoxStream<PublishEventsResponse>>, Status> {
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer ingest-secret"
        );
        if self.refuse_streams.load(Ordering::SeqCst) > 0 {
            self.refuse_streams.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::unavailable("starting up"));
        }
        let this = self.clone();
        let mut inbound = request.into_inner();
        let out = async_stream_like(move |tx| async move {
            let mut held = Vec::new();
            let mut received = 0u64;
            while let Some(Ok(message)) = inbound.next().await {
                received += 1;
                this.sizes.lock().unwrap().push(message.events.len());
                let mut acks = Vec::new();
                for e in message.events {
                    let outcome = if e.sequence == this.reject_sequence.load(Ordering::SeqCst) {
                        EventOutcome::Rejected
                    } else if this.seen.lock().unwrap().insert(e.event_id.clone()) {
                        this.applied.lock().unwrap().push(e.event_id.clone());
                        EventOutcome::Applied
                    } else {
                        this.duplicates.fetch_add(1, Ordering::SeqCst);
                        EventOutcome::Duplicate
                    };
                    acks.push(EventAck {
                        event_id: e.event_id,
                        source: e.source,
                        sequence: e.sequence,
                        outcome: outcome as i32,
                        error: None,
                    });
                }
                let batch = this.batches.fetch_add(1, Ordering::SeqCst) + 1;
                if batch == this.break_at_batch.load(Ordering::SeqCst) {
                    let _ = tx
                        .send(Err(Status::unavailable("crashed after commit")))
                        .await;
                    return;
                }
                held.push(PublishEventsResponse { acks });
                if received < this.hold_acks_until.load(Ordering::SeqCst) {
                    continue;
                }
                for response in held.drain(..) {
                    if let Some(gate) = &this.gate {
                        gate.acquire().await.unwrap().forget();
                    }
                    if tx.send(Ok(response)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(out))
    }
}

/// A response stream fed by a task.
fn async_stream_like<F, Fut>(body: F) -> BoxStream<PublishEventsResponse>
where
    F: FnOnce(mpsc::Sender<Result<PublishEventsResponse, Status>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(body(tx));
    Box::pin(ReceiverStream::new(rx))
}

async fn serve(fake: FakeMetrics) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IngestServiceServer::new(fake))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async move { signal.cancelled().await },
            ),
    );
    (addr, stop)
}

fn config(addr: SocketAddr, holder: &str) -> RelayConfig {
    RelayConfig {
        batch_size: 7,
        idle_poll: Duration::from_millis(10),
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        holder: holder.into(),
        ..RelayConfig::new(format!("http://{addr}"), "ingest-secret")
    }
}

/// Waits until every row of the outbox is delivered (a minute at most).
async fn drained(outbox: &MemoryOutbox) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while outbox.undelivered() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the relay drains the outbox");
}

/// Runs a relay until the outbox is empty, then stops it.
async fn relay_until_drained(outbox: MemoryOutbox, config: RelayConfig) {
    let relay = Relay::new(outbox.clone(), config, &Registry::new()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    drained(&outbox).await;
    stop.cancel();
    task.await.unwrap();
}

fn ids(range: std::ops::RangeInclusive<i64>) -> Vec<String> {
    range.map(|seq| event(seq).event_id).collect()
}

#[test]
fn seq_runs_cover_exactly_the_seqs_given() {
    assert_eq!(super::sql::seq_runs(&[]), vec![]);
    assert_eq!(
        super::sql::seq_runs(&[9, 3, 4, 5, 7, 4, 10, 12]),
        vec![(3, 5), (7, 7), (9, 10), (12, 12)]
    );
}

#[tokio::test]
async fn delivers_every_row_once_in_order() {
    let fake = FakeMetrics::default();
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(50);
    relay_until_drained(outbox.clone(), config(addr, "a")).await;
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=50));
    // A clean stop gives the lease up for the next replica.
    assert_eq!(outbox.inner.lock().unwrap().lease, None);
    assert_eq!(fake.duplicates.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn keeps_several_batches_in_flight() {
    let fake = FakeMetrics::default();
    // No acknowledgement before the third batch of the stream arrives.
    fake.hold_acks_until.store(3, Ordering::SeqCst);
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(50);
    let config = RelayConfig {
        max_in_flight: 3,
        ..config(addr, "a")
    };
    relay_until_drained(outbox, config).await;
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=50));
    assert_eq!(fake.duplicates.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rows_committed_behind_a_short_batch_wait_and_go_together() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = FakeMetrics {
        gate: Some(gate.clone()),
        ..FakeMetrics::default()
    };
    let (addr, _stop) = serve(fake.clone()).await;
    // Three rows: a short batch (the batch size is 7).
    let outbox = MemoryOutbox::with_events(3);
    let relay = Relay::new(outbox.clone(), config(addr, "a"), &Registry::new()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    while fake.batches.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Rows committed while the short batch waits for its
    // acknowledgement, in two commits, each followed by more than the
    // relay's idle poll: none is read before the acknowledgement.
    for seqs in [4..=5, 6..=7] {
        {
            let mut state = outbox.inner.lock().unwrap();
            for seq in seqs {
                state.rows.insert(seq, (event(seq).encode_to_vec(), None));
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    gate.add_permits(100);
    drained(&outbox).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(*fake.sizes.lock().unwrap(), vec![3, 4]);
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=7));
}

#[tokio::test]
async fn delivery_goes_on_while_marking_rows_delivered_waits() {
    let fake = FakeMetrics::default();
    let (addr, _stop) = serve(fake.clone()).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let outbox = MemoryOutbox {
        mark_gate: Some(gate.clone()),
        ..MemoryOutbox::with_events(50)
    };
    let relay = Relay::new(outbox.clone(), config(addr, "a"), &Registry::new()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    // No row can be marked delivered, yet every batch (8 of them, two
    // times more than may be in flight) reaches metrics.
    tokio::time::timeout(Duration::from_secs(60), async {
        while fake.applied.lock().unwrap().len() < 50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("delivery does not wait for the marking");
    assert_eq!(outbox.undelivered(), 50);
    // A stop waits for the acknowledged rows to be marked.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!task.is_finished());
    gate.add_permits(1000);
    task.await.unwrap();
    assert_eq!(outbox.undelivered(), 0);
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=50));
    assert_eq!(fake.duplicates.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retries_while_metrics_refuses_then_delivers() {
    let fake = FakeMetrics::default();
    fake.refuse_streams.store(3, Ordering::SeqCst);
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(20);
    relay_until_drained(outbox, config(addr, "a")).await;
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=20));
    assert_eq!(
        fake.refuse_streams.load(Ordering::SeqCst),
        0,
        "it retried 3 times"
    );
}

#[tokio::test]
async fn a_batch_applied_but_not_acknowledged_is_resent_and_deduplicated() {
    let fake = FakeMetrics::default();
    fake.break_at_batch.store(2, Ordering::SeqCst);
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(30);
    relay_until_drained(outbox, config(addr, "a")).await;
    // Applied exactly once each, in order; the second batch (7 events)
    // was delivered twice.
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=30));
    assert_eq!(fake.duplicates.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn rejected_events_are_set_aside_and_the_rest_flows() {
    let fake = FakeMetrics::default();
    fake.reject_sequence.store(4, Ordering::SeqCst);
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(10);
    relay_until_drained(outbox.clone(), config(addr, "a")).await;
    let mut expected = ids(1..=10);
    expected.remove(3);
    assert_eq!(*fake.applied.lock().unwrap(), expected);
    assert_eq!(outbox.inner.lock().unwrap().rows[&4].1, Some(false));
}

#[tokio::test]
async fn a_replica_without_the_lease_delivers_nothing() {
    let fake = FakeMetrics::default();
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(5);
    outbox.inner.lock().unwrap().lease = Some("other-replica".into());
    let relay = Relay::new(outbox.clone(), config(addr, "b"), &Registry::new()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    // Let it try for a while: it must keep waiting for the lease.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(outbox.undelivered(), 5);
    assert!(fake.applied.lock().unwrap().is_empty());
    // The lease holder goes away: this replica takes over.
    outbox.inner.lock().unwrap().lease = None;
    tokio::time::timeout(Duration::from_secs(60), async {
        while outbox.undelivered() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    stop.cancel();
    task.await.unwrap();
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=5));
}

#[test]
fn the_relay_is_not_serving_only_when_events_wait_past_the_lag() {
    let lag = Duration::from_secs(60);
    let judge = |standby, backlog, since: u64| {
        RelayState::judge(standby, backlog, Duration::from_secs(since), lag)
    };
    assert_eq!(judge(false, 0, 3600), RelayState::Idle);
    assert_eq!(judge(false, 5, 60), RelayState::Delivering);
    assert_eq!(judge(false, 5, 61), RelayState::Stalled);
    // A replica without the lease delivers nothing by design.
    assert_eq!(judge(true, 5, 3600), RelayState::Standby);
    for state in [
        RelayState::Idle,
        RelayState::Delivering,
        RelayState::Standby,
    ] {
        assert!(state.serving(), "{state:?}");
    }
    assert!(!RelayState::Stalled.serving());
}

/// Waits (a minute at most) until the relay's health is `serving`.
async fn until_serving(status: &RelayStatus, serving: bool) {
    let mut changes = status.serving();
    tokio::time::timeout(Duration::from_secs(60), changes.wait_for(|s| *s == serving))
        .await
        .unwrap_or_else(|_| panic!("the relay's health never became serving={serving}"))
        .unwrap();
}

#[tokio::test]
async fn a_stalled_relay_is_not_serving_until_it_delivers_again() {
    let fake = FakeMetrics::default();
    fake.refuse_streams.store(u64::MAX, Ordering::SeqCst);
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(5);
    let relay = Relay::new(
        outbox.clone(),
        RelayConfig {
            max_lag: Duration::from_secs(1),
            monitor_interval: Duration::from_millis(10),
            ..config(addr, "a")
        },
        &Registry::new(),
    )
    .unwrap();
    let status = relay.status();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    until_serving(&status, false).await;
    assert_eq!(status.state(), RelayState::Stalled);
    assert_eq!(status.detail()["health"], "NOT_SERVING");
    // Metrics takes streams again: the relay delivers and recovers.
    fake.refuse_streams.store(0, Ordering::SeqCst);
    drained(&outbox).await;
    until_serving(&status, true).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(*fake.applied.lock().unwrap(), ids(1..=5));
}

#[tokio::test]
async fn a_replica_without_the_lease_is_serving_on_standby() {
    let fake = FakeMetrics::default();
    let (addr, _stop) = serve(fake.clone()).await;
    let outbox = MemoryOutbox::with_events(5);
    outbox.inner.lock().unwrap().lease = Some("other-replica".into());
    let relay = Relay::new(
        outbox.clone(),
        RelayConfig {
            max_lag: Duration::from_secs(1),
            monitor_interval: Duration::from_millis(10),
            ..config(addr, "b")
        },
        &Registry::new(),
    )
    .unwrap();
    let status = relay.status();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    let mut states = status.state_changes();
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| *s == RelayState::Standby),
    )
    .await
    .expect("the replica reports standby")
    .unwrap();
    assert!(*status.serving().borrow());
    assert_eq!(status.detail()["state"], "standby");
    // It takes over: delivering, then idle.
    outbox.inner.lock().unwrap().lease = None;
    drained(&outbox).await;
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| *s == RelayState::Idle),
    )
    .await
    .expect("the new holder delivers the outbox")
    .unwrap();
    stop.cancel();
    task.await.unwrap();
}

#[test]
fn backoff_grows_and_is_capped() {
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
    for attempt in 0..30 {
        let d = backoff(attempt, min, max);
        let ceiling = (min * 2u32.pow(attempt.min(20))).min(max);
        assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
    }
}
