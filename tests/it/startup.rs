//! A service whose PostgreSQL cannot be used does not start: within the
//! connect timeout it fails with an error naming the server (host and
//! port) and the reason.

use std::time::Duration;

use talent_server::Db;

use crate::support::{self, POSTGRES_URL_VAR};
use talent_server::binary::Service as _;

/// The error of connecting to `url` (with recruiting's migrations), as
/// a service reports it. Bounded, so that a hang fails the test.
async fn connect_error(url: &str) -> String {
    let opened = tokio::time::timeout(
        Duration::from_secs(120),
        Db::connect(url, 1, talent_recruiting::MIGRATIONS),
    )
    .await
    .expect("the start fails within the connect timeout");
    format!("{:#}", opened.expect_err("the database cannot be used"))
}

/// The test server's URL, when PostgreSQL tests run.
fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
}

/// `postgres://user@host:port/db` → `host:port`.
fn host_port(url: &str) -> String {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    }
}

/// `url` with the user `user` (and no password).
fn with_user(url: &str, user: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    format!("{}{user}@{rest}", &url[..start])
}

#[tokio::test]
async fn a_refused_connection_names_the_server_and_says_refused() {
    let error = connect_error("postgres://postgres@127.0.0.1:1/x").await;
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(error.contains("refused"), "{error}");
}

#[tokio::test]
async fn a_host_name_that_does_not_resolve_says_dns() {
    let error = connect_error("postgres://postgres@talent-no-such-host.invalid:5432/x").await;
    assert!(
        error.contains("talent-no-such-host.invalid:5432"),
        "{error}"
    );
    assert!(error.contains("DNS"), "{error}");
}

#[tokio::test]
async fn a_database_missing_on_the_server_says_so() {
    let Some(url) = postgres_url() else {
        return; // Needs a live PostgreSQL.
    };
    let missing = support::with_database(&url, "talent_no_such_database");
    let error = connect_error(&missing).await;
    assert!(error.contains(&host_port(&url)), "{error}");
    assert!(error.contains("database is missing"), "{error}");
    assert!(error.contains("talent_no_such_database"), "{error}");
}

#[tokio::test]
async fn an_unknown_user_says_authentication_failed() {
    let Some(url) = postgres_url() else {
        return; // Needs a live PostgreSQL.
    };
    let error = connect_error(&with_user(&url, "talent_no_such_user")).await;
    assert!(error.contains(&host_port(&url)), "{error}");
    assert!(error.contains("authentication failed"), "{error}");
}

#[tokio::test]
async fn both_services_fail_to_start_naming_the_server_and_the_reason() {
    let url = "postgres://postgres@127.0.0.1:1/x";
    let mut recruiting = talent_recruiting::Config::default();
    support::recruiting::configure(&mut recruiting);
    recruiting.server.database_url = url.into();
    recruiting.server.listen_addr = "127.0.0.1:0".parse().unwrap();
    recruiting.server.prometheus_addr = None;
    let mut metrics = talent_metrics::Config::default();
    support::metrics::configure(&mut metrics);
    metrics.server.database_url = url.into();
    metrics.server.listen_addr = "127.0.0.1:0".parse().unwrap();
    metrics.server.prometheus_addr = None;
    let bound = Duration::from_secs(120);
    let (recruiting, metrics) = tokio::join!(
        tokio::time::timeout(bound, talent_recruiting::Application::build(recruiting)),
        tokio::time::timeout(bound, talent_metrics::Application::build(metrics)),
    );
    let errors = [
        recruiting
            .expect("recruiting fails within the connect timeout")
            .err()
            .map(|e| format!("{e:#}")),
        metrics
            .expect("metrics fails within the connect timeout")
            .err()
            .map(|e| format!("{e:#}")),
    ];
    for error in errors {
        let error = error.expect("the service does not start");
        assert!(error.contains("127.0.0.1:1"), "{error}");
        assert!(error.contains("refused"), "{error}");
    }
}
