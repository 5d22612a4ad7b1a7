//! The metrics service: applies the recruiting service's events exactly
//! once, imports the universities' graduate roster, keeps statistics
//! incrementally and answers the HR bureau's queries.
//!
//! [`Application`] is the one entry point: the binary, the `talent`
//! command and the tests all build and run it the same way.
//!
//! Where to look:
//! - `api`: the gRPC handlers (authentication by key kind, decoding,
//!   mapping errors); no SQL.
//! - `ingest`: validation of events and roster rows, and their application
//!   in one transaction per request message with the deduplication record.
//! - `domain`: the statistical definitions as pure functions from one
//!   entity's facts (a person, a posting, an opening, an employer, a fair,
//!   a participation) to the aggregate cells it contributes.
//! - `store`: the one storage interface over SQLite and PostgreSQL.
//! - `stats`: the queries: aggregate rows → filters → breakdowns →
//!   disclosure control.
//! - `disclosure`: the cell key method: record keys, cell keys and the
//!   perturbation table, pure; `backfill`: record keys for data counted
//!   before they existed, added at start.
//!
//! The invariant that makes late, out-of-order and repeated facts harmless:
//! whenever an entity's facts change, its whole contribution is recomputed
//! from those facts and only the difference to what it contributed before
//! is added to the aggregates. Each difference is also appended to a log
//! stamped with its commit instant, so "as known at T" sums the log up to
//! T, while current figures read one row per cell.

use serde::{Deserialize, Serialize};
use talent_proto::talent::metrics::v1 as pb;
use talent_server::{
    CancellationToken, Db, Migrations, Server,
    auth::{Access, AuthLayer},
    binary::Service,
    config::ServiceConfig,
    quota::{QuotaSettings, Quotas},
};

mod api;
mod backfill;
pub mod disclosure;
mod domain;
mod ingest;
mod names;
mod stats;
mod store;

/// The pure entry points of ingest, for the fuzz targets.
pub use ingest::entry_points;

/// The default gRPC address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50052";
/// The default Prometheus `/metrics` address.
pub const PROMETHEUS_ADDR: &str = "127.0.0.1:9052";

/// The schema of this service's database, one migration set per back end.
pub const MIGRATIONS: Migrations = talent_server::migrations!();

/// Everything the metrics service is configured with.
pub type Config = ServiceConfig<Settings>;

/// The metrics service's own settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// "In the city": the workplace district code starts with this.
    pub city_district_prefix: String,
    /// The secret behind the record keys of disclosure control
    /// (HMAC-SHA256 over each person key). Required; it never leaves the
    /// service, and changing it changes every perturbed figure.
    pub record_key_secret: String,
    /// D of the perturbation table: no perturbed count differs from the
    /// true one by more (2 to 10).
    pub perturbation_max_adjustment: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            city_district_prefix: "3702".into(),
            record_key_secret: String::new(),
            perturbation_max_adjustment: 3,
        }
    }
}

impl talent_server::config::Settings for Settings {
    const SERVICE: &'static str = "metrics";
    const ADDR: &'static str = DEFAULT_ADDR;
    const PROMETHEUS_ADDR: &'static str = PROMETHEUS_ADDR;
}

/// The metrics service, connected to its database and bound to its port.
pub struct Application {
    server: Server,
    db: Db,
}

/// Names, at every start, each unrevoked key that was issued as INGEST and
/// is now a RELAY key: one a university imports its roster with has lost
/// that right and needs a ROSTER key.
async fn warn_of_migrated_keys(store: &store::Store) -> anyhow::Result<()> {
    let now = talent_codes::now_micros();
    for key in store.migrated_keys("INGEST").await? {
        if !key.is_active(now) {
            continue;
        }
        tracing::warn!(
            key = %format!("keys/{}", key.id),
            holder = %key.display_name,
            secret_prefix = %key.secret_prefix,
            "this key was issued as INGEST and is now a RELAY key: it may publish events but no \
             longer import graduate rosters; issue a ROSTER key to a university that imports \
             with it, and revoke this one if it is not the relay's"
        );
    }
    Ok(())
}

impl Service for Application {
    type Config = Config;
    const NAME: &'static str = "metrics";

    /// Connects to and migrates the database, then binds the gRPC port.
    async fn build(config: Config) -> anyhow::Result<Self> {
        let env_prefix = talent_server::binary::env_prefix::<Self>();
        talent_codes::person_key::check_secret(&config.person_key_secret).map_err(|why| {
            anyhow::anyhow!("person_key_secret ({env_prefix}PERSON_KEY_SECRET) {why}")
        })?;
        if !talent_codes::district::is_prefix(&config.city_district_prefix) {
            anyhow::bail!("city_district_prefix must be 1 to 6 digits");
        }
        if config.record_key_secret.is_empty() {
            anyhow::bail!(
                "record_key_secret is not set (TALENT_METRICS_RECORD_KEY_SECRET): it keys the \
                 perturbation of the figures that READ keys without EXACT protection see"
            );
        }
        let admin_key = config.server.admin_key(&env_prefix)?;
        let table = disclosure::PerturbationTable::new(config.perturbation_max_adjustment)
            .map_err(|why| anyhow::anyhow!("perturbation_max_adjustment: {why}"))?;
        let server_config = &config.server;
        let db = server_config.connect(MIGRATIONS).await?;
        let store = store::Store::new(db.clone());
        let record_keys = disclosure::RecordKeys::new(&config.record_key_secret);
        let keys_complete_at = backfill::add_record_keys(&store, &record_keys).await?;
        warn_of_migrated_keys(&store).await?;
        let limit = server_config.max_message_bytes;
        let mut server = Server::bind("metrics", server_config).await?;
        server.watch_database(&db);
        let (audited, audit) =
            server.audit(&db, api::AUDIT, api::AUDIT_FIELDS, api::Caller::audit_name)?;
        let state = std::sync::Arc::new(api::State {
            draining: server.draining(),
            store,
            ingest: ingest::IngestSettings {
                person_key_secret: config.person_key_secret.clone(),
                city_prefix: config.city_district_prefix.clone(),
                record_keys,
            },
            admin_key,
            table,
            keys_complete_at,
            audit,
            verified: Default::default(),
        });
        let authenticated = AuthLayer::new(
            api::Keys(state.clone()),
            Access::new(api::ACCESS),
            Quotas::new(QuotaSettings::of(&config.server)),
        );
        let server = server
            .add_service(
                audited.wrap(
                    authenticated.wrap(
                        pb::admin_service_server::AdminServiceServer::new(api::Admin(
                            state.clone(),
                        ))
                        .max_decoding_message_size(limit),
                    ),
                ),
            )
            .add_service(
                audited.wrap(
                    authenticated.wrap(
                        pb::ingest_service_server::IngestServiceServer::new(api::Ingest(
                            state.clone(),
                        ))
                        .max_decoding_message_size(limit),
                    ),
                ),
            )
            .add_service(
                audited.wrap(
                    authenticated.wrap(
                        pb::statistics_service_server::StatisticsServiceServer::new(
                            api::Statistics(state),
                        )
                        .max_decoding_message_size(limit),
                    ),
                ),
            );
        Ok(Self { server, db })
    }

    /// Serves until `shutdown` is cancelled, drains, then closes the pool.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let result = self.server.run(shutdown).await;
        self.db.close().await;
        result
    }

    fn server(&self) -> &Server {
        &self.server
    }
}
