//! The recruiting service: job platforms push employers, postings, résumés,
//! applications, hires and online fairs; every fact that matters to
//! statistics is written to an outbox in the same transaction and relayed
//! to the metrics service.
//!
//! [`Application`] is the one entry point: the binary, the `talent`
//! command and the tests all build and run it the same way.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{CancellationToken, Db, Migrations, Server, ServerConfig};

mod api;

/// Environment variables that configure this service start with this.
pub const ENV_PREFIX: &str = "TALENT_RECRUITING_";
/// The default gRPC address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";
/// The default Prometheus `/metrics` address.
pub const PROMETHEUS_ADDR: &str = "127.0.0.1:9051";

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The schema of this service's database, one migration set per back end.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

/// Everything the recruiting service is configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub server: ServerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::new(
                DEFAULT_ADDR.parse().expect("a valid address"),
                "sqlite://data/recruiting.db",
            )
            .with_prometheus(PROMETHEUS_ADDR),
        }
    }
}

/// The recruiting service, connected to its database and bound to its port.
pub struct Application {
    server: Server,
    db: Db,
}

impl Application {
    /// Connects to and migrates the database, then binds the gRPC port.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let server_config = &config.server;
        let db = Db::connect(
            &server_config.database_url,
            server_config.database_max_connections,
            MIGRATIONS,
        )
        .await?;
        let limit = server_config.max_message_bytes;
        let server = Server::bind("recruiting", server_config)
            .await?
            .add_service(
                pb::admin_service_server::AdminServiceServer::new(api::Admin)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::employer_service_server::EmployerServiceServer::new(api::Employers)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::posting_service_server::PostingServiceServer::new(api::Postings)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::resume_service_server::ResumeServiceServer::new(api::Resumes)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::application_service_server::ApplicationServiceServer::new(api::Applications)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::employment_service_server::EmploymentServiceServer::new(api::Employments)
                    .max_decoding_message_size(limit),
            )
            .add_service(
                pb::fair_service_server::FairServiceServer::new(api::Fairs)
                    .max_decoding_message_size(limit),
            );
        Ok(Self { server, db })
    }

    /// The gRPC address, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The Prometheus `/metrics` address, when enabled.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.server.prometheus_addr()
    }

    /// Serves until `shutdown` is cancelled, drains, then closes the pool.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let result = self.server.run(shutdown).await;
        self.db.close().await;
        result
    }
}
