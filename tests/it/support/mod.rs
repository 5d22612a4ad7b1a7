//! The test harness: both services in-process on port 0, each on a fresh
//! database of its own, reached only through their public gRPC APIs.
//!
//! SQLite by default (a fresh file in a temporary folder). When
//! `TALENT_TEST_POSTGRES_URL` is set (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`), each service gets a fresh
//! PostgreSQL database created for the test and dropped afterwards.

#![allow(dead_code)]

pub mod metrics;
pub mod proxy;
pub mod recruiting;
pub mod store;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use talent_server::binary::Service as _;
use talent_server::{Backend, CancellationToken, TlsReloader};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Connections of each service's pool in the tests.
pub const POOL_SIZE: u32 = 4;

/// The environment variable that switches the tests to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "TALENT_TEST_POSTGRES_URL";

/// Both services, running.
pub struct TestApp {
    pub recruiting_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub recruiting_prometheus_addr: SocketAddr,
    pub metrics_prometheus_addr: SocketAddr,
    pub backend: Backend,
    /// With `Options::recruiting_postgres_proxy` on PostgreSQL: the proxy
    /// between recruiting and its database.
    pub recruiting_proxy: Option<proxy::TcpProxy>,
    shutdown: CancellationToken,
    recruiting_config: talent_recruiting::Config,
    metrics_config: talent_metrics::Config,
    recruiting: Option<Running>,
    metrics: Option<Running>,
    databases: TestDatabases,
    recruiting_tls: Option<ServiceTls>,
    metrics_tls: Option<ServiceTls>,
}

/// One service's task and its own stop signal.
struct Running {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    tls: Option<TlsReloader>,
}

/// TLS of one service in a test: the files it serves, and the files its
/// clients (the tests, the relay) trust and present.
#[derive(Debug, Clone)]
pub struct ServiceTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by this (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// The authority clients trust (it signed `cert`).
    pub ca: PathBuf,
    /// The certificate and key clients present.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

impl ServiceTls {
    fn apply(&self, server: &mut talent_server::ServerConfig) {
        server.tls_cert_file = Some(self.cert.clone());
        server.tls_key_file = Some(self.key.clone());
        server.tls_client_ca_file = self.client_ca.clone();
    }

    /// How the tests' clients reach the service.
    pub fn client(&self) -> ClientTlsConfig {
        let identity = self
            .client_identity
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()));
        talent_server::tls::client_tls(Some(&self.ca), identity).expect("the test's TLS files")
    }
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.expect("the service task does not panic")
    }
}

/// Settings a test may change before the services start.
pub struct Options {
    pub max_message_bytes: usize,
    pub max_concurrent_requests: usize,
    pub shutdown_grace_secs: u64,
    /// Whether recruiting relays its outbox to metrics (with a RELAY key
    /// issued through the metrics AdminService, as an operator would).
    pub relay: bool,
    /// With `relay`: the relay reads its key from this file, which the test
    /// writes (no key is issued for it).
    pub relay_key_file: Option<std::path::PathBuf>,
    /// Both services' `stream_idle_timeout_secs`; none: the default.
    pub stream_idle_timeout_secs: Option<u64>,
    /// Both services' `connection_idle_timeout_secs`; none: the default.
    pub connection_idle_timeout_secs: Option<u64>,
    /// TLS on recruiting's ports.
    pub recruiting_tls: Option<ServiceTls>,
    /// TLS on metrics' ports; the relay then reaches metrics with the
    /// client files.
    pub metrics_tls: Option<ServiceTls>,
    /// On SQLite: parameters added to recruiting's database URL
    /// (`pragma.max_page_count=…`).
    pub recruiting_sqlite_params: Option<String>,
    /// With `relay`: its `relay_max_lag_secs`; none: the default.
    pub relay_max_lag_secs: Option<u64>,
    /// Recruiting's `shutdown_delay_ms`; none: the default.
    pub recruiting_shutdown_delay_ms: Option<u64>,
    /// On PostgreSQL: recruiting reaches its database through a TCP proxy
    /// the test can cut (`TestApp::recruiting_proxy`).
    pub recruiting_postgres_proxy: bool,
    /// A metrics database as an older version left it: migrated up to
    /// (and including) this version, then this SQL run, before the service
    /// starts and runs the remaining migrations.
    pub metrics_before: Option<(i64, &'static str)>,
    /// Both services' quotas per key; none: the defaults.
    pub quotas: Option<talent_server::quota::QuotaSettings>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 1024,
            shutdown_grace_secs: 30,
            relay: false,
            relay_key_file: None,
            stream_idle_timeout_secs: None,
            connection_idle_timeout_secs: None,
            recruiting_tls: None,
            metrics_tls: None,
            recruiting_sqlite_params: None,
            relay_max_lag_secs: None,
            recruiting_shutdown_delay_ms: None,
            recruiting_postgres_proxy: false,
            metrics_before: None,
            quotas: None,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// Both services with the relay from recruiting to metrics running.
    pub async fn spawn_with_relay() -> Self {
        Self::spawn_with(Options {
            relay: true,
            ..Default::default()
        })
        .await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let mut databases = TestDatabases::create().await;
        if let (Backend::Sqlite, Some(params)) =
            (databases.backend, &options.recruiting_sqlite_params)
        {
            databases.recruiting_url = format!("{}?{params}", databases.recruiting_url);
        }
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let mut recruiting_database_url = databases.recruiting_url.clone();
        let mut recruiting_proxy = None;
        if databases.backend == Backend::Postgres && options.recruiting_postgres_proxy {
            let (_, upstream) = proxy::reroute(&recruiting_database_url, local(0));
            let started = proxy::TcpProxy::start(upstream).await;
            recruiting_database_url = proxy::reroute(&recruiting_database_url, started.addr).0;
            recruiting_proxy = Some(started);
        }

        let mut recruiting = talent_recruiting::Config::default();
        let mut metrics = talent_metrics::Config::default();
        for (server, url) in [
            (&mut recruiting.server, &recruiting_database_url),
            (&mut metrics.server, &databases.metrics_url),
        ] {
            server.listen_addr = local(0);
            server.prometheus_addr = Some(local(0));
            server.database_url = url.clone();
            server.database_max_connections = POOL_SIZE;
            server.max_message_bytes = options.max_message_bytes;
            server.max_concurrent_requests = options.max_concurrent_requests;
            server.shutdown_grace_secs = options.shutdown_grace_secs;
            if let Some(secs) = options.stream_idle_timeout_secs {
                server.stream_idle_timeout_secs = secs;
            }
            if let Some(secs) = options.connection_idle_timeout_secs {
                server.connection_idle_timeout_secs = secs;
            }
            if let Some(quotas) = options.quotas {
                server.max_calls_per_key = quotas.max_calls;
                server.max_streams_per_key = quotas.max_streams;
                server.items_per_sec_per_key = quotas.items_per_sec;
                server.items_burst_per_key = quotas.burst;
            }
        }
        if let Some(tls) = &options.recruiting_tls {
            tls.apply(&mut recruiting.server);
        }
        if let Some(tls) = &options.metrics_tls {
            tls.apply(&mut metrics.server);
        }
        recruiting::configure(&mut recruiting);
        metrics::configure(&mut metrics);

        if let Some((version, sql)) = options.metrics_before {
            prepare_metrics(databases.backend, &databases.metrics_url, version, sql).await;
        }
        let shutdown = CancellationToken::new();
        let (metrics_running, metrics_config) = start_metrics(metrics, &shutdown).await;
        if options.relay {
            // The city secret is one value wherever person keys are derived
            // (the roster in metrics meets résumés from recruiting).
            recruiting.person_key_secret = metrics_config.person_key_secret.clone();
            let metrics_addr = metrics_config.server.listen_addr;
            let tls = options.metrics_tls.as_ref();
            recruiting.metrics_url = Some(format!("{}://{metrics_addr}", scheme(tls)));
            if let Some(tls) = tls {
                recruiting.metrics_tls_ca_file = Some(tls.ca.clone());
                if let Some((cert, key)) = &tls.client_identity {
                    recruiting.metrics_tls_cert_file = Some(cert.clone());
                    recruiting.metrics_tls_key_file = Some(key.clone());
                }
            }
            match options.relay_key_file {
                Some(file) => recruiting.metrics_ingest_key_file = Some(file),
                None => {
                    let key = metrics::issue_relay_key(channel_to(metrics_addr, tls).await).await;
                    recruiting.metrics_ingest_key = Some(key);
                }
            }
            // Fast polls and short backoffs: tests wait on results, not time.
            recruiting.relay_idle_poll_ms = 20;
            recruiting.relay_backoff_min_ms = 10;
            recruiting.relay_backoff_max_ms = 200;
            recruiting.relay_monitor_interval_ms = 50;
            if let Some(secs) = options.relay_max_lag_secs {
                recruiting.relay_max_lag_secs = secs;
            }
        }
        if let Some(ms) = options.recruiting_shutdown_delay_ms {
            recruiting.server.shutdown_delay_ms = ms;
        }
        let (recruiting_running, recruiting_config) = start_recruiting(recruiting, &shutdown).await;
        Self {
            recruiting_addr: recruiting_config.server.listen_addr,
            metrics_addr: metrics_config.server.listen_addr,
            recruiting_prometheus_addr: recruiting_config.server.prometheus_addr.unwrap(),
            metrics_prometheus_addr: metrics_config.server.prometheus_addr.unwrap(),
            backend: databases.backend,
            recruiting_proxy,
            shutdown,
            recruiting_config,
            metrics_config,
            recruiting: Some(recruiting_running),
            metrics: Some(metrics_running),
            databases,
            recruiting_tls: options.recruiting_tls,
            metrics_tls: options.metrics_tls,
        }
    }

    pub async fn recruiting_channel(&self) -> Channel {
        channel_to(self.recruiting_addr, self.recruiting_tls.as_ref()).await
    }

    pub async fn metrics_channel(&self) -> Channel {
        channel_to(self.metrics_addr, self.metrics_tls.as_ref()).await
    }

    /// The TLS configuration metrics serves (to reload it).
    pub fn metrics_tls(&self) -> TlsReloader {
        self.metrics
            .as_ref()
            .and_then(|m| m.tls.clone())
            .expect("metrics runs with TLS")
    }

    /// Sends the shutdown signal (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shuts both services down and waits until they have stopped;
    /// panics if either ended with an error.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for running in [self.recruiting.take(), self.metrics.take()]
            .into_iter()
            .flatten()
        {
            running.stop().await.expect("the service stops cleanly");
        }
    }

    /// Waits for the recruiting service to stop (after `begin_shutdown`).
    pub async fn recruiting_stopped(&mut self) -> anyhow::Result<()> {
        let running = self.recruiting.take().expect("recruiting is running");
        running.task.await.expect("the service task does not panic")
    }

    /// Stops the metrics service (its database stays).
    pub async fn stop_metrics(&mut self) {
        let running = self.metrics.take().expect("metrics is running");
        running.stop().await.expect("metrics stops cleanly");
    }

    /// Starts the metrics service again, on the same port and database.
    pub async fn start_metrics(&mut self) {
        assert!(self.metrics.is_none(), "metrics is already running");
        let (running, _) = start_metrics(self.metrics_config.clone(), &self.shutdown).await;
        self.metrics = Some(running);
    }

    /// Starts the metrics service again and returns its start's error
    /// instead of panicking (a database it refuses).
    pub async fn try_start_metrics(&mut self) -> anyhow::Result<()> {
        assert!(self.metrics.is_none(), "metrics is already running");
        let (running, _) = try_start_metrics(self.metrics_config.clone(), &self.shutdown).await?;
        self.metrics = Some(running);
        Ok(())
    }

    /// Starts the recruiting service again and returns its start's error
    /// instead of panicking (a database it refuses).
    pub async fn try_start_recruiting(&mut self) -> anyhow::Result<()> {
        assert!(self.recruiting.is_none(), "recruiting is already running");
        let (running, _) =
            try_start_recruiting(self.recruiting_config.clone(), &self.shutdown).await?;
        self.recruiting = Some(running);
        Ok(())
    }

    /// Stops the recruiting service (its database stays).
    pub async fn stop_recruiting(&mut self) {
        let running = self.recruiting.take().expect("recruiting is running");
        running.stop().await.expect("recruiting stops cleanly");
    }

    /// Starts the recruiting service again, on the same port and database.
    pub async fn start_recruiting(&mut self) {
        assert!(self.recruiting.is_none(), "recruiting is already running");
        let (running, _) = start_recruiting(self.recruiting_config.clone(), &self.shutdown).await;
        self.recruiting = Some(running);
    }

    /// Stops and starts the recruiting service (same port, same database).
    pub async fn restart_recruiting(&mut self) {
        self.stop_recruiting().await;
        self.start_recruiting().await;
    }

    /// Waits until the relay has delivered every event written before this
    /// call (its `/health` detail shows an empty backlog measured later).
    pub async fn relay_drained(&self) {
        talent::commands::wait_for_relay(
            &self.recruiting_prometheus_addr.to_string(),
            Duration::from_secs(120),
        )
        .await
        .expect("the relay delivers the outbox");
    }

    /// Fetches the Prometheus text of one service.
    pub async fn prometheus_text(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }
}

/// The value of the sample `name` (a line's whole name and labels) in a
/// Prometheus page.
pub fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Migrates a metrics database up to `version`, then runs `sql`.
async fn prepare_metrics(backend: Backend, url: &str, version: i64, sql: &str) {
    let migrations = talent_metrics::MIGRATIONS;
    match backend {
        Backend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            migrations.sqlite.run_to(version, &pool).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            migrations.postgres.run_to(version, &pool).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// Runs one statement of a test's own on a service's database (given by
/// its URL).
pub async fn execute_sql(backend: Backend, url: &str, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Starts metrics; returns it and its config with the real addresses (so a
/// restart binds the same ports).
async fn start_metrics(
    config: talent_metrics::Config,
    shutdown: &CancellationToken,
) -> (Running, talent_metrics::Config) {
    try_start_metrics(config, shutdown)
        .await
        .expect("the metrics service starts")
}

async fn try_start_metrics(
    mut config: talent_metrics::Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Running, talent_metrics::Config)> {
    let app = talent_metrics::Application::build(config.clone()).await?;
    config.server.listen_addr = app.local_addr();
    config.server.prometheus_addr = app.prometheus_addr();
    let stop = shutdown.child_token();
    let tls = app.tls();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    Ok((Running { stop, task, tls }, config))
}

async fn start_recruiting(
    config: talent_recruiting::Config,
    shutdown: &CancellationToken,
) -> (Running, talent_recruiting::Config) {
    try_start_recruiting(config, shutdown)
        .await
        .expect("the recruiting service starts")
}

async fn try_start_recruiting(
    mut config: talent_recruiting::Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Running, talent_recruiting::Config)> {
    let app = talent_recruiting::Application::build(config.clone()).await?;
    config.server.listen_addr = app.local_addr();
    config.server.prometheus_addr = app.prometheus_addr();
    let stop = shutdown.child_token();
    let tls = app.tls();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    Ok((Running { stop, task, tls }, config))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    channel_to(addr, None).await
}

fn scheme(tls: Option<&ServiceTls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// A channel to `addr`, over TLS with the client files of `tls`.
pub async fn channel_to(addr: SocketAddr, tls: Option<&ServiceTls>) -> Channel {
    let mut endpoint = Endpoint::from_shared(format!("{}://{addr}", scheme(tls))).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.client()).unwrap();
    }
    endpoint
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("the service accepts connections")
}

/// The two databases of one test.
struct TestDatabases {
    backend: Backend,
    recruiting_url: String,
    metrics_url: String,
    /// Keeps the SQLite folder until the test ends.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the databases to drop.
    postgres: Option<(String, Vec<String>)>,
}

impl TestDatabases {
    async fn create() -> Self {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(server_url) if !server_url.is_empty() => {
                let names = [unique_name("recruiting"), unique_name("metrics")];
                let admin = sqlx::PgPool::connect(&server_url)
                    .await
                    .unwrap_or_else(|err| {
                        panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {err}")
                    });
                for name in &names {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(&admin)
                        .await
                        .expect("creating a test database");
                }
                admin.close().await;
                Self {
                    backend: Backend::Postgres,
                    recruiting_url: with_database(&server_url, &names[0]),
                    metrics_url: with_database(&server_url, &names[1]),
                    _dir: None,
                    postgres: Some((server_url, names.to_vec())),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = |file: &str| format!("sqlite://{}", dir.path().join(file).display());
                Self {
                    backend: Backend::Sqlite,
                    recruiting_url: url("recruiting.db"),
                    metrics_url: url("metrics.db"),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
        }
    }
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        let Some((server_url, names)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async; a thread of its own runs the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let admin = sqlx::PgPool::connect(&server_url).await?;
                for name in names {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await?;
                }
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
        });
        if let Ok(Err(err)) = cleanup.join() {
            eprintln!("could not drop a test database: {err}");
        }
    }
}

fn unique_name(service: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "talent_test_{service}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `postgres://user@host:port/old?x` with the database replaced by `name`.
pub fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}
