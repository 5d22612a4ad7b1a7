//! `talent up`: both services in this process, on SQLite files in a data
//! folder, with the secrets and the relay's RELAY key created on first run.
//! Plaintext on loopback addresses only, unless TLS or `--insecure`.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use talent::{commands, secrets::Secrets};
use talent_proto::talent::metrics::v1::{KeyKind, Protection};
use talent_server::{CancellationToken, LogFormat, shutdown, telemetry};

#[derive(clap::Args, Clone)]
pub struct UpArgs {
    /// Where the recruiting service listens for gRPC.
    #[arg(long, env = "TALENT_RECRUITING_ADDR", default_value = talent_recruiting::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub recruiting_addr: SocketAddr,
    /// Where the metrics service listens for gRPC.
    #[arg(long, env = "TALENT_METRICS_ADDR", default_value = talent_metrics::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub metrics_addr: SocketAddr,
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
    pub recruiting_prometheus_addr: SocketAddr,
    /// Where the metrics service serves Prometheus /metrics and /health.
    #[arg(long, env = "TALENT_METRICS_PROMETHEUS_ADDR", default_value = talent_metrics::PROMETHEUS_ADDR, value_name = "HOST:PORT")]
    pub metrics_prometheus_addr: SocketAddr,
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

impl UpArgs {
    /// Plaintext stays on loopback unless the operator says otherwise.
    fn check_plaintext(&self) -> anyhow::Result<()> {
        if self.tls_cert.is_some() || self.insecure {
            return Ok(());
        }
        for (flag, addr) in [
            ("--recruiting-addr", self.recruiting_addr),
            ("--metrics-addr", self.metrics_addr),
            (
                "--recruiting-prometheus-addr",
                self.recruiting_prometheus_addr,
            ),
            ("--metrics-prometheus-addr", self.metrics_prometheus_addr),
        ] {
            if !addr.ip().is_loopback() {
                bail!(
                    "{flag} {addr} is not a loopback address, and without TLS personal data \
                     would cross the network in plaintext: give --tls-cert and --tls-key, or \
                     --insecure when a TLS-terminating proxy stands in front"
                );
            }
        }
        Ok(())
    }

    /// Where the relay (and the command's own calls) reach metrics over
    /// TLS: `localhost` when metrics listens on loopback or every address,
    /// else its address; the certificate must carry that name.
    fn metrics_tls_addr(&self, metrics_addr: SocketAddr) -> String {
        let ip = metrics_addr.ip();
        if ip.is_loopback() || ip.is_unspecified() {
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
    args.check_plaintext()?;
    talent_server::db::create_private_dir(&args.data_dir)
        .with_context(|| format!("creating the data folder {}", args.data_dir.display()))?;
    let (mut secrets, first_run) = Secrets::load_or_create(&args.data_dir)?;
    let sqlite_url = |file: &str| format!("sqlite://{}", args.data_dir.join(file).display());

    let mut metrics = talent_metrics::Config::default();
    metrics.server.listen_addr = args.metrics_addr;
    metrics.server.database_url = sqlite_url("metrics.db");
    metrics.server.prometheus_addr = Some(args.metrics_prometheus_addr);
    metrics.server.log_format = args.log_format;
    args.apply_tls(&mut metrics.server);
    metrics.admin_key = Some(secrets.metrics_admin_key.clone());
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
    recruiting.server.listen_addr = args.recruiting_addr;
    recruiting.server.database_url = sqlite_url("recruiting.db");
    recruiting.server.prometheus_addr = Some(args.recruiting_prometheus_addr);
    recruiting.server.log_format = args.log_format;
    args.apply_tls(&mut recruiting.server);
    recruiting.admin_key = Some(secrets.recruiting_admin_key.clone());
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

    #[test]
    fn plaintext_stays_on_loopback_unless_tls_or_insecure() {
        assert!(
            up(&[]).check_plaintext().is_ok(),
            "the defaults are loopback"
        );
        assert!(
            up(&["--metrics-addr", "[::1]:50052"])
                .check_plaintext()
                .is_ok()
        );
        for flag in [
            "--recruiting-addr",
            "--metrics-addr",
            "--recruiting-prometheus-addr",
            "--metrics-prometheus-addr",
        ] {
            let err = up(&[flag, "0.0.0.0:7000"]).check_plaintext().unwrap_err();
            assert!(err.to_string().contains(flag), "{err}");
            assert!(
                up(&[flag, "10.1.2.3:7000", "--insecure"])
                    .check_plaintext()
                    .is_ok()
            );
        }
        let tls = up(&[
            "--recruiting-addr",
            "0.0.0.0:7000",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
        ]);
        assert!(tls.check_plaintext().is_ok());
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
    }
}
