//! Structured logs with `tracing`: readable lines, or JSON on request,
//! on standard error (standard output is the commands' own output). The
//! level comes from `RUST_LOG` (default `info`). Readable lines are
//! coloured only when standard error is a terminal, so files and pipes
//! get plain text.
//!
//! Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the `tracing` spans are
//! also exported over OTLP/gRPC ([`Traces`]); otherwise no exporter
//! exists and the spans cost what they cost the logs. The exporter
//! honours the standard variables (`OTEL_SERVICE_NAME`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_TRACES_SAMPLER`); `OTEL_EXPORTER_OTLP_PROTOCOL` may only be
//! `grpc`.
//!
//! Every call gets a span ([`rpc_span`], opened by the
//! [`RpcLayer`](crate::middleware::RpcLayer)) carrying its request id, so
//! every log line of the call names it; its parent is the caller's W3C
//! `traceparent`. A context crosses the outbox and the relay as a
//! `traceparent` string ([`traceparent`], [`remote_context`]).
//!
//! [`subscriber`] builds the whole stack from its parts, so that a test
//! can install it for itself (`tracing::subscriber::set_default` on a
//! current-thread runtime) with its own writer and exporter.

use std::io::IsTerminal;

use http::{HeaderMap, HeaderValue};
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{SpanContext, TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracerProvider, SpanExporter},
};
use tracing::{Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, fmt, fmt::MakeWriter, prelude::*, registry::LookupSpan,
};

use crate::LogFormat;

/// The metadata that carries a call's request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Installs the global subscriber, exporting traces when the environment
/// asks for it; `default_service` names the service in them unless
/// `OTEL_SERVICE_NAME` does. A second call (two services in one process,
/// or many tests) keeps the first subscriber. Call within the Tokio
/// runtime (the exporter's channel lives there), and hand what it returns
/// to [`Traces::shutdown`] at the end, so the last spans are sent.
pub fn init(format: LogFormat, default_service: &str) -> anyhow::Result<Option<Traces>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let traces = match Settings::from_env(default_service, |name| std::env::var(name).ok())? {
        Some(settings) => Some(Traces::otlp(&settings)?),
        None => None,
    };
    let ansi = std::io::stderr().is_terminal();
    let installed = subscriber(format, filter, std::io::stderr, ansi, traces.as_ref())
        .try_init()
        .is_ok();
    Ok(traces.filter(|_| installed))
}

/// The subscriber: `filter`, log lines in `format` to `writer` (coloured
/// when `ansi`, readable lines only), and the spans exported through
/// `traces` when given.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    traces: Option<&Traces>,
) -> impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = match format {
        LogFormat::Human => fmt::layer()
            .with_target(false)
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .boxed(),
    };
    let export = traces.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t.provider.tracer("talent"))
            .and_then(Exporting)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(export)
}

/// Marks a subscriber that exports spans, so that attributes only the
/// export reads are not even built otherwise ([`exporting`]).
struct Exporting;

impl<S: Subscriber> Layer<S> for Exporting {}

/// Whether the spans of this thread's subscriber are exported.
pub fn exporting() -> bool {
    tracing::dispatcher::get_default(|d| d.is::<Exporting>())
}

/// What the environment says about exporting traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The collector, `http://host:4317` or `https://…`.
    pub endpoint: String,
    /// `service.name` of the spans.
    pub service_name: String,
}

impl Settings {
    /// None when no OTLP endpoint is set: no export. An unsupported
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` is an error, not a silent nothing.
    pub fn from_env(
        default_service: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let Some(endpoint) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        else {
            return Ok(None);
        };
        let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
        if let Some(protocol) = protocol
            && protocol.trim() != "grpc"
        {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: traces are exported \
                 over OTLP/gRPC only (set it to grpc, or unset it, and point \
                 OTEL_EXPORTER_OTLP_ENDPOINT at the collector's gRPC port, usually 4317)"
            );
        }
        Ok(Some(Self {
            endpoint: endpoint.trim().to_owned(),
            service_name: set("OTEL_SERVICE_NAME").unwrap_or_else(|| default_service.to_owned()),
        }))
    }
}

/// The export of spans: a tracer provider and its exporter.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Batches spans to the OTLP/gRPC collector of `settings`.
    pub fn otlp(settings: &Settings) -> anyhow::Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.endpoint.clone())
            .build()
            .map_err(|e| anyhow::anyhow!("the OTLP exporter for {}: {e}", settings.endpoint))?;
        let provider = SdkTracerProvider::builder()
            .with_resource(resource(&settings.service_name))
            .with_batch_exporter(exporter)
            .build();
        Ok(Self { provider })
    }

    /// Hands each span to `exporter` as it ends (tests: opentelemetry_sdk's
    /// in-memory exporter).
    pub fn with_exporter(service_name: &str, exporter: impl SpanExporter + 'static) -> Self {
        let provider = SdkTracerProvider::builder()
            .with_resource(resource(service_name))
            .with_simple_exporter(exporter)
            .build();
        Self { provider }
    }

    /// Sends the spans still buffered, then stops the export.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let ended = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(err)) = ended {
            tracing::warn!(error = %err, "stopping the trace export");
        }
    }
}

fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_owned())
        .build()
}

/// The span of one call, with its request id: the client's `x-request-id`
/// when it is sane, else a new UUIDv7; returned as the response header's
/// value. The caller's `traceparent`, when it sent one, is the parent.
pub fn rpc_span(headers: &HeaderMap, method: &str) -> (Span, HeaderValue) {
    let id = match headers.get(REQUEST_ID) {
        Some(value) if sane_request_id(value.as_bytes()) => value.clone(),
        _ => {
            let mut buf = uuid::Uuid::encode_buffer();
            let id = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
            HeaderValue::from_str(id).expect("a UUID is header text")
        }
    };
    let span = tracing::info_span!(
        "rpc",
        request_id = %id.to_str().unwrap_or_default()
    );
    if exporting() {
        if headers.contains_key("traceparent") {
            let parent = TraceContextPropagator::new().extract(&Headers(headers));
            let _ = span.set_parent(parent);
        }
        let (service, name) = method
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((method, ""));
        span.set_attribute("rpc.system", "grpc");
        span.set_attribute("rpc.service", service.to_owned());
        span.set_attribute("rpc.method", name.to_owned());
    }
    (span, id)
}

/// A client's request id is kept when it is 1 to 128 characters of
/// letters, digits and `-_.:`; anything else could forge log fields.
fn sane_request_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Records how a call ended on its span.
pub fn record_code(span: &Span, code: tonic::Code) {
    if exporting() {
        span.set_attribute("rpc.grpc.status_code", code as i64);
    }
}

/// Records who called (a platform id, a key id, `admin`; never a secret)
/// on the current call's span.
pub fn record_peer(peer: &str) {
    if exporting() {
        Span::current().set_attribute("talent.peer", peer.to_owned());
    }
}

/// The W3C `traceparent` of `span`, when its trace is exported.
pub fn traceparent(span: &Span) -> Option<String> {
    if !exporting() {
        return None;
    }
    let cx = span.context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// The span context a `traceparent` names, when it is valid.
pub fn remote_context(traceparent: &str) -> Option<SpanContext> {
    if traceparent.is_empty() {
        return None;
    }
    let carrier = Traceparent(traceparent);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// Links `span` to the context of each `traceparent` (a span that covers
/// many events, each from a call of its own).
pub fn link_all<'a>(span: &Span, traceparents: impl IntoIterator<Item = &'a str>) {
    if !exporting() {
        return;
    }
    for tp in traceparents {
        if let Some(sc) = remote_context(tp) {
            span.add_link(sc);
        }
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn no_endpoint_no_export() {
        assert_eq!(Settings::from_env("talent-x", env(&[])).unwrap(), None);
        let blank = [("OTEL_EXPORTER_OTLP_ENDPOINT", " ")];
        assert_eq!(Settings::from_env("talent-x", env(&blank)).unwrap(), None);
    }

    #[test]
    fn the_standard_variables_are_read() {
        let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")];
        let settings = Settings::from_env("talent-metrics", env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(settings.endpoint, "http://collector:4317");
        assert_eq!(settings.service_name, "talent-metrics");

        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_SERVICE_NAME", "recruiting-eu"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let settings = Settings::from_env("talent-metrics", env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(settings.endpoint, "http://traces:4317");
        assert_eq!(settings.service_name, "recruiting-eu");

        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ];
        let err = Settings::from_env("talent-metrics", env(&vars)).unwrap_err();
        assert!(err.to_string().contains("gRPC only"), "{err}");
    }

    #[test]
    fn request_ids_from_clients_must_be_sane() {
        assert!(sane_request_id(b"0190f1a2-7b3c-7def-8123-456789abcdef"));
        assert!(sane_request_id(b"push:42"));
        assert!(!sane_request_id(b""));
        assert!(!sane_request_id(b"a b"));
        assert!(!sane_request_id(b"x\" level=error"));
        assert!(!sane_request_id(&[b'a'; 129]));
    }

    #[test]
    fn a_request_id_is_made_when_the_client_sent_none_or_a_bad_one() {
        let (_, made) = rpc_span(&HeaderMap::new(), "/a.B/C");
        assert_eq!(made.len(), 36);
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("mine-1"));
        assert_eq!(rpc_span(&headers, "/a.B/C").1, "mine-1");
        headers.insert(REQUEST_ID, HeaderValue::from_static("not mine"));
        assert_ne!(rpc_span(&headers, "/a.B/C").1, "not mine");
    }

    #[test]
    fn traceparents_round_trip() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sc = remote_context(tp).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
        assert!(remote_context("").is_none());
        assert!(remote_context("00-garbage").is_none());
    }
}
