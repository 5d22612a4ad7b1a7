//! The tower layer every talent gRPC call passes through, once:
//!
//! - **load shedding**: at most `max_concurrent_requests` calls (open
//!   streams included) at once; one more is answered `RESOURCE_EXHAUSTED`
//!   at once instead of queueing behind the others;
//! - **deadlines**: the caller's `grpc-timeout` is honoured; a call that has
//!   not produced its response by then is ended with `DEADLINE_EXCEEDED`
//!   (tonic's own timeout would answer `CANCELLED`, so this layer ends the
//!   call a millisecond before it);
//! - **silent request streams**: a call whose request stream sends nothing
//!   for `stream_idle_timeout_secs` ends with `DEADLINE_EXCEEDED` (not
//!   `CANCELLED`, which tonic reads on a request stream as the client's own
//!   end of it, and which would tell the client it gave up);
//! - **metrics**: calls handled per method and status code, latency per
//!   method, calls in flight; the method label is one the server serves or
//!   `unknown` ([`Methods`]);
//! - **status mapping**: tonic reports an oversized request message as
//!   `OUT_OF_RANGE`, and a request it cannot decode (corrupt protobuf,
//!   invalid UTF-8 in a string, a malformed gRPC frame) as `INTERNAL`;
//!   gRPC defines the first as `RESOURCE_EXHAUSTED`, and the second is the
//!   client's mistake, so `INVALID_ARGUMENT` with the field path prost
//!   names, where it names one;
//! - **corruption**: a response marked as having met a corrupt database
//!   ([`CORRUPT_MARKER`](crate::error::CORRUPT_MARKER)) turns the
//!   service's [`DbHealth`] corrupt; the mark is removed before the
//!   response leaves;
//! - **a span per call** with its request id, echoed as `x-request-id`
//!   ([`telemetry::rpc_span`]): the handler runs and the response body is
//!   polled inside it, so every log line of the call names the id.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use crate::{ApiError, error::CORRUPT_MARKER, health::DbHealth, methods::Methods, telemetry};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Per-method call metrics, registered in a service's own registry.
#[derive(Clone)]
pub struct RpcMetrics {
    handled: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
}

impl RpcMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let handled = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "gRPC calls completed, by method and status code",
            ),
            &["grpc_method", "grpc_code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from a call's arrival to its last response byte, by method",
            )
            .buckets(prometheus::exponential_buckets(0.000_25, 2.0, 16)?),
            &["grpc_method"],
        )?;
        let in_flight = IntGauge::new("grpc_server_in_flight", "gRPC calls being served now")?;
        registry.register(Box::new(handled.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Self {
            handled,
            latency,
            in_flight,
        })
    }

    fn record(&self, method: &str, code: Code, started: Instant) {
        self.handled
            .with_label_values(&[method, code_name(code)])
            .inc();
        self.latency
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The layer; cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct RpcLayer {
    permits: Arc<Semaphore>,
    metrics: RpcMetrics,
    methods: Arc<Methods>,
    stream_idle_timeout: Option<Duration>,
    db_health: Option<Arc<DbHealth>>,
}

impl RpcLayer {
    /// `methods` are the ones the server serves (the metrics labels);
    /// `stream_idle_timeout` none lets a request stream be silent forever.
    pub fn new(
        max_concurrent_requests: usize,
        metrics: RpcMetrics,
        methods: Methods,
        stream_idle_timeout: Option<Duration>,
    ) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent_requests)),
            metrics,
            methods: Arc::new(methods),
            stream_idle_timeout,
            db_health: None,
        }
    }

    /// Reports corruption that calls meet to `health`.
    pub fn with_db_health(mut self, health: Arc<DbHealth>) -> Self {
        self.db_health = Some(health);
        self
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    layer: RpcLayer,
}

impl<S> Service<Request<Body>> for RpcService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let method = self.layer.methods.label(req.uri().path());
        let metrics = self.layer.metrics.clone();
        let db_health = self.layer.db_health.clone();
        let (span, request_id) = telemetry::rpc_span(req.headers(), &method);

        let Ok(permit) = self.layer.permits.clone().try_acquire_owned() else {
            metrics.record(&method, Code::ResourceExhausted, started);
            return ready(
                Status::resource_exhausted(
                    "the server is at its concurrency limit; retry with backoff",
                ),
                request_id,
            );
        };
        // One millisecond early, so that this layer, not tonic's timeout
        // (which answers CANCELLED), ends a call whose deadline passes.
        let deadline = grpc_timeout(req.headers())
            .map(|timeout| started + timeout.saturating_sub(Duration::from_millis(1)));
        if deadline.is_some_and(|d| d <= started) {
            metrics.record(&method, Code::DeadlineExceeded, started);
            return ready(
                Status::deadline_exceeded("the deadline expired before the call started"),
                request_id,
            );
        }

        let req = match self.layer.stream_idle_timeout {
            Some(limit) => req.map(|body| Body::new(IdleBody::new(body, limit))),
            None => req,
        };
        // The clone that was readied is the one called (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call_span = span.clone();
        let call = async move {
            metrics.in_flight.inc();
            let call = inner.call(req);
            let outcome = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, call).await,
                None => Ok(call.await),
            };
            let response = match outcome {
                Ok(response) => response,
                Err(_elapsed) => {
                    metrics.in_flight.dec();
                    metrics.record(&method, Code::DeadlineExceeded, started);
                    telemetry::record_code(&span, Code::DeadlineExceeded);
                    let mut response =
                        Status::deadline_exceeded("the deadline expired").into_http();
                    response
                        .headers_mut()
                        .insert(telemetry::REQUEST_ID, request_id);
                    return Ok(response);
                }
            };
            let (mut parts, body) = match response {
                Ok(response) => response.into_parts(),
                Err(err) => {
                    metrics.in_flight.dec();
                    return Err(err);
                }
            };
            remap_status(&mut parts.headers);
            note_corruption(&mut parts.headers, db_health.as_deref());
            parts.headers.insert(telemetry::REQUEST_ID, request_id);
            if let Some(code) = status_code(&parts.headers) {
                // A trailers-only response: the call is over.
                metrics.in_flight.dec();
                metrics.record(&method, code, started);
                telemetry::record_code(&span, code);
                return Ok(Response::from_parts(parts, body));
            }
            let body = ObservedBody {
                inner: body,
                finish: Some(Finish {
                    _permit: permit,
                    metrics,
                    method,
                    started,
                    db_health,
                    span,
                }),
            };
            Ok(Response::from_parts(parts, Body::new(body)))
        };
        Box::pin(call.instrument(call_span))
    }
}

fn ready<E: Send + 'static>(
    status: Status,
    request_id: HeaderValue,
) -> BoxFuture<Result<Response<Body>, E>> {
    let mut response = status.into_http();
    response
        .headers_mut()
        .insert(telemetry::REQUEST_ID, request_id);
    Box::pin(std::future::ready(Ok(response)))
}

/// What is recorded when a streamed response ends (or is dropped).
struct Finish {
    _permit: OwnedSemaphorePermit,
    metrics: RpcMetrics,
    method: Arc<str>,
    started: Instant,
    db_health: Option<Arc<DbHealth>>,
    span: Span,
}

impl Finish {
    fn done(self, code: Code) {
        self.metrics.in_flight.dec();
        self.metrics.record(&self.method, code, self.started);
        telemetry::record_code(&self.span, code);
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds the call's concurrency permit until the
    /// last frame and records the status code from the trailers; polled in
    /// the call's span, which ends with the call (before the trailers
    /// leave).
    struct ObservedBody {
        #[pin]
        inner: Body,
        finish: Option<Finish>,
    }

    impl PinnedDrop for ObservedBody {
        fn drop(this: Pin<&mut Self>) {
            // The client went away before the trailers.
            if let Some(finish) = this.project().finish.take() {
                finish.done(Code::Cancelled);
            }
        }
    }
}

impl HttpBody for ObservedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = {
            let _entered = this.finish.as_ref().map(|f| f.span.enter());
            this.inner.poll_frame(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let mut frame_trailers = None;
                if let Some(trailers) = frame.trailers_ref() {
                    frame_trailers = Some(trailers.clone());
                }
                if let Some(mut trailers) = frame_trailers {
                    remap_status(&mut trailers);
                    if let Some(finish) = this.finish.as_ref() {
                        note_corruption(&mut trailers, finish.db_health.as_deref());
                    }
                    let code = status_code(&trailers).unwrap_or(Code::Unknown);
                    if let Some(finish) = this.finish.take() {
                        finish.done(code);
                    }
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
            Poll::Ready(None) => {
                if let Some(finish) = this.finish.take() {
                    finish.done(Code::Unknown);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code();
                if let Some(finish) = this.finish.take() {
                    finish.done(code);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A request body that ends with `DEADLINE_EXCEEDED` once no frame has
    /// arrived for its limit; the handler reads that as the stream's error
    /// and ends the call with it.
    struct IdleBody {
        #[pin]
        inner: Body,
        limit: Duration,
        #[pin]
        timer: Sleep,
        ended: bool,
    }
}

impl IdleBody {
    fn new(inner: Body, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            timer: tokio::time::sleep(limit),
            ended: false,
        }
    }
}

impl HttpBody for IdleBody {
    type Data = <Body as HttpBody>::Data;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer.as_mut().reset(Instant::now() + *this.limit);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.timer.poll(cx) {
                Poll::Ready(()) => {
                    *this.ended = true;
                    Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                        "nothing arrived on the request stream for {} s; send messages more \
                         often or open a new call when there is something to send",
                        this.limit.as_secs_f64()
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

/// Removes the corruption mark and reports it to `health`.
fn note_corruption(headers: &mut HeaderMap, health: Option<&DbHealth>) {
    if headers.remove(CORRUPT_MARKER).is_some()
        && let Some(health) = health
    {
        health.mark_corrupt();
    }
}

fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

fn remap_status(headers: &mut HeaderMap) {
    match status_code(headers) {
        Some(Code::OutOfRange) => remap_too_large(headers),
        Some(Code::Internal) => remap_undecodable(headers),
        _ => {}
    }
}

/// How prost's decoding error begins, as tonic sends it with `INTERNAL`.
const PROST_DECODE_ERROR: &str = "failed to decode Protobuf message: ";
/// Beginnings of tonic's `INTERNAL` messages for a malformed gRPC frame of
/// a request. The handlers' own internal errors say only "internal error".
const MALFORMED_FRAME: &[&str] = &[
    "protocol error: received message with",
    "Error decompressing: ",
    "Unexpected EOF decoding stream",
    "Missing request message",
];

/// Turns tonic's `INTERNAL` for an undecodable request into
/// `INVALID_ARGUMENT` with a `BadRequest` field violation.
fn remap_undecodable(headers: &mut HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some((field, description)) = undecodable(status.message()) else {
        return;
    };
    let status: Status = ApiError::invalid(field, description).into();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    if status.add_header(headers).is_err() {
        // Only a detail that cannot be a header value fails; the code must
        // still change.
        let code = (Code::InvalidArgument as i32).to_string();
        headers.insert("grpc-status", HeaderValue::from_str(&code).expect("digits"));
    }
}

/// The field path and the description of a decoding failure, from tonic's
/// message; `None` when the message is not one. prost names the fields
/// innermost first (`Posting.title: UpsertPostingsRequest.postings: invalid
/// string value: …`), so the path is read backwards (`postings.title`);
/// a oneof is named by its member (`decode_path`); repeated fields carry
/// no index. A malformed frame has no field: the path is empty.
fn undecodable(message: &str) -> Option<(String, String)> {
    let Some(mut rest) = message.strip_prefix(PROST_DECODE_ERROR) else {
        return MALFORMED_FRAME
            .iter()
            .any(|p| message.starts_with(p))
            .then(|| (String::new(), message.to_owned()));
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '#')
    };
    let mut fields = Vec::new();
    while let Some((segment, tail)) = rest.split_once(": ") {
        match segment.split_once('.') {
            Some((message_name, field)) if ident(message_name) && ident(field) => {
                fields.push((message_name, field.trim_start_matches("r#")));
                rest = tail;
            }
            _ => break,
        }
    }
    fields.reverse();
    Some((crate::decode_path::field_path(&fields), rest.to_owned()))
}

fn remap_too_large(headers: &mut HeaderMap) {
    let too_large = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if too_large {
        let code = (Code::ResourceExhausted as i32).to_string();
        headers.insert("grpc-status", HeaderValue::from_str(&code).expect("digits"));
    }
}

/// The `grpc-timeout` header: an integer of at most eight digits and a unit
/// (H, M, S, m, u, n). A malformed header is ignored, as gRPC servers do.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The canonical upper-case name of a status code, as metrics label it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    /// A handler that never answers, to let deadlines and limits bite.
    #[derive(Clone)]
    struct Never;
    impl Service<Request<Body>> for Never {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<Body>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            Box::pin(std::future::pending())
        }
    }

    fn request(timeout: Option<&str>) -> Request<Body> {
        let mut req = Request::builder().uri("/talent.test.v1.TestService/Slow");
        if let Some(t) = timeout {
            req = req.header("grpc-timeout", t);
        }
        req.body(Body::empty()).unwrap()
    }

    fn layer(limit: usize) -> (RpcLayer, Registry) {
        let registry = Registry::new();
        let metrics = RpcMetrics::register(&registry).unwrap();
        let methods = Methods::of(&[], &[]).unwrap();
        (RpcLayer::new(limit, metrics, methods, None), registry)
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_deadline_gets_deadline_exceeded() {
        let (layer, registry) = layer(4);
        let response = layer
            .layer(Never)
            .oneshot(request(Some("50m")))
            .await
            .unwrap();
        assert_eq!(
            status_code(response.headers()),
            Some(Code::DeadlineExceeded)
        );
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains("grpc_code=\"DEADLINE_EXCEEDED\""), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_limit_are_shed() {
        let (layer, _registry) = layer(1);
        let mut first = layer.layer(Never);
        let mut pending = first.call(request(None));
        // The first call holds the only permit while it is pending.
        assert!(futures_poll_once(&mut pending).await.is_none());
        let response = layer.layer(Never).oneshot(request(None)).await.unwrap();
        assert_eq!(
            status_code(response.headers()),
            Some(Code::ResourceExhausted)
        );
    }

    async fn futures_poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn grpc_timeout_units() {
        let mut h = HeaderMap::new();
        for (v, d) in [
            ("5S", Duration::from_secs(5)),
            ("250m", Duration::from_millis(250)),
            ("1n", Duration::from_nanos(1)),
            ("2H", Duration::from_secs(7200)),
        ] {
            h.insert("grpc-timeout", HeaderValue::from_static(v));
            assert_eq!(grpc_timeout(&h), Some(d), "{v}");
        }
        h.insert("grpc-timeout", HeaderValue::from_static("123456789S"));
        assert_eq!(grpc_timeout(&h), None, "more than eight digits");
        h.insert("grpc-timeout", HeaderValue::from_static("5x"));
        assert_eq!(grpc_timeout(&h), None);
    }

    #[test]
    fn oversized_messages_are_resource_exhausted() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("11"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static("Error,%20decoded%20message%20length%20too%20large"),
        );
        remap_status(&mut h);
        assert_eq!(status_code(&h), Some(Code::ResourceExhausted));
    }

    #[test]
    fn undecodable_requests_name_the_field_prost_names() {
        assert_eq!(
            undecodable(
                "failed to decode Protobuf message: Posting.title: UpsertPostingsRequest.postings: \
                 invalid string value: data is not UTF-8 encoded"
            ),
            Some((
                "postings.title".to_owned(),
                "invalid string value: data is not UTF-8 encoded".to_owned()
            ))
        );
        // A oneof is named by the member being decoded, a real field.
        assert_eq!(
            undecodable(
                "failed to decode Protobuf message: Hired.person_key: Event.payload: \
                 PublishEventsRequest.events: invalid string value: data is not UTF-8 encoded"
            ),
            Some((
                "events.hired.person_key".to_owned(),
                "invalid string value: data is not UTF-8 encoded".to_owned()
            ))
        );
        assert_eq!(
            undecodable("failed to decode Protobuf message: Event.r#type: invalid varint"),
            Some(("type".to_owned(), "invalid varint".to_owned()))
        );
        assert_eq!(
            undecodable("failed to decode Protobuf message: invalid wire type value: 7"),
            Some((String::new(), "invalid wire type value: 7".to_owned()))
        );
        assert_eq!(
            undecodable("Unexpected EOF decoding stream."),
            Some((String::new(), "Unexpected EOF decoding stream.".to_owned()))
        );
        assert_eq!(undecodable("internal error"), None);
    }

    #[test]
    fn undecodable_requests_are_invalid_argument_with_a_field_violation() {
        use tonic_types::StatusExt;
        let mut headers = HeaderMap::new();
        Status::internal(
            "failed to decode Protobuf message: HealthCheckRequest.service: \
             invalid string value: data is not UTF-8 encoded",
        )
        .add_header(&mut headers)
        .unwrap();
        remap_status(&mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations[0].field, "service");
        assert_eq!(
            bad.field_violations[0].description,
            "invalid string value: data is not UTF-8 encoded"
        );

        // A handler's own internal error stays what it is: a bug.
        let mut headers = HeaderMap::new();
        Status::internal("internal error")
            .add_header(&mut headers)
            .unwrap();
        remap_status(&mut headers);
        assert_eq!(status_code(&headers), Some(Code::Internal));
    }

    /// A request body fed by a channel: frames arrive when the test says.
    struct Fed(tokio::sync::mpsc::Receiver<&'static str>);
    impl HttpBody for Fed {
        type Data = tonic::codegen::Bytes;
        type Error = Status;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Status>>> {
            self.0
                .poll_recv(cx)
                .map(|m| m.map(|m| Ok(Frame::data(tonic::codegen::Bytes::from(m)))))
        }
    }

    async fn next_frame(body: &mut Pin<Box<IdleBody>>) -> Option<Result<(), Code>> {
        std::future::poll_fn(|cx| body.as_mut().poll_frame(cx))
            .await
            .map(|frame| frame.map(|_| ()).map_err(|s| s.code()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_request_stream_ends_with_deadline_exceeded() {
        let limit = Duration::from_secs(5);
        let (feed, fed) = tokio::sync::mpsc::channel(4);
        let mut body = Box::pin(IdleBody::new(Body::new(Fed(fed)), limit));
        let started = Instant::now();
        // Messages 4 s apart keep the stream alive past the limit.
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                feed.send("message").await.unwrap();
            }
            // Then silence, with the stream still open.
            std::future::pending::<()>().await;
        });
        for _ in 0..3 {
            assert_eq!(next_frame(&mut body).await, Some(Ok(())));
        }
        assert_eq!(started.elapsed(), Duration::from_secs(12));
        assert_eq!(
            next_frame(&mut body).await,
            Some(Err(Code::DeadlineExceeded))
        );
        assert_eq!(started.elapsed(), Duration::from_secs(17));
        assert_eq!(next_frame(&mut body).await, None, "ended once");
        sender.abort();
    }
}
