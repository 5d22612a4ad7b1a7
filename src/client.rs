//! Reaching the services as a platform, an importer or the bureau would:
//! a channel to an address and a bearer key on every call, with errors
//! turned into one readable line. A unary call refused for a key's quota
//! (`RESOURCE_EXHAUSTED` with a `RetryInfo` delay) is sent again after the
//! delay, a bounded number of times ([`RetryQuota`]).
//!
//! TLS is one setting for the whole process ([`configure_tls`], from the
//! command's `--tls-ca` flags): every service the command calls is reached
//! the same way.

use std::{path::Path, sync::OnceLock, time::Duration};

use anyhow::anyhow;
use prost::Message;
use talent_server::quota::retry::RetryQuota;
use tonic::{
    Code, Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, ClientTlsConfig, Endpoint},
};

static TLS: OnceLock<ClientTlsConfig> = OnceLock::new();

/// Calls go over TLS from now on, trusting the authorities of `ca_file`
/// (the system's when none) and presenting `identity` (certificate, key)
/// when given, for mutual TLS. An address without a scheme then means
/// `https://`. Set once, before the first call.
pub fn configure_tls(
    ca_file: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<()> {
    let config = talent_server::tls::client_tls(ca_file, identity)?;
    TLS.set(config)
        .map_err(|_| anyhow!("the command's TLS settings are set once"))
}

/// `HOST:PORT` or a URL → the URL to connect to.
fn url_of(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else if TLS.get().is_some() {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

/// A host name or an IP address with a port, or a URL: `localhost:50051`,
/// `recruiting.internal:50051`, `127.0.0.1:50051`, `[::1]:50051`,
/// `https://host:50051`. Without a scheme the port is required (the
/// services have no conventional one), so `localhost` alone is refused
/// rather than tried on port 80.
fn check_address(addr: &str, url: &str) -> anyhow::Result<()> {
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .map_err(|_| anyhow!("{addr:?} is not a valid address (use HOST:PORT)"))?;
    let host = uri.host().unwrap_or_default();
    if host.is_empty() || !matches!(uri.path(), "" | "/") {
        anyhow::bail!("{addr:?} is not a valid address (use HOST:PORT, such as localhost:50051)");
    }
    if uri.port().is_none() && !addr.contains("://") {
        anyhow::bail!("{addr:?} has no port (use HOST:PORT, such as {host}:50051)");
    }
    Ok(())
}

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(key: &str) -> anyhow::Result<Self> {
        let value = format!("Bearer {}", key.trim())
            .parse()
            .map_err(|_| anyhow!("the key contains characters a header cannot carry"))?;
        Ok(Self(value))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose calls carry a key, retried when a quota says so.
pub type Authed = InterceptedService<RetryQuota<Channel>, Bearer>;

/// Connects to `addr` (`HOST:PORT`, `http://HOST:PORT` or
/// `https://HOST:PORT`); `what` names the service in the error ("the
/// recruiting service").
pub async fn connect(addr: &str, what: &str) -> anyhow::Result<Channel> {
    let url = url_of(addr.trim());
    check_address(addr.trim(), &url)?;
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|_| anyhow!("{addr:?} is not a valid address (use HOST:PORT)"))?;
    if url.starts_with("https://") {
        let tls = TLS
            .get()
            .cloned()
            .unwrap_or_else(|| ClientTlsConfig::new().with_native_roots());
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|err| anyhow!("TLS for {addr}: {err}"))?;
    }
    endpoint
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|err| {
            // The TLS failure (an unknown authority, a name the certificate
            // does not carry) is the useful part of the chain.
            let cause =
                std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .last()
                .map(|e| e.to_string())
                .unwrap_or_default();
            anyhow!("cannot reach {what} at {addr}: {cause} (is it running? talent up)")
        })
}

/// Connects and attaches `key` to every call.
pub async fn connect_with_key(addr: &str, what: &str, key: &str) -> anyhow::Result<Authed> {
    let channel = connect(addr, what).await?;
    Ok(InterceptedService::new(
        RetryQuota::new(channel),
        Bearer::new(key)?,
    ))
}

/// One line for a failed call.
pub fn explain(status: &Status, what: &str) -> anyhow::Error {
    let message = status.message();
    match status.code() {
        Code::Unauthenticated => anyhow!("{what} refused the key: {message}"),
        Code::PermissionDenied => anyhow!("{what}: this key may not do that: {message}"),
        Code::Unavailable => anyhow!("{what} is unavailable: {message}"),
        Code::InvalidArgument => {
            let violations = field_violations(status);
            if violations.is_empty() {
                anyhow!("{what} rejected the request: {message}")
            } else {
                let list: Vec<String> = violations
                    .iter()
                    .map(|(f, d)| format!("{f}: {d}"))
                    .collect();
                anyhow!("{what} rejected the request: {}", list.join("; "))
            }
        }
        code => anyhow!("{what}: {code:?}: {message}"),
    }
}

/// The `google.rpc.BadRequest` field violations of a status.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    match tonic_types::pb::Status::decode(status.details()) {
        Ok(rpc) => violations_of(&rpc),
        Err(_) => Vec::new(),
    }
}

/// The `BadRequest` field violations inside a `google.rpc.Status` (as per-item
/// results carry it); its message when it has none.
pub fn violations_of(status: &tonic_types::pb::Status) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for any in &status.details {
        if any.type_url.ends_with("google.rpc.BadRequest")
            && let Ok(bad) = tonic_types::pb::BadRequest::decode(any.value.as_slice())
        {
            out.extend(
                bad.field_violations
                    .into_iter()
                    .map(|v| (v.field, v.description)),
            );
        }
    }
    if out.is_empty() && !status.message.is_empty() {
        out.push((String::new(), status.message.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_names_or_ips_with_ports() {
        for ok in [
            "localhost:50051",
            "recruiting.internal:50051",
            "127.0.0.1:50051",
            "[::1]:50051",
            "http://localhost:50051",
            "https://metrics.example.org",
        ] {
            assert!(check_address(ok, &url_of(ok)).is_ok(), "{ok}");
        }
        for bad in ["localhost", "127.0.0.1", "", "localhost:50051/x", "a b:1"] {
            let err = check_address(bad, &url_of(bad)).unwrap_err().to_string();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }
}
