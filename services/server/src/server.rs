//! A gRPC server as both talent services run it: the service's own gRPC
//! services plus `grpc.health.v1`, server reflection (v1 and v1alpha), the
//! [`RpcLayer`](crate::middleware::RpcLayer), Prometheus metrics, TLS
//! ([`tls`](crate::tls)) and a graceful shutdown.
//!
//! The listener is bound first ([`Server::bind`]), so a test can ask for
//! port 0 and learn the real port before serving.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use http::{Request, Response};
use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;
use tonic::{body::Body, server::NamedService, service::Routes};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Service, ServiceBuilder};

use crate::{
    Db, ServerConfig,
    audit::{Audit, AuditLayer, AuditLog, AuditWriter, Fields, Redactor, Who, list::AuditEvents},
    connections::{self, ConnectionSettings},
    health::{DbHealth, DbState},
    methods::Methods,
    middleware::{RpcLayer, RpcMetrics},
    prometheus_http,
    tls::{self, TlsFiles, TlsReloader},
};

/// The services every server serves beside its own.
const INFRASTRUCTURE: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

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
    reporters: Vec<(&'static str, watch::Receiver<bool>)>,
    health_detail: Option<prometheus_http::HealthDetail>,
    draining: CancellationToken,
    tls: Option<TlsReloader>,
    db: Option<Db>,
    audit: Option<AuditWriter>,
}

impl Server {
    /// Loads the TLS files (when configured), then binds the gRPC port (and
    /// the metrics port, when configured). `name` labels this service's
    /// metrics and logs.
    pub async fn bind(name: &'static str, config: &ServerConfig) -> anyhow::Result<Self> {
        let tls = TlsFiles::from_config(config)?
            .map(TlsReloader::load)
            .transpose()
            .with_context(|| format!("loading {name}'s TLS files"))?;
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {name} to {}", config.listen_addr))?;
        let prometheus_listener = prometheus_http::bind(config.prometheus_addr)
            .await
            .with_context(|| format!("binding {name}'s metrics port"))?;
        let registry = Registry::new_custom(Some("talent".into()), None)?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Always 1: the version of the running service"),
            &["version", "service"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), name])
            .set(1);
        registry.register(Box::new(build_info))?;
        Ok(Self {
            name,
            config: config.clone(),
            listener,
            prometheus_listener,
            registry,
            health: HealthReporter::new(),
            routes: Routes::default(),
            services: Vec::new(),
            reporters: Vec::new(),
            health_detail: None,
            draining: CancellationToken::new(),
            tls,
            db: None,
            audit: None,
        })
    }

    /// The TLS configuration in use, when TLS is on: its
    /// [`reload`](TlsReloader::reload) is what SIGHUP and a change of the
    /// files call.
    pub fn tls(&self) -> Option<TlsReloader> {
        self.tls.clone()
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

    /// Reports `name` in gRPC health as `serving` says (SERVING while
    /// true), apart from the service's own names: a part of the service
    /// whose trouble must not take the service out of rotation (the
    /// recruiting relay). Like every name, NOT_SERVING once shutdown
    /// begins.
    pub fn report_health(&mut self, name: &'static str, serving: watch::Receiver<bool>) {
        self.reporters.push((name, serving));
    }

    /// Makes health follow `db`: NOT_SERVING while it does not answer a
    /// probe, and from the first sign of corruption until restart
    /// ([`DbHealth`]).
    pub fn watch_database(&mut self, db: &Db) {
        self.db = Some(db.clone());
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

    /// Starts the audit log of this server in `db` (the service's own
    /// database), its methods audited as `table` says, its callers named
    /// by `who`. Returns the layer to wrap each of the service's gRPC
    /// services with, outside its authentication layer, and the log as
    /// `ListAuditEvents` reads it. Rows older than `audit_retention_days`
    /// are deleted while the server runs.
    pub fn audit<C: Clone + Send + Sync + 'static>(
        &mut self,
        db: &Db,
        table: &[(&str, Audit)],
        fields: &[Fields],
        who: fn(&C) -> Who,
    ) -> anyhow::Result<(AuditLayer<C>, AuditEvents)> {
        let log = AuditLog::new(db.clone());
        let redactor = Redactor::new(table, fields, talent_proto::FILE_DESCRIPTOR_SET)?;
        let days = self.config.audit_retention_days;
        let retention = (days > 0).then(|| Duration::from_secs(u64::from(days) * 86_400));
        let (queue, writer) = AuditWriter::start(log.sink(), redactor, retention);
        self.audit = Some(writer);
        let events = AuditEvents::new(log, queue.clone());
        let layer = AuditLayer::new(table, who, queue, self.config.max_message_bytes);
        Ok((layer, events))
    }

    /// Serves until `shutdown` is cancelled, then turns every service
    /// NOT_SERVING, stops accepting connections, and gives in-flight calls
    /// `shutdown_grace_secs` to finish before closing them; then writes the
    /// audit events still queued.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let audit = self.audit.take();
        let result = self.serve(shutdown).await;
        if let Some(audit) = audit {
            audit.finish().await;
        }
        result
    }

    async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            name,
            config,
            listener,
            prometheus_listener,
            registry,
            health,
            mut routes,
            services,
            reporters,
            health_detail,
            draining,
            tls,
            db,
            audit: _,
        } = self;
        let db_health = DbHealth::new();
        let probe_stop = CancellationToken::new();
        let probe = db.map(|db| tokio::spawn(db_health.clone().probe(db, probe_stop.clone())));
        let health_detail = Some(with_database(health_detail, db_health.clone()));

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
        let follower = tokio::spawn(follow_database(
            db_health.clone(),
            health.clone(),
            services.clone(),
            probe_stop.clone(),
        ));
        let mut reported = Vec::with_capacity(reporters.len());
        let mut reporter_tasks = Vec::with_capacity(reporters.len());
        for (name, serving) in reporters {
            let status = status_of(*serving.borrow());
            health.set_service_status(name, status).await;
            reported.push(name);
            reporter_tasks.push(tokio::spawn(follow_reporter(
                name,
                serving,
                health.clone(),
                probe_stop.clone(),
            )));
        }

        if let Some(tls) = &tls {
            tls::spawn_reloads(
                tls,
                Duration::from_secs(config.tls_reload_check_secs),
                &shutdown,
            );
        }
        let prometheus_task = prometheus_listener.map(|listener| {
            let settings = ConnectionSettings::http1(&config, tls.clone());
            let (registry, shutdown) = (registry.clone(), shutdown.clone());
            tokio::spawn(prometheus_http::serve(
                listener,
                registry,
                health_detail,
                settings,
                shutdown,
            ))
        });

        let mut served: Vec<&str> = services.clone();
        served.extend(INFRASTRUCTURE);
        let methods = Methods::of(
            &served,
            &[
                talent_proto::FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ],
        )?;
        let layer = RpcLayer::new(
            config.max_concurrent_requests,
            RpcMetrics::register(&registry)?,
            methods,
            (config.stream_idle_timeout_secs > 0)
                .then(|| Duration::from_secs(config.stream_idle_timeout_secs)),
        )
        .with_db_health(db_health);
        let grpc = ServiceBuilder::new()
            .map_request(|req: Request<hyper::body::Incoming>| req.map(Body::new))
            .layer(layer)
            .service(routes.prepare());

        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let server = connections::serve(
            listener,
            ConnectionSettings::grpc(&config, tls),
            grpc,
            stop.clone(),
        );
        tokio::pin!(server);
        tracing::info!(service = name, %addr, "serving gRPC");

        tokio::select! {
            () = &mut server => return Ok(()),
            () = shutdown.cancelled() => {}
        }

        tracing::info!(service = name, "shutting down: NOT_SERVING");
        // Neither the database nor a reporter moves health any more:
        // NOT_SERVING stays.
        probe_stop.cancel();
        let _ = follower.await;
        for task in reporter_tasks {
            let _ = task.await;
        }
        if let Some(probe) = probe {
            let _ = probe.await;
        }
        set_all(&health, &services, ServingStatus::NotServing).await;
        for name in &reported {
            health
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        // Still serving, so that a load balancer polling health sees
        // NOT_SERVING and moves traffic before the listener closes.
        let delay = Duration::from_millis(config.shutdown_delay_ms);
        if !delay.is_zero() {
            tokio::select! {
                () = &mut server => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
        tracing::info!(service = name, "draining calls");
        draining.cancel();
        stop.cancel();
        match tokio::time::timeout(config.shutdown_grace(), &mut server).await {
            Ok(()) => {}
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

/// Sets every service of the server and the server as a whole to `status`.
async fn set_all(health: &HealthReporter, services: &[&'static str], status: ServingStatus) {
    for service in services {
        health.set_service_status(*service, status).await;
    }
    health.set_service_status("", status).await;
}

/// Keeps the services' health equal to whether the database answers,
/// until `stop` is cancelled.
async fn follow_database(
    db_health: Arc<DbHealth>,
    health: HealthReporter,
    services: Vec<&'static str>,
    stop: CancellationToken,
) {
    let mut changes = db_health.subscribe();
    loop {
        let status = match *changes.borrow_and_update() {
            DbState::Answering => ServingStatus::Serving,
            DbState::NotAnswering | DbState::Corrupt => ServingStatus::NotServing,
        };
        set_all(&health, &services, status).await;
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

fn status_of(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Keeps the health of `name` equal to `serving` until `stop` is
/// cancelled.
async fn follow_reporter(
    name: &'static str,
    mut serving: watch::Receiver<bool>,
    health: HealthReporter,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = serving.changed() => if changed.is_err() { return },
        }
        let status = status_of(*serving.borrow_and_update());
        health.set_service_status(name, status).await;
    }
}

/// `/health` with the database's state: 503 while it does not answer, and
/// the service's own detail (healthy or not) beside it.
fn with_database(
    detail: Option<prometheus_http::HealthDetail>,
    db_health: Arc<DbHealth>,
) -> prometheus_http::HealthDetail {
    Arc::new(move || {
        let (healthy, mut value) = match &detail {
            Some(detail) => detail(),
            None => (true, serde_json::json!({})),
        };
        let state = db_health.state();
        if let Some(object) = value.as_object_mut() {
            object.insert("database".into(), state.name().into());
        }
        (healthy && state == DbState::Answering, value)
    })
}
