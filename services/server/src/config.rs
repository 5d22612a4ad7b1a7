//! Configuration: defaults, then an optional TOML file, then environment
//! variables, then command-line flags, each overriding the one before.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::auth::AdminKey;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use human or json")),
        }
    }
}

/// The fewest characters of an admin key.
pub const MIN_ADMIN_KEY_LEN: usize = 16;

/// What every talent service needs to serve gRPC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address the gRPC server listens on. Port 0 picks a free port.
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus `/metrics` HTTP endpoint; none disables it.
    pub prometheus_addr: Option<SocketAddr>,
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub database_url: String,
    /// The bearer token of the service's `AdminService`, at least
    /// [`MIN_ADMIN_KEY_LEN`] characters; none (or empty): every admin call
    /// is refused with `UNAUTHENTICATED`.
    pub admin_key: Option<String>,
    /// Largest number of connections in the database pool.
    pub database_max_connections: u32,
    /// Days an audit event is kept before the service deletes it; 0: kept
    /// for ever.
    pub audit_retention_days: u32,
    /// Requests (calls, including open streams) served at once; a request
    /// beyond it is shed at once with `RESOURCE_EXHAUSTED`.
    pub max_concurrent_requests: usize,
    /// Largest accepted request message, in bytes; a larger one gets
    /// `RESOURCE_EXHAUSTED`.
    pub max_message_bytes: usize,
    /// Seconds that in-flight calls get to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Milliseconds between turning NOT_SERVING and closing the listener on
    /// shutdown, while calls are still accepted, so that load balancers
    /// polling health move traffic away first (a few seconds on
    /// Kubernetes; 0 for a single process).
    pub shutdown_delay_ms: u64,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// PEM certificate chain served on the gRPC and Prometheus ports; with
    /// `tls_key_file`, both ports speak TLS only. None: plaintext.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM certificates of the authorities that sign client certificates:
    /// when set, every client must present one (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Seconds between two looks at the TLS files; a change is loaded for
    /// new connections (as on SIGHUP). 0: only SIGHUP reloads.
    pub tls_reload_check_secs: u64,
    /// Seconds between HTTP/2 pings on a connection that shows no sign of
    /// life; 0 sends none.
    pub http2_keepalive_interval_secs: u64,
    /// Seconds a ping may wait for its answer before the connection is
    /// closed.
    pub http2_keepalive_timeout_secs: u64,
    /// Seconds a connection may stay open with no call on it before the
    /// server closes it (gracefully, with GOAWAY); 0: never.
    pub connection_idle_timeout_secs: u64,
    /// Seconds a call's request stream may send nothing (a client stream
    /// such as `UpsertPostings` or `PublishEvents` between messages) before
    /// the call is ended with `DEADLINE_EXCEEDED`; 0: never.
    pub stream_idle_timeout_secs: u64,
    /// Calls (streams included) one key may have in flight; one more is
    /// refused `RESOURCE_EXHAUSTED` at once. 0: no cap. Well under
    /// `max_concurrent_requests`, so that one key cannot fill the server.
    pub max_calls_per_key: u32,
    /// Streams (calls of client- or server-streaming methods) one key may
    /// have open; one more is refused `RESOURCE_EXHAUSTED`. 0: no cap.
    pub max_streams_per_key: u32,
    /// Items (facts: postings, résumés, batch elements) a second that a key
    /// reporting facts (a recruiting platform's) may send; 0: no limit.
    pub items_per_sec_per_key: u32,
    /// Items such a key may send at once, beyond its rate; a unary call of
    /// more items than this is `INVALID_ARGUMENT`.
    pub items_burst_per_key: u32,
}

impl AsRef<ServerConfig> for ServerConfig {
    fn as_ref(&self) -> &ServerConfig {
        self
    }
}

impl ServerConfig {
    /// Connects to the service's database with its pool size and applies
    /// `migrations` ([`Db::connect`]).
    pub async fn connect(&self, migrations: crate::Migrations) -> anyhow::Result<crate::Db> {
        crate::Db::connect(
            &self.database_url,
            self.database_max_connections,
            migrations,
        )
        .await
    }

    /// Defaults for a service listening on `listen_addr` with an SQLite file.
    pub fn new(listen_addr: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen_addr,
            prometheus_addr: None,
            database_url: database_url.into(),
            admin_key: None,
            database_max_connections: 16,
            audit_retention_days: 400,
            max_concurrent_requests: 1024,
            max_message_bytes: 4 * 1024 * 1024,
            shutdown_grace_secs: 30,
            shutdown_delay_ms: 0,
            log_format: LogFormat::Human,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_reload_check_secs: 10,
            http2_keepalive_interval_secs: 60,
            http2_keepalive_timeout_secs: 20,
            connection_idle_timeout_secs: 300,
            stream_idle_timeout_secs: 120,
            max_calls_per_key: 100,
            max_streams_per_key: 16,
            items_per_sec_per_key: 100_000,
            items_burst_per_key: 20_000,
        }
    }

    /// The same, serving Prometheus metrics on `addr` (`HOST:PORT`).
    /// A service's defaults: gRPC on `listen_addr`, Prometheus on
    /// `prometheus_addr`, and an SQLite file under `data/` named for it.
    pub fn service(name: &str, listen_addr: &str, prometheus_addr: &str) -> Self {
        Self::new(
            listen_addr.parse().expect("a valid HOST:PORT"),
            format!("sqlite://data/{name}.db"),
        )
        .with_prometheus(prometheus_addr)
    }

    pub fn with_prometheus(mut self, addr: &str) -> Self {
        self.prometheus_addr = Some(addr.parse().expect("a valid HOST:PORT"));
        self
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The admin key, checked: none when unset or empty, an error naming
    /// `env_prefix` + `ADMIN_KEY` when it is too short to resist guessing.
    pub fn admin_key(&self, env_prefix: &str) -> anyhow::Result<Option<AdminKey>> {
        match self.admin_key.as_deref() {
            None | Some("") => Ok(None),
            Some(key) if key.chars().count() < MIN_ADMIN_KEY_LEN => anyhow::bail!(
                "admin_key ({env_prefix}ADMIN_KEY), when set, must be at least \
                 {MIN_ADMIN_KEY_LEN} characters"
            ),
            Some(key) => Ok(Some(AdminKey::new(key))),
        }
    }

    /// Whether the ports speak TLS (a certificate is configured).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some() || self.tls_key_file.is_some()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "sqlite://data/talent.db",
        )
    }
}

/// What a talent service is configured with: the plumbing's settings, the
/// city secret both services derive person keys with, and the service's
/// own settings (`Own`), all read from one flat set of keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "Own: Settings + Deserialize<'de>"))]
pub struct ServiceConfig<Own> {
    #[serde(flatten)]
    pub server: ServerConfig,
    /// The city secret of `person_key` = HMAC-SHA256(secret, normalised
    /// resident ID number). Required, at least 16 bytes, and the same value
    /// in every service that derives person keys (recruiting from résumés,
    /// metrics from graduate rosters).
    pub person_key_secret: String,
    #[serde(flatten)]
    pub own: Own,
}

/// A service's own settings, with the defaults of its plumbing.
pub trait Settings: Default {
    /// The service's name: its default SQLite file is `data/{SERVICE}.db`.
    const SERVICE: &'static str;
    /// The default gRPC address.
    const ADDR: &'static str;
    /// The default Prometheus `/metrics` address.
    const PROMETHEUS_ADDR: &'static str;
}

impl<Own: Settings> Default for ServiceConfig<Own> {
    fn default() -> Self {
        Self {
            server: ServerConfig::service(Own::SERVICE, Own::ADDR, Own::PROMETHEUS_ADDR),
            person_key_secret: String::new(),
            own: Own::default(),
        }
    }
}

/// The service's own settings read as fields of the whole configuration.
impl<Own> std::ops::Deref for ServiceConfig<Own> {
    type Target = Own;
    fn deref(&self) -> &Own {
        &self.own
    }
}

impl<Own> std::ops::DerefMut for ServiceConfig<Own> {
    fn deref_mut(&mut self) -> &mut Own {
        &mut self.own
    }
}

impl<Own> AsRef<ServerConfig> for ServiceConfig<Own> {
    fn as_ref(&self) -> &ServerConfig {
        &self.server
    }
}

/// Builds a service's configuration from its `defaults`, then the TOML file
/// at `file` (when given), then environment variables starting with
/// `env_prefix` (`TALENT_RECRUITING_DATABASE_URL` sets `database_url`), then
/// `flags` (fields left `None` are skipped, so they do not override).
pub fn load<T>(
    defaults: &T,
    file: Option<&Path>,
    env_prefix: &str,
    flags: &impl Serialize,
) -> Result<T, Box<figment::Error>>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::prefixed(env_prefix))
        .merge(Serialized::defaults(flags))
        .extract()
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_key_is_at_least_sixteen_characters_or_unset() {
        let mut config = ServerConfig::default();
        assert_eq!(config.admin_key("TALENT_X_").unwrap(), None);
        config.admin_key = Some(String::new());
        assert_eq!(config.admin_key("TALENT_X_").unwrap(), None);
        config.admin_key = Some("a".repeat(MIN_ADMIN_KEY_LEN - 1));
        let err = config.admin_key("TALENT_X_").unwrap_err().to_string();
        assert!(
            err.contains("TALENT_X_ADMIN_KEY") && err.contains("16"),
            "{err}"
        );
        let key = "a".repeat(MIN_ADMIN_KEY_LEN);
        config.admin_key = Some(key.clone());
        let admin = config.admin_key("TALENT_X_").unwrap().unwrap();
        assert!(admin.is(&crate::auth::sha256(&key)));
        assert!(!admin.is(&crate::auth::sha256(&format!("{key}b"))));
    }

    #[derive(Serialize)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        listen_addr: Option<SocketAddr>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_concurrent_requests: Option<usize>,
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let dir = std::env::temp_dir().join(format!("talent-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("service.toml");
        std::fs::write(
            &file,
            "database_url = \"postgres://db/from_file\"\nmax_concurrent_requests = 7\nlog_format = \"json\"\n",
        )
        .unwrap();
        let flags = Flags {
            listen_addr: Some("127.0.0.1:4000".parse().unwrap()),
            max_concurrent_requests: None,
        };
        let cfg: ServerConfig = load(
            &ServerConfig::default(),
            Some(&file),
            "TALENT_CONFIG_TEST_UNSET_",
            &flags,
        )
        .unwrap();
        assert_eq!(cfg.listen_addr, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(cfg.database_url, "postgres://db/from_file");
        assert_eq!(
            cfg.max_concurrent_requests, 7,
            "a None flag must not override the file"
        );
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert_eq!(cfg.shutdown_grace_secs, 30, "defaults fill the rest");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let missing = Path::new("/nonexistent/talent.toml");
        let flags = Flags {
            listen_addr: None,
            max_concurrent_requests: None,
        };
        assert!(load(&ServerConfig::default(), Some(missing), "X_", &flags).is_err());
    }
}

/// The command-line flags every service binary accepts. A flag that is not
/// given leaves the value from the file, the environment or the default.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ServerFlags {
    /// TOML file with any of the settings below (flags and environment win).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<std::path::PathBuf>,
    /// gRPC listen address, HOST:PORT (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<SocketAddr>,
    /// Prometheus /metrics address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_addr: Option<SocketAddr>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Calls served at once before new ones are shed with RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<usize>,
    /// Seconds in-flight calls get to finish after SIGTERM or Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<u64>,
    /// Milliseconds between NOT_SERVING and closing the listener on shutdown.
    #[arg(long, value_name = "MILLISECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_delay_ms: Option<u64>,
    /// Log format: human or json.
    #[arg(long, value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// PEM certificate chain: both ports speak TLS (with --tls-key-file).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: clients must present a certificate they signed.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca_file: Option<PathBuf>,
}
