//! The test harness: both services in-process on port 0, each on a fresh
//! database of its own, reached only through their public gRPC APIs.
//!
//! SQLite by default (a fresh file in a temporary folder). When
//! `TALENT_TEST_POSTGRES_URL` is set (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`), each service gets a fresh
//! PostgreSQL database created for the test and dropped afterwards.

#![allow(dead_code)]

pub mod metrics;
pub mod recruiting;

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use talent_server::{Backend, CancellationToken};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The environment variable that switches the tests to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "TALENT_TEST_POSTGRES_URL";

/// Both services, running.
pub struct TestApp {
    pub recruiting_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub recruiting_prometheus_addr: SocketAddr,
    pub metrics_prometheus_addr: SocketAddr,
    pub backend: Backend,
    shutdown: CancellationToken,
    recruiting_task: Option<JoinHandle<anyhow::Result<()>>>,
    metrics_task: Option<JoinHandle<anyhow::Result<()>>>,
    databases: TestDatabases,
}

/// Settings a test may change before the services start.
pub struct Options {
    pub max_message_bytes: usize,
    pub max_concurrent_requests: usize,
    pub shutdown_grace_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 1024,
            shutdown_grace_secs: 30,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let databases = TestDatabases::create().await;
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));

        let mut recruiting = talent_recruiting::Config::default();
        let mut metrics = talent_metrics::Config::default();
        for (server, url) in [
            (&mut recruiting.server, &databases.recruiting_url),
            (&mut metrics.server, &databases.metrics_url),
        ] {
            server.listen_addr = local(0);
            server.prometheus_addr = Some(local(0));
            server.database_url = url.clone();
            server.database_max_connections = 4;
            server.max_message_bytes = options.max_message_bytes;
            server.max_concurrent_requests = options.max_concurrent_requests;
            server.shutdown_grace_secs = options.shutdown_grace_secs;
        }
        recruiting::configure(&mut recruiting);
        metrics::configure(&mut metrics);

        let recruiting = talent_recruiting::Application::build(recruiting)
            .await
            .expect("the recruiting service starts");
        let metrics = talent_metrics::Application::build(metrics)
            .await
            .expect("the metrics service starts");
        let shutdown = CancellationToken::new();
        Self {
            recruiting_addr: recruiting.local_addr(),
            metrics_addr: metrics.local_addr(),
            recruiting_prometheus_addr: recruiting.prometheus_addr().unwrap(),
            metrics_prometheus_addr: metrics.prometheus_addr().unwrap(),
            backend: databases.backend,
            recruiting_task: Some(tokio::spawn(recruiting.run_until_stopped(shutdown.clone()))),
            metrics_task: Some(tokio::spawn(metrics.run_until_stopped(shutdown.clone()))),
            shutdown,
            databases,
        }
    }

    pub async fn recruiting_channel(&self) -> Channel {
        channel(self.recruiting_addr).await
    }

    pub async fn metrics_channel(&self) -> Channel {
        channel(self.metrics_addr).await
    }

    /// Sends the shutdown signal (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shuts both services down and waits until they have stopped;
    /// panics if either ended with an error.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in [self.recruiting_task.take(), self.metrics_task.take()]
            .into_iter()
            .flatten()
        {
            task.await
                .expect("the service task does not panic")
                .expect("the service stops cleanly");
        }
    }

    /// Waits for the recruiting service to stop (after `begin_shutdown`).
    pub async fn recruiting_stopped(&mut self) -> anyhow::Result<()> {
        let task = self.recruiting_task.take().expect("not yet awaited");
        task.await.expect("the service task does not panic")
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

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
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
fn with_database(server_url: &str, name: &str) -> String {
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
