//! The recruiting service: job platforms push employers, postings, résumés,
//! applications, hires and online fairs; every fact that matters to
//! statistics is written to an outbox in the same transaction and relayed
//! to the metrics service.
//!
//! [`Application`] is the one entry point: the binary, the `talent`
//! command and the tests all build and run it the same way.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{
    CancellationToken, Db, Migrations, Server,
    audit::{AuditLayer, Audited},
    auth::{Access, AuthLayer, Authenticated},
    binary::Service,
    config::ServiceConfig,
    quota::{QuotaSettings, Quotas},
};

mod api;
pub mod auth;
pub mod domain;
pub mod events;
pub mod pii;
pub mod relay;
pub mod store;
pub mod validate;

/// The pure entry points of the RPCs, for the fuzz targets.
pub use api::entry_points;

use store::{PgStore, RecruitingStore, SqliteStore};

/// The default gRPC address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";
/// The default Prometheus `/metrics` address.
pub const PROMETHEUS_ADDR: &str = "127.0.0.1:9051";

/// Connections of the relay's own pool: its delivery loop, the marking of
/// delivered rows beside it, and the backlog monitor.
const RELAY_CONNECTIONS: u32 = 3;

/// The schema of this service's database, one migration set per back end.
pub const MIGRATIONS: Migrations = talent_server::migrations!();

/// The recruiting service's own settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// 64 hexadecimal characters: the 32-byte XChaCha20-Poly1305 key that
    /// encrypts personal data at rest. Required.
    pub encryption_key: String,
    /// Seconds between two sweeps that record expired postings (and emit
    /// their `PostingClosed`). 0 disables the sweep.
    pub expiry_sweep_secs: u64,
    /// The metrics service's gRPC URL (`http://host:port`, or
    /// `https://host:port` when metrics speaks TLS) the outbox relay
    /// delivers events to. None: no relay runs in this replica (events wait
    /// in the outbox).
    pub metrics_url: Option<String>,
    /// PEM certificates of the authorities that sign the metrics service's
    /// certificate (an `https://` `metrics_url`); none: the system's.
    pub metrics_tls_ca_file: Option<PathBuf>,
    /// PEM certificate the relay presents to metrics (mutual TLS), with
    /// `metrics_tls_key_file`.
    pub metrics_tls_cert_file: Option<PathBuf>,
    /// PEM private key of `metrics_tls_cert_file`.
    pub metrics_tls_key_file: Option<PathBuf>,
    /// The RELAY key the relay presents to the metrics service. With
    /// `metrics_url`, this or `metrics_ingest_key_file` is required.
    pub metrics_ingest_key: Option<String>,
    /// A file holding that key instead (a mounted Docker or Kubernetes
    /// secret), read whenever the relay connects: a key written after the
    /// service started, or rotated in place, is used from the next
    /// connection on; while the file is missing the relay retries.
    pub metrics_ingest_key_file: Option<PathBuf>,
    /// Relay: events per request message, 1 to 1,000.
    pub relay_batch_size: usize,
    /// Relay: hours delivered outbox rows are kept before they are pruned.
    pub relay_retention_hours: u64,
    /// Relay: milliseconds between looks at an idle outbox.
    pub relay_idle_poll_ms: u64,
    /// Relay: first pause after a failed delivery, in milliseconds.
    pub relay_backoff_min_ms: u64,
    /// Relay: longest pause between delivery attempts, in milliseconds.
    pub relay_backoff_max_ms: u64,
    /// Relay: milliseconds between two measurements of the backlog.
    pub relay_monitor_interval_ms: u64,
    /// Relay: seconds events may wait without any delivery before the
    /// relay's health (`talent.recruiting.v1.Relay`) is NOT_SERVING; at
    /// least 1.
    pub relay_max_lag_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            encryption_key: String::new(),
            expiry_sweep_secs: 60,
            metrics_url: None,
            metrics_tls_ca_file: None,
            metrics_tls_cert_file: None,
            metrics_tls_key_file: None,
            metrics_ingest_key: None,
            metrics_ingest_key_file: None,
            relay_batch_size: 1000,
            relay_retention_hours: 7 * 24,
            relay_idle_poll_ms: 100,
            relay_backoff_min_ms: 100,
            relay_backoff_max_ms: 30_000,
            relay_monitor_interval_ms: 1000,
            relay_max_lag_secs: 60,
        }
    }
}

impl talent_server::config::Settings for Settings {
    const SERVICE: &'static str = "recruiting";
    const ADDR: &'static str = DEFAULT_ADDR;
    const PROMETHEUS_ADDR: &'static str = PROMETHEUS_ADDR;
}

/// Everything the recruiting service is configured with.
pub type Config = ServiceConfig<Settings>;

/// The secrets, checked once at start-up.
#[derive(Clone)]
pub struct Secrets {
    pub person_key_secret: Arc<[u8]>,
    pub encryption_key: [u8; 32],
    /// The bearer token of `AdminService` (and of `ExportPerson` across
    /// platforms). None: `AdminService` answers `UNAUTHENTICATED` to all.
    pub admin_key: Option<talent_server::auth::AdminKey>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Checks the secrets of `config`: a missing or malformed one stops the
/// service at start rather than at the first résumé.
pub fn secrets(config: &Config) -> anyhow::Result<Secrets> {
    let env_prefix = talent_server::binary::env_prefix::<Application>();
    talent_codes::person_key::check_secret(&config.person_key_secret).map_err(|why| {
        anyhow::anyhow!("person_key_secret ({env_prefix}PERSON_KEY_SECRET) {why}")
    })?;
    let key = hex::decode(&config.encryption_key)
        .ok()
        .filter(|k| k.len() == 32);
    let Some(key) = key else {
        bail!(
            "encryption_key (TALENT_RECRUITING_ENCRYPTION_KEY) must be 64 hexadecimal characters \
             (a 32-byte XChaCha20-Poly1305 key for personal data at rest)"
        );
    };
    let mut encryption_key = [0u8; 32];
    encryption_key.copy_from_slice(&key);
    Ok(Secrets {
        person_key_secret: Arc::from(config.person_key_secret.as_bytes()),
        encryption_key,
        admin_key: config.server.admin_key(&env_prefix)?,
    })
}

type Sweep = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// The recruiting service, connected to its database and bound to its port.
pub struct Application {
    server: Server,
    db: Db,
    sweep: Option<(Duration, Sweep)>,
    /// The relay and its own pool (see `RELAY_CONNECTIONS`).
    relay: Option<(relay::Relay<relay::SqlOutbox>, Db)>,
}

/// Adds every gRPC service of this crate, over `store`, audited in `db`.
fn add_services<S: RecruitingStore>(
    mut server: Server,
    store: S,
    db: &Db,
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<Server> {
    let limit = config.server.max_message_bytes;
    let (audited, audit_events) =
        server.audit(db, api::AUDIT, api::AUDIT_FIELDS, auth::Caller::audit_name)?;
    let (auth, keys) = authenticated(&store, config, secrets);
    let ctx = api::Context {
        store,
        person_key_secret: secrets.person_key_secret.clone(),
        draining: server.draining(),
        keys,
        audit: audit_events,
    };
    let layers = Layers {
        audit: audited,
        auth,
    };
    Ok(server
        .add_service(
            layers.wrap(
                pb::admin_service_server::AdminServiceServer::new(api::Admin(ctx.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::employer_service_server::EmployerServiceServer::new(api::Employers(
                    ctx.clone(),
                ))
                .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::posting_service_server::PostingServiceServer::new(api::Postings(ctx.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::resume_service_server::ResumeServiceServer::new(api::Resumes(ctx.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::application_service_server::ApplicationServiceServer::new(api::Applications(
                    ctx.clone(),
                ))
                .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::employment_service_server::EmploymentServiceServer::new(api::Employments(
                    ctx.clone(),
                ))
                .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            layers.wrap(
                pb::fair_service_server::FairServiceServer::new(api::Fairs(ctx))
                    .max_decoding_message_size(limit),
            ),
        ))
}

/// The authentication layer over `store`, with its key cache.
fn authenticated<S: RecruitingStore>(
    store: &S,
    config: &Config,
    secrets: &Secrets,
) -> (AuthLayer<auth::Keys<S>>, Arc<auth::KeyCache>) {
    let keys: Arc<auth::KeyCache> = Arc::default();
    let layer = AuthLayer::new(
        auth::Keys {
            store: store.clone(),
            admin_key: secrets.admin_key.clone(),
            cache: keys.clone(),
        },
        Access::new(api::ACCESS),
        Quotas::new(QuotaSettings::of(&config.server)),
    );
    (layer, keys)
}

/// What wraps each gRPC service: the audit layer outside, so that it
/// also records the calls authentication refuses.
struct Layers<S: RecruitingStore> {
    audit: AuditLayer<auth::Caller>,
    auth: AuthLayer<auth::Keys<S>>,
}

impl<S: RecruitingStore> Layers<S> {
    fn wrap<T>(&self, service: T) -> Audited<Authenticated<T, auth::Keys<S>>, auth::Caller> {
        self.audit.wrap(self.auth.wrap(service))
    }
}

/// The relay's settings, when this replica relays.
fn relay_config(config: &Config) -> anyhow::Result<Option<relay::RelayConfig>> {
    let Some(url) = &config.metrics_url else {
        return Ok(None);
    };
    let key = match (&config.metrics_ingest_key, &config.metrics_ingest_key_file) {
        (Some(key), None) => relay::IngestKey::Value(key.clone()),
        (None, Some(file)) => relay::IngestKey::File(file.clone()),
        (Some(_), Some(_)) => bail!(
            "set one of metrics_ingest_key and metrics_ingest_key_file \
             (TALENT_RECRUITING_METRICS_INGEST_KEY[_FILE]), not both"
        ),
        (None, None) => bail!(
            "metrics_ingest_key (TALENT_RECRUITING_METRICS_INGEST_KEY) or metrics_ingest_key_file \
             is required with metrics_url: issue a RELAY key with the metrics service's AdminService"
        ),
    };
    let tls = if url.starts_with("https://") {
        let identity = match (&config.metrics_tls_cert_file, &config.metrics_tls_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            _ => bail!("metrics_tls_cert_file and metrics_tls_key_file go together"),
        };
        let tls = talent_server::tls::client_tls(config.metrics_tls_ca_file.as_deref(), identity)
            .context("the relay's TLS settings")?;
        Some(tls)
    } else {
        if config.metrics_tls_ca_file.is_some()
            || config.metrics_tls_cert_file.is_some()
            || config.metrics_tls_key_file.is_some()
        {
            bail!("metrics_tls_* settings need an https:// metrics_url");
        }
        None
    };
    let ms = Duration::from_millis;
    Ok(Some(relay::RelayConfig {
        tls,
        batch_size: config.relay_batch_size,
        idle_poll: ms(config.relay_idle_poll_ms),
        backoff_min: ms(config.relay_backoff_min_ms),
        backoff_max: ms(config.relay_backoff_max_ms),
        monitor_interval: ms(config.relay_monitor_interval_ms),
        max_lag: Duration::from_secs(config.relay_max_lag_secs),
        retention: Duration::from_secs(config.relay_retention_hours * 3600),
        ..relay::RelayConfig::new(url.clone(), key)
    }))
}

/// Moves postings of a database written before openings were connected
/// groups to where the current rule puts them, once (see
/// `PostingStore::regroup_legacy_openings`).
async fn regroup_legacy_openings<S: RecruitingStore>(store: &S) -> anyhow::Result<()> {
    let moved = store
        .regroup_legacy_openings(validate::now_micros())
        .await
        .map_err(|e| anyhow::anyhow!("deriving the openings of stored postings: {e}"))?;
    if moved > 0 {
        tracing::info!(
            moved,
            "openings of stored postings derived by the current rule"
        );
    }
    Ok(())
}

/// Seals the free text of résumés a database holds in the clear (written
/// before free text was sealed), once: only this service holds the key,
/// so no migration can (see `ResumeStore::seal_legacy_free_text`).
async fn seal_legacy_free_text<S: RecruitingStore>(store: &S) -> anyhow::Result<()> {
    let sealed = store
        .seal_legacy_free_text()
        .await
        .map_err(|e| anyhow::anyhow!("sealing the free text of stored résumés: {e}"))?;
    if sealed > 0 {
        tracing::info!(sealed, "free text of stored résumés sealed");
    }
    Ok(())
}

/// The expiry sweep over `store`.
fn sweep<S: RecruitingStore>(store: S) -> Sweep {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move {
            match store.expire_postings(validate::now_micros()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "postings expired"),
                Err(err) => tracing::warn!(error = %err, "expiry sweep failed; retrying later"),
            }
        })
    })
}

impl Service for Application {
    type Config = Config;
    const NAME: &'static str = "recruiting";

    /// Checks the secrets, connects to and migrates the database, then
    /// binds the gRPC port.
    async fn build(config: Config) -> anyhow::Result<Self> {
        let secrets = secrets(&config).context("configuring the recruiting service")?;
        let server_config = &config.server;
        let db = server_config.connect(MIGRATIONS).await?;
        let mut server = Server::bind("recruiting", server_config).await?;
        server.watch_database(&db);
        let cipher = pii::Cipher::new(&secrets.encryption_key);
        let (server, sweeper) = match &db {
            Db::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone(), cipher);
                regroup_legacy_openings(&store).await?;
                seal_legacy_free_text(&store).await?;
                (
                    add_services(server, store.clone(), &db, &config, &secrets)?,
                    sweep(store),
                )
            }
            Db::Postgres(pool) => {
                let store = PgStore::new(pool.clone(), cipher);
                regroup_legacy_openings(&store).await?;
                seal_legacy_free_text(&store).await?;
                (
                    add_services(server, store.clone(), &db, &config, &secrets)?,
                    sweep(store),
                )
            }
        };
        let sweep = (config.expiry_sweep_secs > 0)
            .then(|| (Duration::from_secs(config.expiry_sweep_secs), sweeper));
        let mut server = server;
        let relay = match relay_config(&config)? {
            Some(relay_config) => {
                // The relay's own connections: on the service's pool its
                // reads and marks queued behind every API call waiting
                // for a lock (or for SQLite's write lock) while holding a
                // connection, so under a steady stream of small writes
                // the relay waited for connections and events reached
                // metrics late.
                let relay_db = Db::open(&server_config.database_url, RELAY_CONNECTIONS).await?;
                let relay = relay::Relay::new(
                    relay::SqlOutbox::new(relay_db.clone()),
                    relay_config,
                    server.registry(),
                )?;
                let status = relay.status();
                // Its own health name: a stalled relay must not take the
                // API out of rotation.
                server.report_health(relay::HEALTH_SERVICE, status.serving());
                server.set_health_detail(Arc::new(move || {
                    (true, serde_json::json!({ "relay": status.detail() }))
                }));
                Some((relay, relay_db))
            }
            None => None,
        };
        Ok(Self {
            server,
            db,
            sweep,
            relay,
        })
    }

    /// Serves until `shutdown` is cancelled, drains, then closes the pool.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let sweeper = self.sweep.map(|(every, sweep)| {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = ticks.tick() => sweep().await,
                    }
                }
            })
        });
        let relay = self
            .relay
            .map(|(relay, db)| (tokio::spawn(relay.run(shutdown.clone())), db));
        let result = self.server.run(shutdown).await;
        if let Some(task) = sweeper {
            let _ = task.await;
        }
        // The relay finishes the batch in flight, then stops.
        if let Some((task, db)) = relay {
            let _ = task.await;
            db.close().await;
        }
        self.db.close().await;
        result
    }

    fn server(&self) -> &Server {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relaying() -> Config {
        Config {
            own: Settings {
                metrics_url: Some("http://metrics:50052".into()),
                ..Settings::default()
            },
            ..Config::default()
        }
    }

    /// `relaying()` with `change` made to its own settings.
    fn relaying_with(change: impl FnOnce(&mut Settings)) -> Config {
        let mut config = relaying();
        change(&mut config);
        config
    }

    #[test]
    fn the_relay_key_comes_from_the_setting_or_its_file_but_not_both() {
        let inline = relaying_with(|s| s.metrics_ingest_key = Some("ing_inline".into()));
        let relay = relay_config(&inline).unwrap().unwrap();
        assert_eq!(relay.ingest_key, relay::IngestKey::from("ing_inline"));

        let file = relaying_with(|s| {
            s.metrics_ingest_key_file = Some("/run/secrets/relay-key".into());
        });
        let relay = relay_config(&file).unwrap().unwrap();
        assert_eq!(
            relay.ingest_key,
            relay::IngestKey::File("/run/secrets/relay-key".into())
        );

        let mut both = file.clone();
        both.metrics_ingest_key = Some("ing_inline".into());
        assert!(format!("{:#}", relay_config(&both).unwrap_err()).contains("not both"));
        assert!(relay_config(&relaying()).is_err(), "a relay needs a key");
        assert!(relay_config(&Config::default()).unwrap().is_none());
    }
}
