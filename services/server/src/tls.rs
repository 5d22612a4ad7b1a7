//! TLS on a service's ports (rustls with the ring provider), with the
//! certificate replaced while serving.
//!
//! The configuration in use sits behind a lock that each new connection
//! reads once. [`TlsReloader::reload`] builds a new one from the files and
//! swaps it in, so new connections get the new certificate while open ones
//! keep theirs; files that do not load leave the old configuration in
//! place. SIGHUP ([`reload_on_sighup`]) and the file watcher
//! ([`reload_on_change`]) both call it.
//!
//! The client side (the relay, the `talent` command) is [`client_tls`].

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::{Context, bail};
use rustls::{
    RootCertStore, ServerConfig as RustlsConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;

/// The PEM files a server's TLS is made of.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by one of these.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The files of `config`; none when TLS is not configured.
    pub fn from_config(config: &ServerConfig) -> anyhow::Result<Option<Self>> {
        match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: config.tls_client_ca_file.clone(),
            })),
            (None, None) if config.tls_client_ca_file.is_some() => {
                bail!("tls_client_ca_file needs tls_cert_file and tls_key_file")
            }
            (None, None) => Ok(None),
            _ => bail!("tls_cert_file and tls_key_file go together"),
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        paths
    }
}

/// What a port speaks inside TLS, announced by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC: HTTP/2 only.
    Grpc,
    /// The operator port: HTTP/1.1.
    Http1,
}

/// One loaded set of files, one configuration per protocol.
struct Loaded {
    grpc: Arc<RustlsConfig>,
    http1: Arc<RustlsConfig>,
}

/// The TLS configuration in use, and how to replace it. Cheap to clone;
/// clones share the configuration.
#[derive(Clone)]
pub struct TlsReloader {
    files: Arc<TlsFiles>,
    current: Arc<RwLock<Loaded>>,
}

impl std::fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReloader")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsReloader {
    /// Loads the files; an error here stops the service at start.
    pub fn load(files: TlsFiles) -> anyhow::Result<Self> {
        let loaded = load(&files)?;
        Ok(Self {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(loaded)),
        })
    }

    /// Loads the files again; connections accepted from now on get the new
    /// certificate (and client authorities). When the files do not load
    /// (a key that does not match the certificate, a half-written file),
    /// the configuration in use stays and the reason is logged and returned.
    pub fn reload(&self) -> anyhow::Result<()> {
        match load(&self.files) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "TLS files not reloaded; the certificate in use stays"
                );
                Err(err)
            }
        }
    }

    /// The configuration a new connection gets.
    pub(crate) fn config(&self, alpn: Alpn) -> Arc<RustlsConfig> {
        let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
        match alpn {
            Alpn::Grpc => loaded.grpc.clone(),
            Alpn::Http1 => loaded.http1.clone(),
        }
    }

    /// The files a change of which calls for a reload.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

/// ring, not aws-lc-rs (rustls' default), whose C and CMake build every
/// machine would need. rustls marks ring's provider deprecated because it
/// lacks post-quantum key exchange; classical ECDHE is what gRPC clients
/// offer today.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load(files: &TlsFiles) -> anyhow::Result<Loaded> {
    let certs = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key {}", files.key.display()))?;
    let builder = RustlsConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate in {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .with_context(|| format!("client authorities of {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    // Also checks that the key belongs to the certificate.
    let config = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("the certificate {}", files.cert.display()))?;
    let with_alpn = |protocol: &[u8]| {
        let mut config = config.clone();
        config.alpn_protocols = vec![protocol.to_vec()];
        Arc::new(config)
    };
    Ok(Loaded {
        grpc: with_alpn(b"h2"),
        http1: with_alpn(b"http/1.1"),
    })
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

/// Reloads on every SIGHUP until `shutdown`.
pub async fn reload_on_sighup(reloader: TlsReloader, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; TLS reloads on file changes only");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP received: reloading TLS files");
                    // A failure is logged by `reload`; the old files serve on.
                    let _ = reloader.reload();
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
        shutdown.cancelled().await;
    }
}

/// The content of some files, to tell when any of them changed.
#[derive(Debug)]
pub struct FileWatch {
    paths: Vec<PathBuf>,
    seen: Vec<Option<Vec<u8>>>,
}

impl FileWatch {
    /// Watches `paths`, taking their content now as the one in use.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let seen = read_all(&paths);
        Self { paths, seen }
    }

    /// Whether any file's content differs from the last look (a file that
    /// appears, disappears or is rewritten). Content rather than times,
    /// so that a rewrite within the file system's time resolution, or a
    /// symbolic link swapped to another file, still counts.
    pub fn changed(&mut self) -> bool {
        let now = read_all(&self.paths);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        true
    }
}

fn read_all(paths: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    paths.iter().map(|p| std::fs::read(p).ok()).collect()
}

/// Looks at the files every `every` and calls `reload` when any changed,
/// until `shutdown`. A reload that fails is retried only once the files
/// change again (the next write usually completes what the last began).
pub async fn reload_on_change(
    mut watch: FileWatch,
    every: Duration,
    reload: impl Fn(),
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the files were read just now.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                if watch.changed() {
                    reload();
                }
            }
        }
    }
}

/// Starts the SIGHUP listener and, when `every` is not zero, the file
/// watcher for `reloader`, both until `shutdown`.
pub(crate) fn spawn_reloads(reloader: &TlsReloader, every: Duration, shutdown: &CancellationToken) {
    tokio::spawn(reload_on_sighup(reloader.clone(), shutdown.clone()));
    if !every.is_zero() {
        let watch = FileWatch::new(reloader.files().paths());
        let reloader = reloader.clone();
        tokio::spawn(reload_on_change(
            watch,
            every,
            move || {
                let _ = reloader.reload();
            },
            shutdown.clone(),
        ));
    }
}

/// The TLS settings of a client of a talent service: trust `ca_file`'s
/// authorities (the system's when none is given) and, for mutual TLS,
/// present the certificate and key of `identity`.
pub fn client_tls(
    ca_file: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read =
        |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let mut config = ClientTlsConfig::new();
    config = match ca_file {
        Some(ca) => {
            // Checked here, so that a wrong file is an error at start and
            // not a failed handshake on every call.
            read_certs(ca)?;
            config.ca_certificate(Certificate::from_pem(read(ca)?))
        }
        None => config.with_native_roots(),
    };
    if let Some((cert, key)) = identity {
        read_certs(cert)?;
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        dir: tempfile::TempDir,
        ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    }

    impl Pki {
        fn new() -> Self {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let key = rcgen::KeyPair::generate().unwrap();
            let ca = rcgen::Issuer::new(params, key);
            Self {
                dir: tempfile::tempdir().unwrap(),
                ca,
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// Writes a server certificate for `name` and its key.
        fn write_server(&self, name: &str) -> (PathBuf, PathBuf) {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &self.ca)
                .unwrap();
            std::fs::write(self.path("cert.pem"), cert.pem()).unwrap();
            std::fs::write(self.path("key.pem"), key.serialize_pem()).unwrap();
            (self.path("cert.pem"), self.path("key.pem"))
        }
    }

    #[test]
    fn a_certificate_and_a_foreign_key_do_not_load() {
        let pki = Pki::new();
        let (cert, _) = pki.write_server("localhost");
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(pki.path("other.pem"), other.serialize_pem()).unwrap();
        let err = TlsReloader::load(TlsFiles {
            cert,
            key: pki.path("other.pem"),
            client_ca: None,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("cert.pem"), "{err:#}");
    }

    #[test]
    fn a_bad_new_file_keeps_the_configuration_in_use() {
        let pki = Pki::new();
        let (cert, key) = pki.write_server("localhost");
        let reloader = TlsReloader::load(TlsFiles {
            cert: cert.clone(),
            key,
            client_ca: None,
        })
        .unwrap();
        let before = reloader.config(Alpn::Grpc);
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(reloader.reload().is_err());
        assert!(Arc::ptr_eq(&before, &reloader.config(Alpn::Grpc)));
        pki.write_server("localhost");
        reloader.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &reloader.config(Alpn::Grpc)));
    }

    #[test]
    fn each_port_announces_its_protocol() {
        let pki = Pki::new();
        let (cert, key) = pki.write_server("localhost");
        let reloader = TlsReloader::load(TlsFiles {
            cert,
            key,
            client_ca: None,
        })
        .unwrap();
        assert_eq!(reloader.config(Alpn::Grpc).alpn_protocols, [b"h2".to_vec()]);
        assert_eq!(
            reloader.config(Alpn::Http1).alpn_protocols,
            [b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn the_watch_sees_a_rewritten_appearing_or_vanishing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        std::fs::write(&a, "one").unwrap();
        let mut watch = FileWatch::new(vec![a.clone(), b.clone()]);
        assert!(!watch.changed());
        std::fs::write(&a, "two").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed(), "a change is reported once");
        std::fs::write(&a, "two").unwrap();
        assert!(!watch.changed(), "the same content is no change");
        std::fs::write(&b, "new").unwrap();
        assert!(watch.changed());
        std::fs::remove_file(&a).unwrap();
        assert!(watch.changed());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watcher_calls_reload_when_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "one").unwrap();
        let (calls, mut reloads) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let every = Duration::from_secs(10);
        let task = tokio::spawn(reload_on_change(
            FileWatch::new(vec![file.clone()]),
            every,
            move || calls.send(()).unwrap(),
            stop.clone(),
        ));
        // Three looks at an unchanged file (the clock is paused, so this
        // sleep only lets the watcher's ticks run in order).
        tokio::time::sleep(every * 3 + Duration::from_secs(1)).await;
        assert!(reloads.try_recv().is_err(), "no change, no reload");
        std::fs::write(&file, "two").unwrap();
        reloads.recv().await.expect("the watcher reloads");
        tokio::time::sleep(every * 3).await;
        assert!(reloads.try_recv().is_err(), "one change, one reload");
        stop.cancel();
        task.await.unwrap();
    }
}
