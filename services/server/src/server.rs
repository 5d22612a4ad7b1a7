//! A gRPC server as both talent services run it: the service's own gRPC
//! services plus `grpc.health.v1`, server reflection (v1 and v1alpha), the
//! [`RpcLayer`](crate::middleware::RpcLayer), Prometheus metrics and a
//! graceful shutdown.
//!
//! The listener is bound first ([`Server::bind`]), so a test can ask for
//! port 0 and learn the real port before serving.

use std::{convert::Infallible, net::SocketAddr};

use anyhow::Context;
use http::{Request, Response};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio_stream::{StreamExt, wrappers::TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{body::Body, server::NamedService, service::Routes};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::Service;

use crate::{
    ServerConfig,
    middleware::{RpcLayer, RpcMetrics},
    prometheus_http,
};

/// A bound, not yet serving, gRPC server.
pub struct Server {
    name: &'static str,
    config: ServerConfig,
    listener: TcpListener,
    prometheus_listener: Option<TcpListener>,
    registry: Registry,
    health: HealthReporter,
    routes: Routes,
    services: Vec<&'static str>,
    health_detail: Option<prometheus_http::HealthDetail>,
    draining: CancellationToken,
}

impl Server {
    /// Binds the gRPC port (and the metrics port, when configured).
    /// `name` labels this service's metrics and logs.
    pub async fn bind(name: &'static str, config: &ServerConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {name} to {}", config.listen_addr))?;
        let prometheus_listener = prometheus_http::bind(config.prometheus_addr)
            .await
            .with_context(|| format!("binding {name}'s metrics port"))?;
        let registry = Registry::new_custom(Some("talent".into()), None)?;
        Ok(Self {
            name,
            config: config.clone(),
            listener,
            prometheus_listener,
            registry,
            health: HealthReporter::new(),
            routes: Routes::default(),
            services: Vec::new(),
            health_detail: None,
            draining: CancellationToken::new(),
        })
    }

    /// The address the gRPC server listens on (with the real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The address of `/metrics`, when enabled.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.prometheus_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The service's metrics registry, for metrics of its own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The health reporter, for services that report more than "serving".
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Cancelled when shutdown begins. Long-lived streams watch it: they
    /// finish the message in hand, then end with `UNAVAILABLE` so that the
    /// client reconnects elsewhere, instead of holding the drain open until
    /// the grace period runs out.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Sets what `GET /health` on the metrics port answers: a JSON detail
    /// and whether the service is healthy (200) or degraded (503).
    pub fn set_health_detail(&mut self, detail: prometheus_http::HealthDetail) {
        self.health_detail = Some(detail);
    }

    /// Adds one gRPC service; it is reported SERVING once the server runs
    /// and listed by reflection.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.services.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` is cancelled, then turns every service
    /// NOT_SERVING, stops accepting connections, and gives in-flight calls
    /// `shutdown_grace_secs` to finish before closing them.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            name,
            config,
            listener,
            prometheus_listener,
            registry,
            health,
            mut routes,
            services,
            health_detail,
            draining,
        } = self;

        // Both versions describe every service either lists, the other
        // version's reflection service included (a builder registers only
        // its own), so that clients which resolve each listed service
        // (`buf curl --list-methods`) succeed on either.
        let reflection = |builder: tonic_reflection::server::Builder<'static>| {
            let mut builder = builder
                .register_encoded_file_descriptor_set(talent_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                )
                .with_service_name("grpc.health.v1.Health")
                .with_service_name("grpc.reflection.v1.ServerReflection")
                .with_service_name("grpc.reflection.v1alpha.ServerReflection");
            for service in &services {
                builder = builder.with_service_name(*service);
            }
            builder
        };
        routes = routes
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                tonic_health::server::HealthService::from_health_reporter(health.clone()),
            ))
            .add_service(reflection(tonic_reflection::server::Builder::configure()).build_v1()?)
            .add_service(
                reflection(tonic_reflection::server::Builder::configure()).build_v1alpha()?,
            );

        for service in &services {
            health
                .set_service_status(*service, ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;

        let metrics = RpcMetrics::register(&registry)?;
        let prometheus_task = prometheus_listener.map(|listener| {
            let (registry, shutdown) = (registry.clone(), shutdown.clone());
            tokio::spawn(async move {
                if let Err(err) =
                    prometheus_http::serve(listener, registry, health_detail, shutdown).await
                {
                    tracing::error!(error = %err, "metrics endpoint failed");
                }
            })
        });

        let addr = listener.local_addr()?;
        let incoming = TcpListenerStream::new(listener).map(|stream| {
            stream.inspect(|s| {
                // Small gRPC messages must not wait for Nagle's algorithm.
                let _ = s.set_nodelay(true);
            })
        });
        let stop = CancellationToken::new();
        let stop_signal = stop.clone();
        let server = tonic::transport::Server::builder()
            .layer(RpcLayer::new(config.max_concurrent_requests, metrics))
            .serve_with_incoming_shutdown(routes, incoming, async move {
                stop_signal.cancelled().await
            });
        tokio::pin!(server);
        tracing::info!(service = name, %addr, "serving gRPC");

        tokio::select! {
            result = &mut server => {
                result.with_context(|| format!("{name} gRPC server failed"))?;
                return Ok(());
            }
            () = shutdown.cancelled() => {}
        }

        tracing::info!(service = name, "shutting down: NOT_SERVING, draining calls");
        for service in &services {
            health
                .set_service_status(*service, ServingStatus::NotServing)
                .await;
        }
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        draining.cancel();
        stop.cancel();
        match tokio::time::timeout(config.shutdown_grace(), &mut server).await {
            Ok(result) => result.with_context(|| format!("{name} gRPC server failed"))?,
            Err(_) => tracing::warn!(
                service = name,
                grace_secs = config.shutdown_grace_secs,
                "calls still in flight after the grace period were closed"
            ),
        }
        if let Some(task) = prometheus_task {
            let _ = task.await;
        }
        tracing::info!(service = name, "stopped");
        Ok(())
    }
}
