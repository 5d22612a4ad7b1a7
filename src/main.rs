//! `talent`: runs the recruiting and metrics services in one process on
//! embedded SQLite, and (in later milestones) loads data and prints reports.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use talent_server::{CancellationToken, LogFormat, shutdown, telemetry};

#[derive(Parser)]
#[command(
    name = "talent",
    version,
    about = "Talent statistics for a city: recruiting and metrics services, data loading and reports",
    after_help = "Examples:\n  talent up\n  talent up --data-dir /var/lib/talent --recruiting-addr 0.0.0.0:50051"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run both services in this process on embedded SQLite files (no setup).
    #[command(
        after_help = "Examples:\n  talent up\n  TALENT_DATA_DIR=/tmp/talent talent up --metrics-addr 127.0.0.1:6002"
    )]
    Up(UpArgs),
    /// Ask a service for its gRPC health; exit 0 when it is SERVING.
    #[command(
        after_help = "Examples:\n  talent health 127.0.0.1:50051\n  talent health 127.0.0.1:50052 --service talent.metrics.v1.StatisticsService"
    )]
    Health(HealthArgs),
}

#[derive(clap::Args)]
struct HealthArgs {
    /// The service's gRPC address.
    #[arg(value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// One service to ask about; the whole server when omitted.
    #[arg(long, default_value = "")]
    service: String,
}

#[derive(clap::Args)]
struct UpArgs {
    /// Where the recruiting service listens for gRPC.
    #[arg(long, env = "TALENT_RECRUITING_ADDR", default_value = talent_recruiting::DEFAULT_ADDR, value_name = "HOST:PORT")]
    recruiting_addr: SocketAddr,
    /// Where the metrics service listens for gRPC.
    #[arg(long, env = "TALENT_METRICS_ADDR", default_value = talent_metrics::DEFAULT_ADDR, value_name = "HOST:PORT")]
    metrics_addr: SocketAddr,
    /// Folder of the SQLite files (recruiting.db, metrics.db); created when missing.
    #[arg(
        long,
        env = "TALENT_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Where the recruiting service serves Prometheus /metrics.
    #[arg(long, env = "TALENT_RECRUITING_PROMETHEUS_ADDR", default_value = talent_recruiting::PROMETHEUS_ADDR, value_name = "HOST:PORT")]
    recruiting_prometheus_addr: SocketAddr,
    /// Where the metrics service serves Prometheus /metrics.
    #[arg(long, env = "TALENT_METRICS_PROMETHEUS_ADDR", default_value = talent_metrics::PROMETHEUS_ADDR, value_name = "HOST:PORT")]
    metrics_prometheus_addr: SocketAddr,
    /// Log format: human or json.
    #[arg(
        long,
        env = "TALENT_LOG_FORMAT",
        default_value = "human",
        value_name = "FORMAT"
    )]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args).await,
        Command::Health(args) => health(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("talent: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data folder {}", args.data_dir.display()))?;
    let sqlite_url = |file: &str| format!("sqlite://{}", args.data_dir.join(file).display());

    let mut recruiting = talent_recruiting::Config::default();
    recruiting.server.listen_addr = args.recruiting_addr;
    recruiting.server.database_url = sqlite_url("recruiting.db");
    recruiting.server.prometheus_addr = Some(args.recruiting_prometheus_addr);
    recruiting.server.log_format = args.log_format;
    let mut metrics = talent_metrics::Config::default();
    metrics.server.listen_addr = args.metrics_addr;
    metrics.server.database_url = sqlite_url("metrics.db");
    metrics.server.prometheus_addr = Some(args.metrics_prometheus_addr);
    metrics.server.log_format = args.log_format;

    let recruiting = talent_recruiting::Application::build(recruiting)
        .await
        .context("starting the recruiting service")?;
    let metrics = talent_metrics::Application::build(metrics)
        .await
        .context("starting the metrics service")?;

    println!("talent is up (data in {})", args.data_dir.display());
    println!("  recruiting  grpc://{}", recruiting.local_addr());
    println!("  metrics     grpc://{}", metrics.local_addr());
    for (name, addr) in [
        ("recruiting", recruiting.prometheus_addr()),
        ("metrics", metrics.prometheus_addr()),
    ] {
        if let Some(addr) = addr {
            println!("  {name:<10}  http://{addr}/metrics");
        }
    }
    println!(
        "Try: grpcurl -plaintext {} list   (Ctrl-C stops)",
        recruiting.local_addr()
    );

    let token = CancellationToken::new();
    tokio::spawn(shutdown::cancel_on_signal(token.clone()));
    let (r, m) = tokio::join!(
        recruiting.run_until_stopped(token.clone()),
        metrics.run_until_stopped(token.clone()),
    );
    r.context("recruiting service")?;
    m.context("metrics service")?;
    Ok(())
}

async fn health(args: HealthArgs) -> anyhow::Result<()> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", args.addr))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .with_context(|| format!("cannot reach {}", args.addr))?;
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: args.service.clone(),
    });
    request.set_timeout(std::time::Duration::from_secs(3));
    let status = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", args.addr, s.message()))?
        .into_inner()
        .status();
    println!("{status:?}");
    anyhow::ensure!(status == ServingStatus::Serving, "not serving");
    Ok(())
}
