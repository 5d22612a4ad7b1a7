//! TLS on the services' ports, with certificates made in each test: calls
//! over TLS and mutual TLS succeed, plaintext and unknown client
//! certificates are refused, the relay delivers over mutual TLS, a
//! certificate replaced on disk reaches the next connection, and the
//! `talent` command reaches a TLS service with `--tls-ca`, and `talent up`
//! runs both services and its relay over mutual TLS.

use crate::support;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use support::{ServiceTls, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A certificate authority in a folder of its own.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate signed by a [`Pki`], written as PEM files.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Leaf {
    fn identity(&self) -> (PathBuf, PathBuf) {
        (self.cert.clone(), self.key.clone())
    }
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
            ca,
        };
        std::fs::write(pki.ca_file(), pki.ca.pem()).unwrap();
        pki
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for 127.0.0.1 and localhost, good for servers and
    /// clients, in `NAME.pem` and `NAME.key` (replacing what was there).
    fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = leaf_params().signed_by(&key, &self.ca).unwrap();
        let (cert_file, key_file) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Leaf {
            cert: cert_file,
            key: key_file,
            der: cert.der().to_vec(),
        }
    }
}

fn leaf_params() -> CertificateParams {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params
}

/// A self-signed certificate: signed by no authority the server knows.
fn unsigned_identity(dir: &Path) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params().self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.join("unsigned.pem"), dir.join("unsigned.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

/// Server TLS without client certificates.
fn server_tls(pki: &Pki, server: &Leaf) -> ServiceTls {
    ServiceTls {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: None,
        ca: pki.ca_file(),
        client_identity: None,
    }
}

/// Server TLS that requires a certificate signed by `clients`; the tests'
/// clients (and the relay) present `client`.
fn mutual_tls(pki: &Pki, server: &Leaf, clients: &Pki, client: &Leaf) -> ServiceTls {
    ServiceTls {
        client_ca: Some(clients.ca_file()),
        client_identity: Some(client.identity()),
        ..server_tls(pki, server)
    }
}

/// Connects (over TLS with `tls`, else plaintext) and asks for health.
async fn health(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> Result<ServingStatus, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(10));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    let channel: Channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_secs(10));
    HealthClient::new(channel)
        .check(request)
        .await
        .map(|r| r.into_inner().status())
        .map_err(|s| format!("{s:?}"))
}

fn client_tls(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> ClientTlsConfig {
    talent_server::tls::client_tls(Some(ca), identity.map(|(c, k)| (c.as_path(), k.as_path())))
        .unwrap()
}

/// A TLS connection made by hand, to see the certificate the server sent.
async fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    alpn: &[u8],
    identity: Option<&Leaf>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    // ring, as the services use it (rustls deprecates it for lacking
    // post-quantum key exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(leaf.der.clone())],
                PrivateKeyDer::from_pem_file(&leaf.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("a TLS handshake")
}

/// The certificate a new connection to `addr` is served.
async fn served_certificate(addr: SocketAddr, ca: &Path) -> Vec<u8> {
    let stream = tls_connect(addr, ca, b"h2", None).await;
    let (_, session) = stream.get_ref();
    session.peer_certificates().unwrap()[0].to_vec()
}

/// Everything a one-request HTTP/1.1 exchange returns before the server
/// closes (a close without TLS's close_notify ends the read too).
async fn read_all(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

const GET_METRICS: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_tls_call_succeeds_and_a_plaintext_call_fails() {
    let pki = Pki::new("server");
    let server = pki.leaf("metrics");
    let tls = server_tls(&pki, &server);
    let app = TestApp::spawn_with(support::Options {
        metrics_tls: Some(tls.clone()),
        ..Default::default()
    })
    .await;

    assert_eq!(
        health(app.metrics_addr, Some(tls.client())).await,
        Ok(ServingStatus::Serving)
    );
    let plaintext = health(app.metrics_addr, None).await;
    assert!(plaintext.is_err(), "plaintext to a TLS port: {plaintext:?}");
    // A client that trusts another authority does not accept the server.
    let stranger = Pki::new("stranger");
    let untrusted = health(
        app.metrics_addr,
        Some(client_tls(&stranger.ca_file(), None)),
    )
    .await;
    assert!(untrusted.is_err(), "{untrusted:?}");

    // The Prometheus port speaks TLS with the same certificate.
    let prometheus = app.metrics_prometheus_addr;
    let mut stream = tls_connect(prometheus, &pki.ca_file(), b"http/1.1", None).await;
    assert_eq!(
        stream.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        server.der
    );
    stream.write_all(GET_METRICS).await.unwrap();
    let response = String::from_utf8(read_all(&mut stream).await).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("talent_build_info{"), "{response}");
    let mut plain = tokio::net::TcpStream::connect(prometheus).await.unwrap();
    plain.write_all(GET_METRICS).await.unwrap();
    let answer = read_all(&mut plain).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plaintext HTTP to the TLS metrics port was answered"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_mutual_tls_call_needs_a_certificate_of_the_client_authority() {
    let (servers, clients) = (Pki::new("server"), Pki::new("clients"));
    let (server, client) = (servers.leaf("metrics"), clients.leaf("bureau"));
    let tls = mutual_tls(&servers, &server, &clients, &client);
    let app = TestApp::spawn_with(support::Options {
        metrics_tls: Some(tls.clone()),
        ..Default::default()
    })
    .await;
    let ca = servers.ca_file();

    assert_eq!(
        health(app.metrics_addr, Some(tls.client())).await,
        Ok(ServingStatus::Serving)
    );
    let anonymous = health(app.metrics_addr, Some(client_tls(&ca, None))).await;
    assert!(anonymous.is_err(), "no client certificate: {anonymous:?}");
    let unsigned = unsigned_identity(clients.dir.path());
    let self_signed = health(app.metrics_addr, Some(client_tls(&ca, Some(&unsigned)))).await;
    assert!(
        self_signed.is_err(),
        "a self-signed client: {self_signed:?}"
    );
    // A certificate of the server authority is no client certificate here.
    let other = servers.leaf("other");
    let wrong_authority = health(
        app.metrics_addr,
        Some(client_tls(&ca, Some(&other.identity()))),
    )
    .await;
    assert!(wrong_authority.is_err(), "{wrong_authority:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_relay_delivers_over_mutual_tls() {
    let (servers, clients) = (Pki::new("server"), Pki::new("clients"));
    let (server, relay) = (servers.leaf("metrics"), clients.leaf("relay"));
    let app = TestApp::spawn_with(support::Options {
        relay: true,
        metrics_tls: Some(mutual_tls(&servers, &server, &clients, &relay)),
        ..Default::default()
    })
    .await;
    app.relay_a_posting("tls").await;
    app.stop().await;
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_to_the_next_connection() {
    let pki = Pki::new("server");
    let first = pki.leaf("metrics");
    let tls = server_tls(&pki, &first);
    let app = TestApp::spawn_with(support::Options {
        metrics_tls: Some(tls.clone()),
        ..Default::default()
    })
    .await;
    let ca = pki.ca_file();
    assert_eq!(served_certificate(app.metrics_addr, &ca).await, first.der);
    let open = app.metrics_channel().await;

    // The files are replaced (as a certificate renewal would) and the
    // reload runs (as SIGHUP or the file watcher would run it).
    let second = pki.leaf("metrics");
    assert_ne!(second.der, first.der);
    app.metrics_tls().reload().unwrap();
    assert_eq!(served_certificate(app.metrics_addr, &ca).await, second.der);
    assert_eq!(
        health(app.metrics_addr, Some(tls.client())).await,
        Ok(ServingStatus::Serving)
    );
    // A connection made before the reload keeps working.
    HealthClient::new(open)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();

    // A broken file is refused and the certificate in use stays.
    std::fs::write(&second.cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    assert!(app.metrics_tls().reload().is_err());
    assert_eq!(served_certificate(app.metrics_addr, &ca).await, second.der);
    app.stop().await;
}

#[tokio::test]
async fn the_command_reaches_a_tls_service_with_tls_ca() {
    let pki = Pki::new("server");
    let server = pki.leaf("recruiting");
    let app = TestApp::spawn_with(support::Options {
        recruiting_tls: Some(server_tls(&pki, &server)),
        ..Default::default()
    })
    .await;
    let url = format!("https://{}", app.recruiting_addr);
    let ca = pki.ca_file().display().to_string();
    let talent = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_talent"))
                .args(args)
                .env_remove("TALENT_TLS_CA_FILE")
                .output()
                .unwrap()
        })
    };
    let ok = talent(vec![
        "health".into(),
        url.clone(),
        "--tls-ca".into(),
        ca.clone(),
    ])
    .await
    .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "Serving");
    // HOST:PORT with --tls-ca means https.
    let bare = talent(vec![
        "health".into(),
        app.recruiting_addr.to_string(),
        "--tls-ca".into(),
        ca,
    ])
    .await
    .unwrap();
    assert!(
        bare.status.success(),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
    // Without the authority the command does not trust the service.
    let untrusted = talent(vec!["health".into(), url]).await.unwrap();
    assert!(!untrusted.status.success());
    app.stop().await;
}

/// `talent up` on a fresh data folder in `dir` with `args`, its log in
/// `dir/up.log`; returns it with the addresses its banner printed.
async fn spawn_up(dir: &Path, args: &[&str]) -> (Up, Vec<SocketAddr>) {
    let log = std::fs::File::create(dir.join("up.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_talent"))
        .args(["up", "--data-dir", &dir.join("data").display().to_string()])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let up = Up(child);
    let addrs = tokio::task::spawn_blocking(move || banner_addresses(stdout))
        .await
        .unwrap();
    (up, addrs)
}

/// Waits (60 s at most) until recruiting's `/health`, as `get` fetches it,
/// says the relay holds its stream to metrics open.
async fn until_relay_connected<F: std::future::Future<Output = String>>(
    mut get: impl FnMut() -> F,
    dir: &Path,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = get().await;
        if response.contains("\"connected\":true") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never connected: {response}\n{}",
            std::fs::read_to_string(dir.join("up.log")).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /health` over `stream`, and the whole response.
async fn get_health(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
) -> String {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    String::from_utf8(read_all(&mut stream).await).unwrap()
}

/// A `talent up` process of this test; killed when dropped.
struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The addresses `talent up` printed (the first URL of a line):
/// recruiting's and metrics' gRPC, then their Prometheus ports.
fn banner_addresses(stdout: std::process::ChildStdout) -> Vec<SocketAddr> {
    use std::io::BufRead;
    let mut addrs = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.trim_start().split_once("://").map(|(_, r)| r) else {
            continue;
        };
        let addr = rest.split(['/', ' ']).next().unwrap();
        addrs.push(addr.parse().unwrap());
        if addrs.len() == 4 {
            return addrs;
        }
    }
    panic!("talent up ended before printing its addresses");
}

#[tokio::test]
async fn talent_up_serves_mutual_tls_and_its_relay_reaches_metrics() {
    let pki = Pki::new("up");
    let leaf = pki.leaf("talent");
    let path = |p: &Path| p.display().to_string();
    let (cert, key, ca) = (path(&leaf.cert), path(&leaf.key), path(&pki.ca_file()));
    let (up, addrs) = spawn_up(
        pki.dir.path(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
            "--tls-ca",
            &ca,
            "--recruiting-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--recruiting-prometheus-addr",
            "127.0.0.1:0",
            "--metrics-prometheus-addr",
            "127.0.0.1:0",
        ],
    )
    .await;
    let (recruiting, metrics, recruiting_prometheus) = (addrs[0], addrs[1], addrs[2]);

    let client = client_tls(&pki.ca_file(), Some(&leaf.identity()));
    for addr in [recruiting, metrics] {
        assert_eq!(
            health(addr, Some(client.clone())).await,
            Ok(ServingStatus::Serving)
        );
        let anonymous = health(addr, Some(client_tls(&pki.ca_file(), None))).await;
        assert!(anonymous.is_err(), "{anonymous:?}");
    }

    // The relay (over https://localhost, presenting the certificate)
    // holds its stream to metrics open.
    until_relay_connected(
        || async {
            get_health(
                tls_connect(
                    recruiting_prometheus,
                    &pki.ca_file(),
                    b"http/1.1",
                    Some(&leaf),
                )
                .await,
            )
            .await
        },
        pki.dir.path(),
    )
    .await;
    drop(up);
}

#[tokio::test]
async fn talent_up_listens_on_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let (up, addrs) = spawn_up(
        dir.path(),
        &[
            "--recruiting-addr",
            "localhost:0",
            "--metrics-addr",
            "localhost:0",
            "--recruiting-prometheus-addr",
            "localhost:0",
            "--metrics-prometheus-addr",
            "localhost:0",
        ],
    )
    .await;
    // Plaintext: a host name that resolves to loopback is loopback.
    for addr in &addrs {
        assert!(addr.ip().is_loopback(), "{addr}");
    }
    for addr in [addrs[0], addrs[1]] {
        assert_eq!(health(addr, None).await, Ok(ServingStatus::Serving));
    }
    // The relay reached metrics by the host name it was given.
    until_relay_connected(
        || async { get_health(tokio::net::TcpStream::connect(addrs[2]).await.unwrap()).await },
        dir.path(),
    )
    .await;
    drop(up);
}
