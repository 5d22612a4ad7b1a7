//! Quotas per key, applied by the authentication layer ([`crate::auth`])
//! once it knows who is calling, so that one key at its limits never
//! makes another key's call fail.
//!
//! - **caps**: at most `max_calls_per_key` calls in flight and at most
//!   `max_streams_per_key` of them streaming (a client- or server-streaming
//!   method) per key; one more is refused `RESOURCE_EXHAUSTED` at once,
//!   never queued. A call's slots are released when its response ends or
//!   is dropped (a client gone mid-stream included).
//! - **rate**: keys that report facts (recruiting's platform keys) draw
//!   from a token bucket of `items_per_sec_per_key`, holding at most
//!   `items_burst_per_key`. An item is one fact: one element of the
//!   request's repeated field of messages (the postings of an
//!   `UpsertPostings` message, the requests of a `Batch*` call), and a
//!   message without one counts one. A unary call the bucket cannot cover
//!   is refused `RESOURCE_EXHAUSTED` with the delay until it could; a call
//!   of more items than the burst could never be covered and is
//!   `INVALID_ARGUMENT`. A request stream is paced instead: a message is
//!   handed to the handler only once the bucket covers it, so HTTP/2 flow
//!   control holds back that client alone.
//!
//! Which methods stream and which field holds their items is read from the
//! descriptor sets ([`Shapes`]), so no method can be left out. Refusals
//! carry `google.rpc.QuotaFailure` (the key's name, never its secret; the
//! cap and its value) and `google.rpc.RetryInfo`.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, ready},
    time::Duration,
};

use anyhow::Context as _;
use http_body::{Body as HttpBody, Frame};
use prost::Message as _;
use prost_types::{FileDescriptorSet, field_descriptor_proto::Label, field_descriptor_proto::Type};
use tonic::{Code, Status, body::Body, codegen::Bytes};
use tonic_types::{ErrorDetails, StatusExt};

use crate::ServerConfig;

/// The delay a refusal of a cap suggests: slots free as calls end, which
/// the server cannot foresee, so a short pause before trying again.
pub const CAP_RETRY_DELAY: Duration = Duration::from_millis(500);

/// The limits of every key, from [`ServerConfig`]; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    pub max_calls: u32,
    pub max_streams: u32,
    pub items_per_sec: u32,
    pub burst: u32,
}

impl QuotaSettings {
    pub fn of(config: &ServerConfig) -> Self {
        Self {
            max_calls: config.max_calls_per_key,
            max_streams: config.max_streams_per_key,
            items_per_sec: config.items_per_sec_per_key,
            // A burst of nothing would refuse every call.
            burst: config.items_burst_per_key.max(1),
        }
    }

    fn rate_limited(&self) -> bool {
        self.items_per_sec > 0
    }
}

/// Who a call's quotas are counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The key's name, as the refusal's `QuotaFailure` subject names it
    /// (`keys/{id}`, `platforms/{id}`, `admin`); never the secret.
    pub subject: String,
    /// Whether the key's items are rate-limited (it reports facts).
    pub rate_limited: bool,
}

/// A monotonic clock; tests set the time by hand.
pub trait Clock: Send + Sync + 'static {
    /// Time since an instant of the clock's choosing.
    fn now(&self) -> Duration;
}

/// Tokio's clock, so that a paced stream sleeps on the same time it reads.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The key has `cap` calls in flight.
    Calls { cap: u32 },
    /// The key has `cap` streams open.
    Streams { cap: u32 },
    /// The bucket cannot cover `items` before `retry_after`.
    Rate {
        items: u64,
        per_sec: u32,
        burst: u32,
        retry_after: Duration,
    },
    /// `items` is more than the bucket ever holds.
    TooLarge { items: u64, burst: u32 },
}

impl Refusal {
    /// The status of this refusal of `subject`'s call; `items_field` names
    /// the request field whose elements were counted.
    pub fn status(&self, subject: &str, items_field: Option<&str>) -> Status {
        let (description, retry_after) = match *self {
            Refusal::Calls { cap } => (
                format!("calls in flight per key: at most {cap}"),
                CAP_RETRY_DELAY,
            ),
            Refusal::Streams { cap } => (
                format!("open streams per key: at most {cap}"),
                CAP_RETRY_DELAY,
            ),
            Refusal::Rate {
                items,
                per_sec,
                burst,
                retry_after,
            } => (
                format!(
                    "items per second per key: at most {per_sec}, bursts of at most {burst}; \
                     this call has {items}"
                ),
                retry_after,
            ),
            Refusal::TooLarge { items, burst } => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation(
                    items_field.unwrap_or_default(),
                    format!(
                        "{items} items are more than this key's burst of {burst} items \
                         (items_burst_per_key); send at most {burst} per call"
                    ),
                );
                return Status::with_error_details(
                    Code::InvalidArgument,
                    "invalid argument",
                    details,
                );
            }
        };
        let mut details = ErrorDetails::with_retry_info(Some(retry_after));
        details.add_quota_failure_violation(subject, description.clone());
        Status::with_error_details(
            Code::ResourceExhausted,
            format!("{subject} is over its quota ({description}); retry after the delay"),
            details,
        )
    }
}

const SHARDS: usize = 16;

/// The quotas of every key of one service; cheap to clone.
#[derive(Clone)]
pub struct Quotas(Arc<Inner>);

struct Inner {
    settings: QuotaSettings,
    clock: Box<dyn Clock>,
    hasher: RandomState,
    shards: [Mutex<HashMap<Arc<str>, KeyState>>; SHARDS],
}

/// One key's calls, streams and bucket.
#[derive(Debug)]
struct KeyState {
    calls: u32,
    streams: u32,
    /// May fall below zero: a paced stream takes what it needs and waits
    /// for the debt to be paid back.
    tokens: f64,
    /// When `tokens` was last refilled.
    at: Duration,
}

impl KeyState {
    fn fresh(settings: &QuotaSettings, now: Duration) -> Self {
        Self {
            calls: 0,
            streams: 0,
            tokens: f64::from(settings.burst),
            at: now,
        }
    }

    fn refill(&mut self, settings: &QuotaSettings, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(settings.items_per_sec))
            .min(f64::from(settings.burst));
        self.at = now;
    }

    /// Whether nothing is remembered that a fresh state would not have.
    fn idle(&self, settings: &QuotaSettings) -> bool {
        self.calls == 0 && (!settings.rate_limited() || self.tokens >= f64::from(settings.burst))
    }
}

impl Quotas {
    pub fn new(settings: QuotaSettings) -> Self {
        Self::with_clock(settings, TokioClock(tokio::time::Instant::now()))
    }

    pub fn with_clock(settings: QuotaSettings, clock: impl Clock) -> Self {
        Self(Arc::new(Inner {
            settings,
            clock: Box::new(clock),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }))
    }

    pub fn settings(&self) -> QuotaSettings {
        self.0.settings
    }

    fn shard(&self, subject: &str) -> MutexGuard<'_, HashMap<Arc<str>, KeyState>> {
        let index = self.0.hasher.hash_one(subject) as usize % SHARDS;
        // Every critical section leaves the map consistent.
        self.0.shards[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one call of `holder` (a stream's when `stream`), held
    /// until the permit is dropped; refused when the key is at a cap.
    pub fn admit(&self, holder: &Holder, stream: bool) -> Result<CallPermit, Refusal> {
        let settings = &self.0.settings;
        let now = self.0.clock.now();
        let mut shard = self.shard(&holder.subject);
        let subject = match shard.get_key_value(holder.subject.as_str()) {
            Some((subject, _)) => subject.clone(),
            None => {
                let subject: Arc<str> = Arc::from(holder.subject.as_str());
                shard.insert(subject.clone(), KeyState::fresh(settings, now));
                subject
            }
        };
        let state = shard.get_mut(&subject).expect("inserted above");
        let refusal = if settings.max_calls > 0 && state.calls >= settings.max_calls {
            Some(Refusal::Calls {
                cap: settings.max_calls,
            })
        } else if stream && settings.max_streams > 0 && state.streams >= settings.max_streams {
            Some(Refusal::Streams {
                cap: settings.max_streams,
            })
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if state.idle(settings) {
                shard.remove(&subject);
            }
            return Err(refusal);
        }
        state.calls += 1;
        state.streams += u32::from(stream);
        Ok(CallPermit {
            quotas: self.clone(),
            subject,
            stream,
            rate_limited: holder.rate_limited && settings.rate_limited(),
        })
    }
}

/// One call's slot (and its stream slot); released when dropped.
pub struct CallPermit {
    quotas: Quotas,
    subject: Arc<str>,
    stream: bool,
    rate_limited: bool,
}

impl std::fmt::Debug for CallPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallPermit")
            .field("subject", &self.subject)
            .field("stream", &self.stream)
            .finish()
    }
}

impl CallPermit {
    /// Whether the call's items are counted.
    pub fn rate_limited(&self) -> bool {
        self.rate_limited
    }

    /// The key's bucket, for a request stream to draw on.
    pub fn bucket(&self) -> Bucket {
        Bucket {
            quotas: self.quotas.clone(),
            subject: self.subject.clone(),
            rate_limited: self.rate_limited,
        }
    }

    /// Takes `items` from the bucket if it holds them (a unary call).
    pub fn try_take(&self, items: u64) -> Result<(), Refusal> {
        self.bucket().try_take(items)
    }

    /// See [`Bucket::reserve`].
    pub fn reserve(&self, items: u64) -> Duration {
        self.bucket().reserve(items)
    }
}

/// One key's token bucket. Apart from the call's permit, so that a request
/// stream the handler keeps a little longer than the response does not
/// keep the call's slot.
pub struct Bucket {
    quotas: Quotas,
    subject: Arc<str>,
    rate_limited: bool,
}

impl Bucket {
    fn with_state<T>(&self, f: impl FnOnce(&mut KeyState, &QuotaSettings) -> T) -> T {
        let now = self.quotas.0.clock.now();
        let settings = &self.quotas.0.settings;
        let mut shard = self.quotas.shard(&self.subject);
        let state = shard
            .entry(self.subject.clone())
            .or_insert_with(|| KeyState::fresh(settings, now));
        state.refill(settings, now);
        f(state, settings)
    }

    /// Takes `items` from the bucket if it holds them (a unary call).
    pub fn try_take(&self, items: u64) -> Result<(), Refusal> {
        if !self.rate_limited {
            return Ok(());
        }
        self.with_state(|state, settings| {
            if items > u64::from(settings.burst) {
                return Err(Refusal::TooLarge {
                    items,
                    burst: settings.burst,
                });
            }
            let needed = items as f64;
            if state.tokens >= needed {
                state.tokens -= needed;
                return Ok(());
            }
            let missing = needed - state.tokens;
            Err(Refusal::Rate {
                items,
                per_sec: settings.items_per_sec,
                burst: settings.burst,
                retry_after: Duration::from_secs_f64(missing / f64::from(settings.items_per_sec)),
            })
        })
    }

    /// Takes `items` from the bucket, into debt if need be, and says how
    /// long to wait until the debt is paid (a message of a paced stream).
    pub fn reserve(&self, items: u64) -> Duration {
        if !self.rate_limited {
            return Duration::ZERO;
        }
        self.with_state(|state, settings| {
            state.tokens -= items as f64;
            if state.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-state.tokens / f64::from(settings.items_per_sec))
            }
        })
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        let now = self.quotas.0.clock.now();
        let settings = &self.quotas.0.settings;
        let mut shard = self.quotas.shard(&self.subject);
        if let Some(state) = shard.get_mut(&self.subject) {
            state.calls = state.calls.saturating_sub(1);
            state.streams = state.streams.saturating_sub(u32::from(self.stream));
            if settings.rate_limited() {
                state.refill(settings, now);
            }
            if state.idle(settings) {
                shard.remove(&self.subject);
            }
        }
    }
}

/// How a method's calls are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// The client sends a stream of messages.
    pub client_streaming: bool,
    /// The server answers with a stream of messages.
    pub server_streaming: bool,
    /// The number and name of the request's field whose elements are its
    /// items: its one repeated field of messages; none: one item a message.
    pub items: Option<(u32, String)>,
}

impl Shape {
    /// Whether a call holds a stream slot.
    pub fn streams(&self) -> bool {
        self.client_streaming || self.server_streaming
    }
}

/// The shape of every method of the descriptor sets, by gRPC path.
#[derive(Debug, Clone, Default)]
pub struct Shapes(HashMap<String, Shape>);

impl Shapes {
    pub fn of(descriptor_sets: &[&[u8]]) -> anyhow::Result<Self> {
        let mut messages = HashMap::new();
        let mut files = Vec::new();
        for set in descriptor_sets {
            let set = FileDescriptorSet::decode(*set).context("decoding a descriptor set")?;
            for file in set.file {
                for message in &file.message_type {
                    messages.insert(
                        format!(".{}.{}", file.package(), message.name()),
                        message.clone(),
                    );
                }
                files.push(file);
            }
        }
        let mut shapes = HashMap::new();
        for file in &files {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    let repeated: Vec<_> = messages
                        .get(method.input_type())
                        .map(|m| {
                            m.field
                                .iter()
                                .filter(|f| {
                                    f.label() == Label::Repeated && f.r#type() == Type::Message
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let items = match repeated.as_slice() {
                        [field] => Some((field.number() as u32, field.name().to_owned())),
                        _ => None,
                    };
                    shapes.insert(
                        path,
                        Shape {
                            client_streaming: method.client_streaming(),
                            server_streaming: method.server_streaming(),
                            items,
                        },
                    );
                }
            }
        }
        Ok(Self(shapes))
    }

    /// The shape of `path`; a unary call of one item when unknown.
    /// Whether the descriptor sets declare a method at `path`.
    pub fn declares(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    pub fn get(&self, path: &str) -> &Shape {
        static UNARY: Shape = Shape {
            client_streaming: false,
            server_streaming: false,
            items: None,
        };
        self.0.get(path).unwrap_or(&UNARY)
    }
}

/// Counts the items of a gRPC request body as its bytes pass, without
/// decoding or copying: each message's 5-byte frame header, then its
/// top-level fields, skipping over every field's contents. A message costs
/// one item plus one for each element of the items field beyond the first.
/// A compressed or malformed message counts one (the decoder refuses a
/// malformed one anyway).
#[derive(Debug)]
pub struct ItemCounter {
    field: Option<u32>,
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message still to come; none between messages.
    remaining: Option<u64>,
    in_message: Scan,
    elements: u64,
}

#[derive(Debug, Clone, Copy)]
enum Scan {
    Tag { value: u64, shift: u32 },
    Varint,
    Length { value: u64, shift: u32 },
    Skip(u64),
    Opaque,
}

const TAG: Scan = Scan::Tag { value: 0, shift: 0 };

impl ItemCounter {
    pub fn new(items_field: Option<u32>) -> Self {
        Self {
            field: items_field,
            header: [0; 5],
            header_len: 0,
            remaining: None,
            in_message: TAG,
            elements: 0,
        }
    }

    /// The items that begin in `bytes`.
    pub fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut items = 0;
        while !bytes.is_empty() {
            let Some(remaining) = self.remaining else {
                self.header[self.header_len] = bytes[0];
                self.header_len += 1;
                bytes = &bytes[1..];
                if self.header_len == self.header.len() {
                    self.header_len = 0;
                    items += 1;
                    self.elements = 0;
                    let length = u32::from_be_bytes([
                        self.header[1],
                        self.header[2],
                        self.header[3],
                        self.header[4],
                    ]);
                    let compressed = self.header[0] != 0;
                    self.in_message = if compressed || self.field.is_none() {
                        Scan::Opaque
                    } else {
                        TAG
                    };
                    self.remaining = (length > 0).then_some(u64::from(length));
                }
                continue;
            };
            let available = remaining.min(bytes.len() as u64);
            let used = match self.in_message {
                Scan::Opaque => available,
                Scan::Skip(n) => {
                    let used = n.min(available);
                    self.in_message = if used == n { TAG } else { Scan::Skip(n - used) };
                    used
                }
                scan => {
                    let byte = bytes[0];
                    self.in_message = self.next(scan, byte, &mut items);
                    1
                }
            };
            bytes = &bytes[used as usize..];
            self.remaining = Some(remaining - used).filter(|r| *r > 0);
        }
        items
    }

    /// The scan after `byte` of a field's tag, varint value or length.
    fn next(&mut self, scan: Scan, byte: u8, items: &mut u64) -> Scan {
        let more = byte & 0x80 != 0;
        let bits = u64::from(byte & 0x7f);
        match scan {
            Scan::Tag { shift, .. } | Scan::Length { shift, .. } if shift > 63 => Scan::Opaque,
            Scan::Tag { value, shift } => {
                let value = value | bits << shift;
                if more {
                    return Scan::Tag {
                        value,
                        shift: shift + 7,
                    };
                }
                if self.field.is_some() && u32::try_from(value >> 3).ok() == self.field {
                    self.elements += 1;
                    if self.elements > 1 {
                        *items += 1;
                    }
                }
                match value & 7 {
                    0 => Scan::Varint,
                    1 => Scan::Skip(8),
                    2 => Scan::Length { value: 0, shift: 0 },
                    5 => Scan::Skip(4),
                    _ => Scan::Opaque,
                }
            }
            Scan::Varint if more => Scan::Varint,
            Scan::Varint => TAG,
            Scan::Length { value, shift } => {
                let value = value | bits << shift;
                match (more, value) {
                    (true, _) => Scan::Length {
                        value,
                        shift: shift + 7,
                    },
                    (false, 0) => TAG,
                    (false, n) => Scan::Skip(n),
                }
            }
            Scan::Skip(_) | Scan::Opaque => scan,
        }
    }
}

/// Reads a unary call's whole request body, counting its items; the
/// body is handed on as [`Replay`].
pub async fn read_counted(
    mut body: Body,
    counter: &mut ItemCounter,
) -> Result<(Replay, u64), Status> {
    let mut frames = VecDeque::new();
    let mut items = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            items += counter.feed(data);
        }
        frames.push_back(frame);
    }
    Ok((Replay(frames), items))
}

/// A request body read before the handler, handed on unchanged.
pub struct Replay(VecDeque<Frame<Bytes>>);

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

pin_project_lite::pin_project! {
    /// A request stream whose messages reach the handler only as fast as
    /// the key's bucket allows: a chunk is held back until the items that
    /// begin in it are paid for.
    pub struct Paced {
        #[pin]
        inner: Body,
        counter: ItemCounter,
        bucket: Bucket,
        held: Option<Frame<Bytes>>,
        wait: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl Paced {
    pub fn new(inner: Body, counter: ItemCounter, bucket: Bucket) -> Self {
        Self {
            inner,
            counter,
            bucket,
            held: None,
            wait: None,
        }
    }
}

impl HttpBody for Paced {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        if let Some(wait) = this.wait.as_mut() {
            ready!(wait.as_mut().poll(cx));
            *this.wait = None;
            return Poll::Ready(this.held.take().map(Ok));
        }
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        let items = frame.data_ref().map_or(0, |data| this.counter.feed(data));
        let delay = if items > 0 {
            this.bucket.reserve(items)
        } else {
            Duration::ZERO
        };
        if delay.is_zero() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let mut wait = Box::pin(tokio::time::sleep(delay));
        if wait.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Ok(frame)));
        }
        *this.held = Some(frame);
        *this.wait = Some(wait);
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call's permit until its last frame
    /// (the trailers, which the client sees after the slot is free) or
    /// until it is dropped (a client gone mid-stream).
    pub struct Held {
        #[pin]
        inner: Body,
        permit: Option<CallPermit>,
    }
}

impl Held {
    pub fn new(inner: Body, permit: CallPermit) -> Self {
        Self {
            inner,
            permit: Some(permit),
        }
    }
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        let last = match &polled {
            Some(Ok(frame)) => frame.is_trailers(),
            None | Some(Err(_)) => true,
        };
        if last {
            *this.permit = None;
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[path = "quota_retry.rs"]
pub mod retry;

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
