//! The operator's HTTP port: `GET /metrics` (Prometheus) and `GET /health`
//! (a JSON detail of the service's state, such as the relay's backlog).
//! Served over TLS, with the gRPC port's certificate, when that is
//! configured.
//!
//! `/metrics` shows the service's registry (every name prefixed `talent_`)
//! and the standard `process_*` metrics of the process, under their usual
//! unprefixed names so that ready-made dashboards find them.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::connections::{self, ConnectionSettings};

/// Produces the health detail: a JSON object, and whether the service is
/// healthy (200) or degraded (503).
pub type HealthDetail = Arc<dyn Fn() -> (bool, serde_json::Value) + Send + Sync>;

#[derive(Clone)]
struct AppState {
    registry: Registry,
    process: Arc<ProcessMetrics>,
    detail: Option<HealthDetail>,
}

/// The `process_*` metrics (CPU, memory, file descriptors, start time),
/// where the platform has them.
struct ProcessMetrics {
    #[cfg(target_os = "linux")]
    collector: prometheus::process_collector::ProcessCollector,
}

impl ProcessMetrics {
    fn new() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            collector: prometheus::process_collector::ProcessCollector::for_self(),
        }
    }

    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        #[cfg(target_os = "linux")]
        {
            use prometheus::core::Collector;
            self.collector.collect()
        }
        #[cfg(not(target_os = "linux"))]
        Vec::new()
    }
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let (healthy, detail) = match &state.detail {
        Some(detail) => detail(),
        None => (true, serde_json::json!({})),
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(detail))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    let mut families = state.registry.gather();
    families.extend(state.process.gather());
    // Encoding into memory fails only on a malformed metric family, which
    // the registry prevents when metrics are registered.
    if let Err(err) = encoder.encode(&families, &mut body) {
        tracing::error!(error = %err, "encoding metrics");
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
        body,
    )
}

/// Serves `registry` and the health `detail` on `listener`, with
/// `settings` (TLS, idle connections), until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Registry,
    detail: Option<HealthDetail>,
    settings: ConnectionSettings,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(AppState {
            registry,
            process: Arc::new(ProcessMetrics::new()),
            detail,
        });
    let app =
        app.map_request(|req: http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new));
    connections::serve(listener, settings, app, shutdown).await;
}

/// Binds the metrics port; `None` when metrics are disabled.
pub async fn bind(addr: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => Ok(Some(TcpListener::bind(addr).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn health_reports_the_detail_and_its_verdict() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = healthy.clone();
        let detail: HealthDetail = Arc::new(move || {
            (
                flag.load(std::sync::atomic::Ordering::SeqCst),
                serde_json::json!({"relay": {"backlog_rows": 42}}),
            )
        });
        let stop = CancellationToken::new();
        let settings = ConnectionSettings::http1(&crate::ServerConfig::default(), None);
        let task = tokio::spawn(serve(
            listener,
            Registry::new(),
            Some(detail),
            settings,
            stop.clone(),
        ));

        let ok = get(addr, "/health").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(r#"{"relay":{"backlog_rows":42}}"#), "{ok}");
        healthy.store(false, std::sync::atomic::Ordering::SeqCst);
        let degraded = get(addr, "/health").await;
        assert!(degraded.starts_with("HTTP/1.1 503"), "{degraded}");

        let metrics = get(addr, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        #[cfg(target_os = "linux")]
        assert!(
            metrics.contains("\nprocess_resident_memory_bytes "),
            "{metrics}"
        );

        stop.cancel();
        task.await.unwrap();
    }
}
