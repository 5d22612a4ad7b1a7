//! The long fault run: pushes many postings (one event each) through the
//! recruiting service while the metrics service is killed with SIGKILL five
//! times and the recruiting service three times, then checks that every
//! event reached metrics exactly once.
//!
//! ```sh
//! cargo run --release --bin fault-run -- --events 100000
//! ```
//!
//! It runs both services as child processes of itself (`fault-run serve
//! recruiting|metrics`, configured through the same environment variables
//! as the service binaries) on SQLite files in a temporary folder, and
//! prints events sent, applied, lost and duplicated. Exit status 0 only
//! when lost and duplicated are both 0.

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use talent::{client, commands, secrets::Secrets};
use talent_proto::talent::{
    metrics::v1 as mpb,
    recruiting::v1::{self as rpb, posting_service_client::PostingServiceClient},
};
use talent_server::{CancellationToken, ServerFlags, config};
use tokio::process::{Child, Command};

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
    /// Times the metrics service is killed (SIGKILL) during the run.
    #[arg(long, default_value_t = 5)]
    metrics_kills: u32,
    /// Times the recruiting service is killed (SIGKILL) during the run.
    #[arg(long, default_value_t = 3)]
    recruiting_kills: u32,
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
                talent_metrics::ENV_PREFIX,
                &flags,
            )?;
            talent_metrics::Application::build(cfg)
                .await?
                .run_until_stopped(token)
                .await
        }
        "recruiting" => {
            let cfg: talent_recruiting::Config = config::load(
                &talent_recruiting::Config::default(),
                None,
                talent_recruiting::ENV_PREFIX,
                &flags,
            )?;
            talent_recruiting::Application::build(cfg)
                .await?
                .run_until_stopped(token)
                .await
        }
        other => bail!("unknown service {other}"),
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// One service as a child process, restartable with the same settings.
struct Service {
    name: &'static str,
    env: Vec<(String, String)>,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Service {
    async fn start(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(["serve", self.name])
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        // Serving once its health answers.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(channel) = client::connect(&self.addr.to_string(), self.name).await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("{} did not come up", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no drain, no goodbye.
    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }
}

fn env(prefix: &str, pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("{prefix}{}", k.to_uppercase()), v.clone()))
        .collect()
}

async fn run(cli: &Cli) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let secrets = Secrets::load_or_create(dir.path())?.0;
    let (metrics_addr, metrics_prom) = (free_addr()?, free_addr()?);
    let (recruiting_addr, recruiting_prom) = (free_addr()?, free_addr()?);
    let sqlite = |f: &str| format!("sqlite://{}", dir.path().join(f).display());

    let mut metrics = Service {
        name: "metrics",
        env: env(
            talent_metrics::ENV_PREFIX,
            &[
                ("listen_addr", metrics_addr.to_string()),
                ("prometheus_addr", metrics_prom.to_string()),
                ("database_url", sqlite("metrics.db")),
                ("admin_key", secrets.metrics_admin_key.clone()),
                ("person_key_secret", secrets.person_key_secret.clone()),
                ("record_key_secret", secrets.record_key_secret.clone()),
            ],
        ),
        addr: metrics_addr,
        child: None,
    };
    metrics.start().await?;
    let (_, ingest_key) = commands::issue_metrics_key(
        &metrics_addr.to_string(),
        &secrets.metrics_admin_key,
        mpb::KeyKind::Relay,
        "relay",
        mpb::Protection::Unspecified,
    )
    .await?;
    let (_, operator_key) = commands::issue_metrics_key(
        &metrics_addr.to_string(),
        &secrets.metrics_admin_key,
        mpb::KeyKind::Operator,
        "fault run",
        mpb::Protection::Unspecified,
    )
    .await?;

    let mut recruiting = Service {
        name: "recruiting",
        env: env(
            talent_recruiting::ENV_PREFIX,
            &[
                ("listen_addr", recruiting_addr.to_string()),
                ("prometheus_addr", recruiting_prom.to_string()),
                ("database_url", sqlite("recruiting.db")),
                ("admin_key", secrets.recruiting_admin_key.clone()),
                ("person_key_secret", secrets.person_key_secret.clone()),
                ("encryption_key", secrets.encryption_key.clone()),
                ("metrics_url", format!("http://{metrics_addr}")),
                ("metrics_ingest_key", ingest_key),
                ("relay_backoff_max_ms", "1000".into()),
                ("relay_monitor_interval_ms", "100".into()),
            ],
        ),
        addr: recruiting_addr,
        child: None,
    };
    recruiting.start().await?;
    let (_, platform_key) = commands::add_platform(
        &recruiting_addr.to_string(),
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
        let channel =
            client::connect_with_key(&recruiting_addr.to_string(), "recruiting", &platform_key)
                .await?;
        rpb::employer_service_client::EmployerServiceClient::new(channel)
            .batch_upsert_employers(rpb::BatchUpsertEmployersRequest {
                employers: vec![employer],
            })
            .await?;
    }

    let started = Instant::now();
    let pushed = Arc::new(AtomicU64::new(0));
    let total = cli.events;
    let pusher = tokio::spawn(push_all(
        recruiting_addr.to_string(),
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
        let service = if who == "metrics" {
            &mut metrics
        } else {
            &mut recruiting
        };
        service.kill().await?;
        println!(
            "[{:>6.1}s] killed {who} (SIGKILL) after {} postings pushed",
            started.elapsed().as_secs_f64(),
            pushed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        service.start().await?;
    }
    pusher.await??;
    println!(
        "[{:>6.1}s] all {total} postings pushed; waiting for the relay",
        started.elapsed().as_secs_f64()
    );
    commands::wait_for_relay(&recruiting_prom.to_string(), Duration::from_secs(900)).await?;
    println!("[{:>6.1}s] relay drained", started.elapsed().as_secs_f64());

    let sent = outbox_event_ids(&dir.path().join("recruiting.db")).await?;
    let applied = applied_event_ids(&dir.path().join("metrics.db")).await?;
    let lost = sent.iter().filter(|id| !applied.contains(*id)).count() as u64;
    let foreign = applied.iter().filter(|id| !sent.contains(*id)).count() as u64;
    let figure = {
        let channel =
            client::connect_with_key(&metrics_addr.to_string(), "metrics", &operator_key).await?;
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
        response
            .total
            .and_then(|t| t.postings)
            .map_or(0, |c| c.value as u64)
    };
    let duplicated = figure.saturating_sub(total) + foreign;
    let missing_in_figures = total.saturating_sub(figure);
    println!("events sent:       {}", sent.len());
    println!("events applied:    {}", sent.len() as u64 - lost);
    println!("events lost:       {lost}");
    println!("events duplicated: {duplicated}");
    println!("postings counted by metrics: {figure} of {total} pushed");
    println!("took {:.1}s", started.elapsed().as_secs_f64());
    recruiting.kill().await?;
    metrics.kill().await?;
    Ok(lost == 0 && duplicated == 0 && missing_in_figures == 0)
}

/// Pushes `total` postings in batches of 500 over UpsertPostings, retrying
/// a batch (re-sending is idempotent) while recruiting is down.
async fn push_all(
    addr: String,
    key: String,
    template: rpb::Posting,
    total: u64,
    pushed: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    const BATCH: u64 = 500;
    let mut next = 0;
    while next < total {
        let end = (next + BATCH).min(total);
        let postings: Vec<rpb::Posting> = (next..end)
            .map(|i| rpb::Posting {
                external_id: format!("fault-{i:07}"),
                title: format!("{} #{i}", template.title),
                // Published now: the figure is read for the days around today.
                publish_time: None,
                expire_time: None,
                fair: String::new(),
                ..template.clone()
            })
            .collect();
        let attempt = async {
            let channel = client::connect_with_key(&addr, "recruiting", &key).await?;
            let response = PostingServiceClient::new(channel)
                .batch_upsert_postings(rpb::BatchUpsertPostingsRequest { postings })
                .await?
                .into_inner();
            for r in &response.results {
                if let Some(err) = &r.error {
                    bail!("posting {} rejected: {}", r.external_id, err.message);
                }
            }
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => {
                next = end;
                pushed.store(next, Ordering::Relaxed);
            }
            Err(err) if err.to_string().contains("rejected") => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Ok(())
}

async fn outbox_event_ids(db: &Path) -> anyhow::Result<HashSet<String>> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let ids: Vec<(String,)> = sqlx::query_as("SELECT event_id FROM outbox")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

async fn applied_event_ids(db: &Path) -> anyhow::Result<HashSet<String>> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await?;
    let ids: Vec<(String,)> = sqlx::query_as("SELECT event_id FROM applied_events")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}
