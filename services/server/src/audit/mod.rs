//! The audit log: who called which audited method, with what (the request,
//! personal fields removed), when, and how it ended, kept in the service's
//! own database.
//!
//! Each service declares once, beside its access table, how each of its
//! methods is audited ([`Audit`], checked against the methods served by
//! [`mismatches`], so a new RPC must be declared) and which fields of the
//! audited requests may be recorded ([`Fields`]). The [`AuditLayer`] wraps
//! each gRPC service outside the authentication layer, so it also sees the
//! calls that layer refuses; it copies the request bytes as the service
//! reads them and, when the answer's head is ready, hands the event to the
//! [`writer`]. The writer turns requests into JSON without their personal
//! fields ([`fields`]) and appends events in batches to the [`AuditLog`].
//!
//! - [`Audit::Recorded`] calls (admin actions, erasure, export) are
//!   answered only once their row committed.
//! - [`Audit::Queued`] calls (statistics queries) are answered at once;
//!   their rows follow in the writer's next batch.
//! - A call refused by authentication (no key, an unknown key, a key of
//!   the wrong kind) is recorded like the others, with the key when it was
//!   recognised and an empty request (`{}`: it was never read).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::{body::Body, codegen::Bytes, server::NamedService};
use tower::{Layer, Service};

use crate::auth::Verified;

pub mod fields;
pub mod list;
pub mod log;
pub mod writer;

pub use fields::{Fields, Redactor, mismatches};
pub use log::{AuditLog, AuditRow, StoredEvent};
pub use writer::{AuditQueue, AuditSink, AuditWriter};

/// How the calls of one method are audited; each service declares it for
/// every method it serves (`AUDIT`, beside its access table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Not recorded: the platforms' and the relay's data traffic.
    No,
    /// Every call recorded, and answered only once its row committed:
    /// admin actions, keys issued, revoked or rotated, erasure, export.
    Recorded,
    /// The admin key's calls recorded as [`Audit::Recorded`]; a platform's
    /// reads of its own data are not (the admin reading what platforms
    /// pushed).
    RecordedForAdmin,
    /// Every call recorded off the request path, in the writer's next
    /// batch: statistics queries, which must not get slower.
    Queued,
}

/// Who made a call, as the audit log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// The key's resource name, or `admin`; never a secret.
    pub key: String,
    /// Whether it is the service's admin key.
    pub admin: bool,
}

/// One audited call, as the layer saw it; the writer removes the personal
/// fields of its request before anything is stored.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the call arrived, microseconds since the Unix epoch.
    pub at: i64,
    /// The key's name; empty when no key was recognised.
    pub key: String,
    pub method: String,
    /// The request's gRPC frame as the service read it; empty when it was
    /// refused before reading it.
    pub request: Bytes,
    pub code: i32,
    pub message: String,
}

/// The microseconds since the Unix epoch now.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// The layer; wraps each gRPC service of one server, outside its
/// authentication layer. `C` is the service's verified caller.
pub struct AuditLayer<C> {
    methods: Arc<HashMap<String, Audit>>,
    who: fn(&C) -> Who,
    queue: AuditQueue,
    /// The most request bytes copied (the largest message the service
    /// accepts, and its frame header).
    limit: usize,
}

impl<C> Clone for AuditLayer<C> {
    fn clone(&self) -> Self {
        Self {
            methods: self.methods.clone(),
            who: self.who,
            queue: self.queue.clone(),
            limit: self.limit,
        }
    }
}

impl<C: Clone + Send + Sync + 'static> AuditLayer<C> {
    /// The layer of a service whose methods are audited as `table` says,
    /// naming callers with `who`, recording through `queue`.
    pub fn new(
        table: &[(&str, Audit)],
        who: fn(&C) -> Who,
        queue: AuditQueue,
        max_message_bytes: usize,
    ) -> Self {
        let methods = table
            .iter()
            .filter(|(_, audit)| *audit != Audit::No)
            .map(|(path, audit)| ((*path).to_owned(), *audit))
            .collect();
        Self {
            methods: Arc::new(methods),
            who,
            queue,
            limit: max_message_bytes.saturating_add(5),
        }
    }

    /// `inner`, its audited calls recorded.
    pub fn wrap<S>(&self, inner: S) -> Audited<S, C> {
        self.layer(inner)
    }
}

impl<S, C> Layer<S> for AuditLayer<C> {
    type Service = Audited<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        Audited {
            inner,
            layer: self.clone(),
        }
    }
}

/// A gRPC service whose audited calls are recorded.
pub struct Audited<S, C> {
    inner: S,
    layer: AuditLayer<C>,
}

impl<S: Clone, C> Clone for Audited<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: NamedService, C> NamedService for Audited<S, C> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, C> Service<Request<Body>> for Audited<S, C>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    C: Clone + Send + Sync + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was readied is the one called (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(audit) = self.layer.methods.get(req.uri().path()).copied() else {
            return Box::pin(inner.call(req));
        };
        let layer = self.layer.clone();
        let at = now_micros();
        let method = req.uri().path().to_owned();
        let copy = Capture::new(layer.limit);
        let req = req.map(|body| Body::new(Tee::new(body, copy.clone())));
        Box::pin(async move {
            let response = inner.call(req).await?;
            let who = response
                .extensions()
                .get::<Verified<C>>()
                .map(|caller| (layer.who)(&caller.0));
            if audit == Audit::RecordedForAdmin && !who.as_ref().is_some_and(|w| w.admin) {
                return Ok(response);
            }
            let (code, message) = outcome(response.headers());
            let request = copy.take();
            let committed = audit != Audit::Queued;
            let event = Event {
                at,
                key: who.map(|w| w.key).unwrap_or_default(),
                method,
                request,
                code,
                message,
            };
            layer.queue.record(event, committed).await;
            Ok(response)
        })
    }
}

/// The code and message of an answer from its head: a status there (an
/// error, answered without a message), else OK. Audited methods are
/// unary, so a head without a status is a handler's success.
fn outcome(headers: &http::HeaderMap) -> (i32, String) {
    match tonic::Status::from_header_map(headers) {
        Some(status) if status.code() != tonic::Code::Ok => {
            (status.code() as i32, status.message().to_owned())
        }
        _ => (0, String::new()),
    }
}

/// The request bytes a service read, up to a limit.
#[derive(Clone)]
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Self {
            bytes: Arc::default(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A vector of bytes is whole after every statement.
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, data: &[u8]) {
        let mut bytes = self.lock();
        let room = self.limit.saturating_sub(bytes.len());
        bytes.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *self.lock()))
    }
}

pin_project_lite::pin_project! {
    /// A request body that copies what is read of it.
    struct Tee {
        #[pin]
        inner: Body,
        copy: Capture,
    }
}

impl Tee {
    fn new(inner: Body, copy: Capture) -> Self {
        Self { inner, copy }
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.copy.push(data);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
