//! The long fault run: pushes many postings (one event each) through the
//! recruiting service while the metrics service is killed with SIGKILL five
//! times and the recruiting service three times, then checks that every
//! event reached metrics exactly once.
//!
//! ```sh
//! cargo run --release --bin fault-run -- --events 100000
//! cargo run --release --bin fault-run -- --db postgres --replicas 2
//! ```
//!
//! It runs the services as child processes of itself (`fault-run serve
//! recruiting|metrics`, configured through the same environment variables
//! as the service binaries): `--replicas` of each, on two databases shared
//! by the replicas of a service (SQLite files in the run's folder, or two
//! PostgreSQL databases created for the run and dropped after it). The
//! pusher spreads its calls across the recruiting replicas; recruiting
//! replica `i` relays to metrics replica `i mod N` (a relay takes one
//! metrics URL), and a killed metrics replica is started again after a
//! moment, as a supervisor would. With two replicas or more, each
//! recruiting kill is of the relay lease holder while it delivers, and the
//! killed replica stays down until another has taken the lease; each
//! metrics kill is of the replica the lease holder streams to.
//!
//! It prints events sent, applied, lost and duplicated and who held the
//! lease over time. Exit status 0 only when lost and duplicated are both 0.

mod cluster;
mod push;
mod store;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use cluster::{LeaseLog, Service, env};
use store::Databases;
use talent::{client, commands, secrets::Secrets};
use talent_proto::talent::{metrics::v1 as mpb, recruiting::v1 as rpb};
use talent_server::{
    CancellationToken, ServerFlags,
    binary::{Service as _, env_prefix},
    config,
};

#[derive(Parser)]
#[command(
    about = "Push events through both services while killing them; count lost and duplicated"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Postings to push (one PostingPublished event each).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Times a metrics replica is killed (SIGKILL) during the run.
    #[arg(long, default_value_t = 5)]
    metrics_kills: u32,
    /// Times a recruiting replica is killed (SIGKILL) during the run.
    #[arg(long, default_value_t = 3)]
    recruiting_kills: u32,
    /// The databases of both services.
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    db: DbKind,
    /// With `--db postgres`: the server; two databases are created on it
    /// for the run and dropped after it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Processes of each service, on the same two databases.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// The gRPC and Prometheus ports of every process are consecutive
    /// from this one (metrics replicas first); none: free ports.
    #[arg(long)]
    base_port: Option<u16>,
    /// The folder for secrets, SQLite files and each process's log; none:
    /// a temporary folder, removed after a run without loss (kept and
    /// named otherwise).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Subcommand)]
enum Sub {
    /// Internal: run one service, configured by its environment variables.
    Serve { service: String },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Sub::Serve { service }) => serve(service).await.map(|()| true),
        None => run(&cli).await,
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("fault-run: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(service: &str) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    tokio::spawn(talent_server::shutdown::cancel_on_signal(token.clone()));
    let flags = ServerFlags::default();
    match service {
        "metrics" => {
            let cfg: talent_metrics::Config = config::load(
                &talent_metrics::Config::default(),
                None,
                &env_prefix::<talent_metrics::Application>(),
                &flags,
            )?;
            let _traces = talent_server::telemetry::init(cfg.server.log_format, "talent-metrics")?;
            talent_metrics::Application::build(cfg)
                .await?
                .run_until_stopped(token)
                .await
        }
        "recruiting" => {
            let cfg: talent_recruiting::Config = config::load(
                &talent_recruiting::Config::default(),
                None,
                &env_prefix::<talent_recruiting::Application>(),
                &flags,
            )?;
            let _traces =
                talent_server::telemetry::init(cfg.server.log_format, "talent-recruiting")?;
            talent_recruiting::Application::build(cfg)
                .await?
                .run_until_stopped(token)
                .await
        }
        other => bail!("unknown service {other}"),
    }
}

/// Prints a line of the run's progress, with the time since it started.
macro_rules! say {
    ($started:expr, $($arg:tt)*) => {
        println!("[{:>6.1}s] {}", $started.elapsed().as_secs_f64(), format!($($arg)*))
    };
}

async fn run(cli: &Cli) -> anyhow::Result<bool> {
    let temporary = match &cli.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let dir = match (&cli.dir, &temporary) {
        (Some(dir), _) => dir.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => unreachable!(),
    };
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut databases = match cli.db {
        DbKind::Sqlite => Databases::sqlite(&dir),
        DbKind::Postgres => Databases::postgres(&cli.postgres_url).await?,
    };
    let mut services = Vec::new();
    let outcome = exercise(cli, &dir, &databases, &mut services).await;
    for service in &mut services {
        let _ = service.kill().await;
    }
    if let Err(err) = databases.drop_all().await {
        eprintln!("fault-run: {err:#}");
    }
    match (&outcome, temporary) {
        (Ok(true), _) | (_, None) => {}
        (_, Some(temporary)) => {
            println!("files and logs kept in {}", temporary.keep().display());
        }
    }
    outcome
}

/// Starts the replicas (into `services`: metrics first), pushes and kills,
/// then counts.
async fn exercise(
    cli: &Cli,
    dir: &std::path::Path,
    databases: &Databases,
    services: &mut Vec<Service>,
) -> anyhow::Result<bool> {
    let replicas = usize::from(cli.replicas);
    let secrets = Secrets::load_or_create(dir)?.0;
    let ports = cluster::ports(cli.base_port, 2 * replicas)?;
    let logs = dir.join("logs");
    let pool = if cli.db == DbKind::Postgres {
        "8"
    } else {
        "16"
    };

    for (i, &addrs) in ports[..replicas].iter().enumerate() {
        let pairs = [
            ("listen_addr", addrs.0.to_string()),
            ("prometheus_addr", addrs.1.to_string()),
            ("database_url", databases.metrics_url.clone()),
            ("database_max_connections", pool.into()),
            ("admin_key", secrets.metrics_admin_key.clone()),
            ("person_key_secret", secrets.person_key_secret.clone()),
            ("record_key_secret", secrets.record_key_secret.clone()),
        ];
        let env = env(&env_prefix::<talent_metrics::Application>(), &pairs);
        let mut service = Service::new("metrics", i, env, addrs, &logs);
        service.start().await?;
        services.push(service);
    }
    let metrics0 = services[0].addr.to_string();
    let (_, ingest_key) = commands::issue_metrics_key(
        &metrics0,
        &secrets.metrics_admin_key,
        mpb::KeyKind::Relay,
        "relay",
        mpb::Protection::Unspecified,
    )
    .await?;
    let (_, operator_key) = commands::issue_metrics_key(
        &metrics0,
        &secrets.metrics_admin_key,
        mpb::KeyKind::Operator,
        "fault run",
        mpb::Protection::Unspecified,
    )
    .await?;

    for (i, &addrs) in ports[replicas..].iter().enumerate() {
        let metrics_addr = services[i % replicas].addr;
        let pairs = [
            ("listen_addr", addrs.0.to_string()),
            ("prometheus_addr", addrs.1.to_string()),
            ("database_url", databases.recruiting_url.clone()),
            ("database_max_connections", pool.into()),
            ("admin_key", secrets.recruiting_admin_key.clone()),
            ("person_key_secret", secrets.person_key_secret.clone()),
            ("encryption_key", secrets.encryption_key.clone()),
            ("metrics_url", format!("http://{metrics_addr}")),
            ("metrics_ingest_key", ingest_key.clone()),
            ("relay_backoff_max_ms", "1000".into()),
            ("relay_monitor_interval_ms", "100".into()),
        ];
        let env = env(&env_prefix::<talent_recruiting::Application>(), &pairs);
        let mut service = Service::new("recruiting", i, env, addrs, &logs);
        service.start().await?;
        services.push(service);
    }
    let recruiting0 = services[replicas].addr.to_string();
    let (_, platform_key) = commands::add_platform(
        &recruiting0,
        &secrets.recruiting_admin_key,
        "fault-run",
        "Fault run",
    )
    .await?;
    let template = talent::demo::generate(0.001, 1);
    let first = template
        .postings
        .first()
        .context("the demo has postings")?
        .clone();
    let employer = template
        .employers
        .iter()
        .find(|e| e.item.credit_code == first.posting.employer_credit_code)
        .context("the posting's employer")?
        .item
        .clone();
    {
        let channel = client::connect_with_key(&recruiting0, "recruiting", &platform_key).await?;
        rpb::employer_service_client::EmployerServiceClient::new(channel)
            .batch_upsert_employers(rpb::BatchUpsertEmployersRequest {
                employers: vec![employer],
            })
            .await?;
    }

    let started = Instant::now();
    let lease = LeaseLog::default();
    let stop_watch = CancellationToken::new();
    let watcher = tokio::spawn(cluster::watch_lease(
        services[replicas..]
            .iter()
            .map(|s| (s.label.clone(), s.prometheus))
            .collect(),
        lease.clone(),
        started,
        stop_watch.clone(),
    ));
    let pushed = Arc::new(AtomicU64::new(0));
    let total = cli.events;
    let pusher = tokio::spawn(push::push_all(
        services[replicas..]
            .iter()
            .map(|s| s.addr.to_string())
            .collect(),
        platform_key,
        first.posting,
        total,
        pushed.clone(),
    ));

    // Kill points, as fractions of the run.
    let mut plan: Vec<(u64, &str)> = Vec::new();
    for i in 0..cli.metrics_kills {
        plan.push((
            total * (2 * u64::from(i) + 1) / (2 * u64::from(cli.metrics_kills) + 1),
            "metrics",
        ));
    }
    for i in 0..cli.recruiting_kills {
        plan.push((
            total * (2 * u64::from(i) + 2) / (2 * u64::from(cli.recruiting_kills) + 3),
            "recruiting",
        ));
    }
    plan.sort();
    for (at, who) in plan {
        while pushed.load(Ordering::Relaxed) < at && !pusher.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The lease holder, and the metrics replica its relay streams to.
        let holder = lease
            .holder()
            .and_then(|h| h.strip_prefix('r')?.parse::<usize>().ok())
            .unwrap_or(0);
        let (target, wanted) = if who == "metrics" {
            (holder % replicas, "connected")
        } else {
            (replicas + holder, "delivering")
        };
        // Mid-delivery: wait (bounded) until the holder's relay has a
        // stream open with events waiting.
        let relay = &services[replicas + holder];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut mid = false;
        while Instant::now() < deadline {
            if let Some(detail) = relay.relay_detail().await
                && detail["connected"].as_bool() == Some(true)
                && detail["backlog_rows"].as_u64().unwrap_or(0) > 0
                && (wanted == "connected" || detail["state"] == "delivering")
            {
                mid = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = services[target].label.clone();
        services[target].kill().await?;
        say!(
            started,
            "killed {killed} (SIGKILL) after {} postings pushed{}",
            pushed.load(Ordering::Relaxed),
            match (mid, who) {
                (false, _) => " (the relay had nothing in flight)".to_owned(),
                (true, "metrics") => format!(", mid-stream of r{holder}'s relay"),
                (true, _) => ", the lease holder, mid-delivery".to_owned(),
            }
        );
        if who == "recruiting" && replicas > 1 {
            // Another replica must take the lease over.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(h) = lease.holder()
                    && h != killed
                    && h != "none"
                    && !h.contains('+')
                {
                    say!(started, "{h} took the relay lease");
                    break;
                }
                if Instant::now() > deadline {
                    bail!("no other replica took the relay lease within 60 s of killing {killed}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        services[target].start().await?;
    }
    pusher.await??;
    say!(
        started,
        "all {total} postings pushed; waiting for the relay"
    );
    commands::wait_for_relay(
        &services[replicas].prometheus.to_string(),
        Duration::from_secs(900),
    )
    .await?;
    say!(started, "relay drained");
    stop_watch.cancel();
    watcher.await?;

    let sent = databases.sent_event_ids().await?;
    let applied = databases.applied_event_ids().await?;
    let lost = sent.iter().filter(|id| !applied.contains(*id)).count() as u64;
    let foreign = applied.iter().filter(|id| !sent.contains(*id)).count() as u64;
    let figure = postings_counted(&metrics0, &operator_key).await?;
    let duplicated = figure.saturating_sub(total) + foreign;
    let missing_in_figures = total.saturating_sub(figure);
    let db = match cli.db {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
    };
    println!("database: {db}, replicas: {replicas} of each service");
    println!("events sent:       {}", sent.len());
    println!("events applied:    {}", sent.len() as u64 - lost);
    println!("events lost:       {lost}");
    println!("events duplicated: {duplicated}");
    println!("postings counted by metrics: {figure} of {total} pushed");
    let holders: Vec<String> = lease
        .changes()
        .iter()
        .map(|(at, h)| format!("{h} from {at:.1}s"))
        .collect();
    println!("relay lease held by: {}", holders.join(", "));
    println!("took {:.1}s", started.elapsed().as_secs_f64());
    Ok(lost == 0 && duplicated == 0 && missing_in_figures == 0)
}

/// The postings metrics counts for the days around today.
async fn postings_counted(metrics: &str, operator_key: &str) -> anyhow::Result<u64> {
    let channel = client::connect_with_key(metrics, "metrics", operator_key).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let pb = |d: time::Date| talent_proto::google::r#type::Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    };
    let response = mpb::statistics_service_client::StatisticsServiceClient::new(channel)
        .get_recruitment_activity(mpb::GetRecruitmentActivityRequest {
            period: Some(talent_proto::talent::r#type::v1::Period {
                start_date: Some(pb(today - time::Duration::days(2))),
                end_date: Some(pb(today + time::Duration::days(2))),
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(response
        .total
        .and_then(|t| t.postings)
        .map_or(0, |c| c.value as u64))
}
