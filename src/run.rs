//! `talent up`: both services in this process, on SQLite files in a data
//! folder, with the secrets and the relay's RELAY key created on first run.
//! Plaintext on loopback addresses only, unless TLS or `--insecure`.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr};

use anyhow::{Context, anyhow, bail};
use talent::{commands, secrets::Secrets};
use talent_proto::talent::metrics::v1::{KeyKind, Protection};
use talent_server::binary::Service as _;
use talent_server::{CancellationToken, LogFormat, shutdown, telemetry};

#[derive(clap::Args, Clone)]
pub struct UpArgs {
    /// Where the recruiting service listens for gRPC.
    #[arg(long, env = "TALENT_RECRUITING_ADDR", default_value = talent_recruiting::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub recruiting_addr: HostPort,
    /// Where the metrics service listens for gRPC.
    #[arg(long, env = "TALENT_METRICS_ADDR", default_value = talent_metrics::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub metrics_addr: HostPort,
    /// Folder of the SQLite files and secrets.toml; created when missing.
    #[arg(
        long,
        env = "TALENT_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// Where the recruiting service serves Prometheus /metrics and /health.
    #[arg(long, env = "TALENT_RECRUITING_PROMETHEUS_ADDR", default_value = talent_recruiting::PROMETHEUS_ADDR, value_name = "HOST:PORT")]
    pub recruiting_prometheus_addr: HostPort,
    /// Where the metrics service serves Prometheus /metrics and /health.
    #[arg(long, env = "TALENT_METRICS_PROMETHEUS_ADDR", default_value = talent_metrics::PROMETHEUS_ADDR, value_name = "HOST:PORT")]
    pub metrics_prometheus_addr: HostPort,
    /// Log format: human or json.
    #[arg(
        long,
        env = "TALENT_LOG_FORMAT",
        default_value = "human",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// PEM certificate chain both services serve, on their gRPC and
    /// Prometheus ports (with --tls-key). Its authority goes in --tls-ca.
    #[arg(
        long,
        env = "TALENT_TLS_CERT_FILE",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "TALENT_TLS_KEY_FILE",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// PEM certificates of the authorities clients' certificates must be
    /// signed by (mutual TLS). The relay presents --tls-cert, which must
    /// then allow client authentication too.
    #[arg(
        long,
        env = "TALENT_TLS_CLIENT_CA_FILE",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on addresses other than loopback (behind a
    /// TLS-terminating proxy, say). Personal data crosses these ports.
    #[arg(long)]
    pub insecure: bool,
    /// The command's --tls-ca: the authority the relay trusts.
    #[arg(skip)]
    pub tls_ca: Option<PathBuf>,
}

/// `HOST:PORT` as given on the command line: an IP address or a host name
/// (`localhost:50051`), resolved when the services start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let hint =
            || format!("\"{s}\" is not HOST:PORT (such as localhost:50051 or 127.0.0.1:50051)");
        let (host, port) = s.rsplit_once(':').ok_or_else(hint)?;
        let port = port.parse::<u16>().map_err(|_| hint())?;
        let name_like = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if host.is_empty() || !name_like {
            return Err(hint());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.port).fmt(f),
            Err(_) => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl HostPort {
    /// Whether the host is a name rather than an IP address.
    fn is_name(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_err()
    }

    /// The address to listen on: the IP address, or the first address the
    /// host name resolves to. `flag` names the option in the error.
    pub async fn resolve(&self, flag: &str) -> anyhow::Result<SocketAddr> {
        if let Ok(ip) = self.host.parse() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .with_context(|| {
                format!(
                    "{flag} {self}: the host name {:?} does not resolve",
                    self.host
                )
            })?
            .next()
            .ok_or_else(|| {
                anyhow!(
                    "{flag} {self}: the host name {:?} has no address",
                    self.host
                )
            })
    }
}

/// The four listening addresses of `talent up`, resolved.
#[derive(Clone, Copy, Debug)]
struct Listen {
    recruiting: SocketAddr,
    metrics: SocketAddr,
    recruiting_prometheus: SocketAddr,
    metrics_prometheus: SocketAddr,
}

impl UpArgs {
    /// The listening addresses, host names resolved.
    async fn listen(&self) -> anyhow::Result<Listen> {
        Ok(Listen {
            recruiting: self.recruiting_addr.resolve("--recruiting-addr").await?,
            metrics: self.metrics_addr.resolve("--metrics-addr").await?,
            recruiting_prometheus: self
                .recruiting_prometheus_addr
                .resolve("--recruiting-prometheus-addr")
                .await?,
            metrics_prometheus: self
                .metrics_prometheus_addr
                .resolve("--metrics-prometheus-addr")
                .await?,
        })
    }

    /// Plaintext stays on loopback unless the operator says otherwise.
    fn check_plaintext(&self, listen: &Listen) -> anyhow::Result<()> {
        if self.tls_cert.is_some() || self.insecure {
            return Ok(());
        }
        for (flag, given, addr) in [
            (
                "--recruiting-addr",
                &self.recruiting_addr,
                listen.recruiting,
            ),
            ("--metrics-addr", &self.metrics_addr, listen.metrics),
            (
                "--recruiting-prometheus-addr",
                &self.recruiting_prometheus_addr,
                listen.recruiting_prometheus,
            ),
            (
                "--metrics-prometheus-addr",
                &self.metrics_prometheus_addr,
                listen.metrics_prometheus,
            ),
        ] {
            if !addr.ip().is_loopback() {
                let resolved = if given.is_name() {
                    format!(" ({addr})")
                } else {
                    String::new()
                };
                bail!(
                    "{flag} {given}{resolved} is not a loopback address, and without TLS personal \
                     data would cross the network in plaintext: give --tls-cert and --tls-key, or \
                     --insecure when a TLS-terminating proxy stands in front"
                );
            }
        }
        Ok(())
    }

    /// Where the relay (and the command's own calls) reach metrics over
    /// TLS: the host name given to --metrics-addr; else `localhost` when
    /// metrics listens on loopback or every address, else its address. The
    /// certificate must carry that name.
    fn metrics_tls_addr(&self, metrics_addr: SocketAddr) -> String {
        let ip = metrics_addr.ip();
        if self.metrics_addr.is_name() {
            format!("{}:{}", self.metrics_addr.host, metrics_addr.port())
        } else if ip.is_loopback() || ip.is_unspecified() {
            format!("localhost:{}", metrics_addr.port())
        } else {
            metrics_addr.to_string()
        }
    }

    fn apply_tls(&self, server: &mut talent_server::ServerConfig) {
        server.tls_cert_file = self.tls_cert.clone();
        server.tls_key_file = self.tls_key.clone();
        server.tls_client_ca_file = self.tls_client_ca.clone();
    }
}

/// Both services, started and serving in background tasks.
pub struct Running {
    pub recruiting_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub recruiting_prometheus_addr: Option<SocketAddr>,
    pub metrics_prometheus_addr: Option<SocketAddr>,
    pub secrets: Secrets,
    pub first_run: bool,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Stops both services and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until both services have stopped (after the shutdown signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        for task in self.tasks {
            task.await.context("a service task panicked")??;
        }
        Ok(())
    }
}

/// Starts metrics, makes sure the relay has a RELAY key, then starts
/// recruiting with its relay pointed at metrics.
pub async fn start(args: &UpArgs, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let listen = args.listen().await?;
    args.check_plaintext(&listen)?;
    talent_server::db::create_private_dir(&args.data_dir)
        .with_context(|| format!("creating the data folder {}", args.data_dir.display()))?;
    let (mut secrets, first_run) = Secrets::load_or_create(&args.data_dir)?;
    let sqlite_url = |file: &str| format!("sqlite://{}", args.data_dir.join(file).display());

    let mut metrics = talent_metrics::Config::default();
    metrics.server.listen_addr = listen.metrics;
    metrics.server.database_url = sqlite_url("metrics.db");
    metrics.server.prometheus_addr = Some(listen.metrics_prometheus);
    metrics.server.log_format = args.log_format;
    args.apply_tls(&mut metrics.server);
    metrics.server.admin_key = Some(secrets.metrics_admin_key.clone());
    metrics.person_key_secret = secrets.person_key_secret.clone();
    metrics.record_key_secret = secrets.record_key_secret.clone();
    let metrics = talent_metrics::Application::build(metrics)
        .await
        .context("starting the metrics service")?;
    let metrics_addr = metrics.local_addr();
    let metrics_prometheus_addr = metrics.prometheus_addr();
    let mut tasks = vec![tokio::spawn(metrics.run_until_stopped(shutdown.clone()))];
    let metrics_url = match args.tls_cert {
        Some(_) => format!("https://{}", args.metrics_tls_addr(metrics_addr)),
        None => format!("http://{metrics_addr}"),
    };

    let ingest_key = match &secrets.relay_ingest_key {
        Some(key) => key.clone(),
        None => {
            let (_, key) = commands::issue_metrics_key(
                &metrics_url,
                &secrets.metrics_admin_key,
                KeyKind::Relay,
                "recruiting relay (talent up)",
                Protection::Unspecified,
            )
            .await
            .context("issuing the relay's RELAY key")?;
            secrets.relay_ingest_key = Some(key.clone());
            secrets.save(&args.data_dir)?;
            key
        }
    };

    let mut recruiting = talent_recruiting::Config::default();
    recruiting.server.listen_addr = listen.recruiting;
    recruiting.server.database_url = sqlite_url("recruiting.db");
    recruiting.server.prometheus_addr = Some(listen.recruiting_prometheus);
    recruiting.server.log_format = args.log_format;
    args.apply_tls(&mut recruiting.server);
    recruiting.server.admin_key = Some(secrets.recruiting_admin_key.clone());
    recruiting.person_key_secret = secrets.person_key_secret.clone();
    recruiting.encryption_key = secrets.encryption_key.clone();
    recruiting.metrics_url = Some(metrics_url);
    if args.tls_cert.is_some() {
        recruiting.metrics_tls_ca_file = args.tls_ca.clone();
        if args.tls_client_ca.is_some() {
            recruiting.metrics_tls_cert_file = args.tls_cert.clone();
            recruiting.metrics_tls_key_file = args.tls_key.clone();
        }
    }
    recruiting.metrics_ingest_key = Some(ingest_key);
    let recruiting = match talent_recruiting::Application::build(recruiting).await {
        Ok(app) => app,
        Err(err) => {
            shutdown.cancel();
            for task in tasks {
                let _ = task.await;
            }
            return Err(err.context("starting the recruiting service"));
        }
    };
    let recruiting_addr = recruiting.local_addr();
    let recruiting_prometheus_addr = recruiting.prometheus_addr();
    tasks.push(tokio::spawn(recruiting.run_until_stopped(shutdown.clone())));

    Ok(Running {
        recruiting_addr,
        metrics_addr,
        recruiting_prometheus_addr,
        metrics_prometheus_addr,
        secrets,
        first_run,
        shutdown,
        tasks,
    })
}

/// The service name of both services' spans when one process runs them
/// (unless `OTEL_SERVICE_NAME` says otherwise).
const SERVICE_NAME: &str = "talent";

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let traces = telemetry::init(args.log_format, SERVICE_NAME)?;
    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    let ran = match start(&args, token).await {
        Ok(running) => {
            print_banner(&args, &running);
            running.wait().await
        }
        Err(err) => Err(err),
    };
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    ran
}

pub fn print_banner(args: &UpArgs, running: &Running) {
    let (grpc, http) = match args.tls_cert {
        Some(_) => ("https", "https"),
        None => ("grpc", "http"),
    };
    println!("talent is up (data in {})", args.data_dir.display());
    println!("  recruiting  {grpc}://{}", running.recruiting_addr);
    println!("  metrics     {grpc}://{}", running.metrics_addr);
    for (name, addr) in [
        ("recruiting", running.recruiting_prometheus_addr),
        ("metrics", running.metrics_prometheus_addr),
    ] {
        if let Some(addr) = addr {
            println!("  {name:<10}  {http}://{addr}/metrics  {http}://{addr}/health");
        }
    }
    if running.first_run {
        println!(
            "First run: admin keys created in {} (owner-only).",
            Secrets::path(&args.data_dir).display()
        );
    }
    println!("Next:");
    println!(
        "  talent platform add \"My platform\" --id my-platform     # a platform and its API key"
    );
    println!("  talent key issue --kind read --name \"HR bureau\"        # the bureau's read key");
    let grpcurl = match (&args.tls_cert, &args.tls_ca) {
        (None, _) => "-plaintext".to_owned(),
        (Some(_), Some(ca)) => format!("-cacert {}", ca.display()),
        (Some(_), None) => String::new(),
    };
    println!(
        "  grpcurl {grpcurl} {} list                       # explore (Ctrl-C stops)",
        running.recruiting_addr
    );
}

/// `talent demo`: a fresh data folder of its own (`DIR/demo-SEED`), both
/// services, the generated city pushed through the APIs, the report.
pub async fn demo(args: UpArgs, scale: f64, seed: u64, exit: bool) -> anyhow::Result<()> {
    if args.tls_cert.is_some() {
        bail!("talent demo serves plaintext on loopback; run talent up for TLS");
    }
    let traces = telemetry::init(args.log_format, SERVICE_NAME)?;
    let ran = run_demo(args, scale, seed, exit).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    ran
}

async fn run_demo(mut args: UpArgs, scale: f64, seed: u64, exit: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    args.data_dir = args.data_dir.join(format!("demo-{seed}"));
    if args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir)
            .with_context(|| format!("clearing {}", args.data_dir.display()))?;
    }
    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    let running = start(&args, token.clone()).await?;
    eprintln!("generating a city at scale {scale} with seed {seed}");
    let generating = std::time::Instant::now();
    let city = talent::demo::generate(scale, seed);
    eprintln!("  generated in {:.1} s", generating.elapsed().as_secs_f64());
    let (recruiting, metrics) = (
        running.recruiting_addr.to_string(),
        running.metrics_addr.to_string(),
    );
    let target = talent::demo_push::Target {
        recruiting_addr: &recruiting,
        metrics_addr: &metrics,
        recruiting_admin_key: &running.secrets.recruiting_admin_key,
        metrics_admin_key: &running.secrets.metrics_admin_key,
    };
    eprintln!("pushing it through the public APIs:");
    let pushed = talent::demo_push::push_city(&city, &target).await?;
    let prometheus = running
        .recruiting_prometheus_addr
        .context("the recruiting service has no /health port")?
        .to_string();
    eprintln!("waiting for the relay to deliver every event to metrics");
    let waiting = std::time::Instant::now();
    let report = talent::demo_push::demo_report(&city, &target, &prometheus).await?;
    eprintln!(
        "  delivered, and the report asked for, in {:.1} s",
        waiting.elapsed().as_secs_f64()
    );
    println!();
    print!("{}", report.text);
    println!();
    println!(
        "demo: {} calls, {} items rejected, {:.1}s",
        pushed.calls,
        pushed.rejected,
        started.elapsed().as_secs_f64()
    );
    if exit {
        return running.stop().await;
    }
    print_banner(&args, &running);
    println!(
        "Ask it: talent key issue --kind read --name me --data-dir {} ; talent report --period {}H1 --cohort {} --key KEY",
        args.data_dir.display(),
        city.cohort_year,
        city.cohort_year
    );
    running.wait().await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpArgs,
    }

    fn up(args: &[&str]) -> UpArgs {
        Cli::try_parse_from(std::iter::once("talent").chain(args.iter().copied()))
            .unwrap()
            .up
    }

    /// `check_plaintext` after resolving, as `start` does.
    async fn plaintext(args: &[&str]) -> anyhow::Result<()> {
        let args = up(args);
        let listen = args.listen().await?;
        args.check_plaintext(&listen)
    }

    #[tokio::test]
    async fn plaintext_stays_on_loopback_unless_tls_or_insecure() {
        assert!(plaintext(&[]).await.is_ok(), "the defaults are loopback");
        assert!(plaintext(&["--metrics-addr", "[::1]:50052"]).await.is_ok());
        for flag in [
            "--recruiting-addr",
            "--metrics-addr",
            "--recruiting-prometheus-addr",
            "--metrics-prometheus-addr",
        ] {
            let err = plaintext(&[flag, "0.0.0.0:7000"]).await.unwrap_err();
            assert!(err.to_string().contains(flag), "{err}");
            assert!(
                plaintext(&[flag, "10.1.2.3:7000", "--insecure"])
                    .await
                    .is_ok()
            );
        }
        let tls = plaintext(&[
            "--recruiting-addr",
            "0.0.0.0:7000",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
        ]);
        assert!(tls.await.is_ok());
    }

    #[tokio::test]
    async fn listen_addresses_take_host_names() {
        // localhost resolves to a loopback address, so plaintext is fine.
        let args = up(&[
            "--recruiting-addr",
            "localhost:0",
            "--metrics-addr",
            "LocalHost:50052",
        ]);
        let listen = args.listen().await.unwrap();
        assert!(listen.recruiting.ip().is_loopback(), "{listen:?}");
        assert_eq!(listen.recruiting.port(), 0);
        assert!(listen.metrics.ip().is_loopback());
        assert_eq!(listen.metrics.port(), 50052);
        args.check_plaintext(&listen).unwrap();
        // A name that does not resolve is named in the error (.invalid
        // never resolves: RFC 6761).
        let err = plaintext(&["--metrics-addr", "metrics.invalid:50052"])
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("--metrics-addr metrics.invalid:50052")
                && msg.contains("\"metrics.invalid\" does not resolve"),
            "{msg}"
        );
        // Not HOST:PORT at all: refused while parsing, saying what would do.
        for bad in [
            "localhost",
            "localhost:port",
            ":50051",
            "a b:1",
            "host:70000",
        ] {
            let err = Cli::try_parse_from(["talent", "--recruiting-addr", bad])
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(
                err.to_string().contains("such as localhost:50051"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            "[::1]:7".parse::<HostPort>().unwrap().to_string(),
            "[::1]:7"
        );
    }

    #[test]
    fn the_relay_names_metrics_as_its_certificate_must() {
        let args = up(&[]);
        assert_eq!(
            args.metrics_tls_addr("0.0.0.0:50052".parse().unwrap()),
            "localhost:50052"
        );
        assert_eq!(
            args.metrics_tls_addr("127.0.0.1:50052".parse().unwrap()),
            "localhost:50052"
        );
        assert_eq!(
            args.metrics_tls_addr("10.1.2.3:50052".parse().unwrap()),
            "10.1.2.3:50052"
        );
        // A host name given is the name the relay asks for, on the port
        // actually bound.
        let named = up(&["--metrics-addr", "metrics.example:0"]);
        assert_eq!(
            named.metrics_tls_addr("10.1.2.3:41000".parse().unwrap()),
            "metrics.example:41000"
        );
    }
}
