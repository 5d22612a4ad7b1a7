//! Accepting and serving a port's connections: TLS (when configured), HTTP/2
//! keepalive, closing connections that carry no call, and a graceful close
//! of every connection at shutdown.
//!
//! tonic's own server takes a TLS configuration fixed at start and has no
//! idle timeout, so both ports are served here with hyper: each connection
//! reads the TLS configuration in use when it arrives (so a reloaded
//! certificate reaches the next connection), and a connection with no call
//! for `connection_idle_timeout_secs` is closed with a GOAWAY (HTTP/2) or
//! `Connection: close` (HTTP/1.1), which clients take as "reconnect".

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::{
    ServerConfig,
    tls::{Alpn, TlsReloader},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client has this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How one port serves its connections.
#[derive(Clone)]
pub(crate) struct ConnectionSettings {
    protocol: Alpn,
    tls: Option<TlsReloader>,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    idle_timeout: Option<Duration>,
}

fn secs(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

impl ConnectionSettings {
    /// The gRPC port: HTTP/2 only.
    pub(crate) fn grpc(config: &ServerConfig, tls: Option<TlsReloader>) -> Self {
        Self {
            protocol: Alpn::Grpc,
            tls,
            keepalive_interval: secs(config.http2_keepalive_interval_secs),
            keepalive_timeout: Duration::from_secs(config.http2_keepalive_timeout_secs),
            idle_timeout: secs(config.connection_idle_timeout_secs),
        }
    }

    /// The operator port (`/metrics`, `/health`): HTTP/1.1.
    pub(crate) fn http1(config: &ServerConfig, tls: Option<TlsReloader>) -> Self {
        Self {
            protocol: Alpn::Http1,
            ..Self::grpc(config, tls)
        }
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder = match self.protocol {
            Alpn::Grpc => builder.http2_only(),
            Alpn::Http1 => builder.http1_only(),
        };
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout);
        // hyper enforces its HTTP/1 header read timeout only with a timer.
        builder.http1().timer(TokioTimer::new());
        builder
    }
}

/// What a port serves: a service hyper can run on a connection.
pub(crate) trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<Self::ResponseBody>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
    type ResponseBody: HttpBody<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type ResponseBody = B;
}

/// Accepts connections on `listener` and serves each with `service` until
/// `stop` is cancelled; then closes the listener, asks every connection to
/// close once its calls are done, and returns when all have closed.
/// Dropping the future instead aborts every connection.
pub(crate) async fn serve<S: HttpService>(
    listener: TcpListener,
    settings: ConnectionSettings,
    service: S,
    stop: CancellationToken,
) {
    let settings = Arc::new(settings);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(tcp, settings.clone(), service.clone(), stop.clone()));
                }
                Err(err) => {
                    // Out of file descriptors, usually: accepting again at
                    // once would only spin.
                    tracing::warn!(error = %err, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn connection<S: HttpService>(
    tcp: TcpStream,
    settings: Arc<ConnectionSettings>,
    service: S,
    stop: CancellationToken,
) {
    // Small gRPC messages must not wait for Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &settings.tls else {
        return serve_io(tcp, &settings, service, &stop).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config(settings.protocol));
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => handshake,
        () = stop.cancelled() => return,
    };
    match handshake {
        Ok(Ok(stream)) => serve_io(stream, &settings, service, &stop).await,
        // A plaintext client, an unknown or missing client certificate:
        // the client learns it from the alert; nothing for the operator.
        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

async fn serve_io<I, S: HttpService>(
    io: I,
    settings: &ConnectionSettings,
    service: S,
    stop: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = Tracked {
        inner: service,
        activity: activity.clone(),
    };
    let builder = settings.builder();
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(settings.idle_timeout), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The calls open on one connection, and since when it has had none.
///
/// A call's beginning and end only change these numbers: no task is woken
/// for them. The connection's idle timer looks at them when it fires.
struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new((0, Instant::now())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (usize, Instant)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(self: &Arc<Self>) -> CallGuard {
        self.state().0 += 1;
        CallGuard(self.clone())
    }

    /// Completes once the connection has had no call for `limit` (never
    /// when `limit` is none).
    async fn idle_for(&self, limit: Option<Duration>) {
        let Some(limit) = limit else {
            return std::future::pending().await;
        };
        loop {
            let (open, since) = *self.state();
            let now = Instant::now();
            // With calls open, the connection can be idle a whole `limit`
            // after they end at the soonest: look again in `limit`.
            let idle_at = if open > 0 { now + limit } else { since + limit };
            if open == 0 && idle_at <= now {
                return;
            }
            tokio::time::sleep_until(idle_at).await;
        }
    }
}

/// One open call; dropped with the call's response body (or its future).
struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.0 -= 1;
        if state.0 == 0 {
            state.1 = Instant::now();
        }
    }
}

/// A service that counts its calls as the connection's activity.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody + Send + 'static,
{
    type Response = Response<Guarded<B>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let guard = self.activity.begin();
        let call = self.inner.call(req);
        Box::pin(async move {
            let response = call.await?;
            Ok(response.map(|body| Guarded {
                inner: body,
                _guard: guard,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call counted until it is dropped.
    struct Guarded<B> {
        #[pin]
        inner: B,
        _guard: CallGuard,
    }
}

impl<B: HttpBody> HttpBody for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_without_calls_for_the_whole_limit() {
        let activity = Arc::new(Activity::new());
        let limit = Some(Duration::from_secs(60));
        let call = activity.begin();
        // With a call open, no amount of time makes the connection idle.
        let open = tokio::time::timeout(Duration::from_secs(600), activity.idle_for(limit)).await;
        assert!(open.is_err(), "idle while a call is open");
        drop(call);
        let ended = Instant::now();
        activity.idle_for(limit).await;
        assert_eq!(ended.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_restarts_the_idle_clock() {
        let activity = Arc::new(Activity::new());
        let limit = Some(Duration::from_secs(60));
        let idle = activity.clone();
        let started = Instant::now();
        let waiter = tokio::spawn(async move {
            idle.idle_for(limit).await;
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_secs(50)).await;
        drop(activity.begin());
        assert_eq!(waiter.await.unwrap(), Duration::from_secs(110));
    }
}
