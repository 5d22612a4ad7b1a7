//! Server plumbing shared by the recruiting and metrics services.
//!
//! Each service is a library with one `Application`; this crate gives it,
//! once and the same way for both: its binary's `main` ([`binary`]),
//! configuration ([`config`]), logging
//! ([`telemetry`]), a database pool chosen by URL with embedded migrations
//! ([`db`]), the classification of database errors ([`db_error`]), the
//! mapping of errors to gRPC statuses ([`error`]), authentication and the
//! audit log declared per method ([`auth`], [`audit`]) with quotas per key
//! ([`quota`]) and recently verified keys remembered ([`key_cache`]), and a gRPC
//! server with health, reflection, Prometheus metrics, a concurrency limit
//! with load shedding, deadlines, TLS ([`tls`]), idle connections and
//! streams closed ([`connections`]), group commit for batch streams
//! ([`group_commit`]) and graceful shutdown ([`server`]).

pub mod audit;
pub mod auth;
pub mod binary;
pub mod config;
mod connections;
pub mod db;
pub mod db_error;
mod decode_path;
pub mod error;
pub mod group_commit;
pub mod health;
pub mod key_cache;
pub mod methods;
pub mod middleware;
pub mod new_key;
pub mod paging;
pub mod prometheus_http;
pub mod quota;
pub mod rfc3339;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use config::{LogFormat, ServerConfig, ServerFlags};
pub use db::{Backend, Column, Db, Migrations, PerBatch, RowsAffected, Sql};
pub use error::{ApiError, FieldViolations};
pub use prometheus;
pub use server::Server;
pub use tls::TlsReloader;
pub use tokio_util::sync::CancellationToken;
