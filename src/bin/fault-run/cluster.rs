//! The services of a run as child processes: each replica is restartable
//! with the same settings (ports, database), writes its log to a file of
//! its own, and is killed with SIGKILL.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use talent::{client, commands};
use tokio::process::{Child, Command};

/// One replica of a service as a child process.
pub struct Service {
    /// `metrics` or `recruiting`.
    pub kind: &'static str,
    /// `m0`, `r1`, …: how the run's output names the replica.
    pub label: String,
    pub env: Vec<(String, String)>,
    pub addr: SocketAddr,
    pub prometheus: SocketAddr,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Service {
    pub fn new(
        kind: &'static str,
        index: usize,
        env: Vec<(String, String)>,
        (addr, prometheus): (SocketAddr, SocketAddr),
        logs: &std::path::Path,
    ) -> Self {
        let label = format!("{}{index}", &kind[..1]);
        Self {
            kind,
            log: logs.join(format!("{kind}-{index}.log")),
            label,
            env,
            addr,
            prometheus,
            child: None,
        }
    }

    /// Starts the replica and waits until its gRPC health answers.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(exe)
            .args(["serve", self.kind])
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.label))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(channel) = client::connect(&self.addr.to_string(), self.kind).await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited with {status} while starting (its log: {})",
                    self.label,
                    self.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not come up (its log: {})",
                    self.label,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no drain, no goodbye.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// The relay part of a recruiting replica's `/health` detail, when it
    /// answers.
    pub async fn relay_detail(&self) -> Option<serde_json::Value> {
        let detail = tokio::time::timeout(
            Duration::from_secs(2),
            commands::http_get_json(&self.prometheus.to_string(), "/health"),
        )
        .await
        .ok()?
        .ok()?;
        Some(detail["relay"].clone())
    }
}

/// The environment of a service: `PREFIX_NAME=value` for each pair.
pub fn env(prefix: &str, pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("{prefix}{}", k.to_uppercase()), v.clone()))
        .collect()
}

/// The gRPC and Prometheus ports of `count` processes: consecutive from
/// `base`, or free ports picked by the system.
pub fn ports(base: Option<u16>, count: usize) -> anyhow::Result<Vec<(SocketAddr, SocketAddr)>> {
    let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
    (0..count)
        .map(|i| match base {
            Some(base) => {
                let port = |k: usize| -> anyhow::Result<u16> {
                    u16::try_from(usize::from(base) + 2 * i + k).context("--base-port too high")
                };
                Ok((local(port(0)?), local(port(1)?)))
            }
            None => Ok((free_addr()?, free_addr()?)),
        })
        .collect()
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Which recruiting replica holds the relay lease, over time: the replica
/// whose relay is not on standby, seen twice in a row (a replica just
/// started reports `idle` until its first try for the lease).
#[derive(Clone, Default)]
pub struct LeaseLog {
    changes: Arc<Mutex<Vec<(f64, String)>>>,
}

impl LeaseLog {
    /// The holder now, as last recorded.
    pub fn holder(&self) -> Option<String> {
        self.changes.lock().unwrap().last().map(|(_, h)| h.clone())
    }

    fn record(&self, at: f64, holder: String) {
        let mut changes = self.changes.lock().unwrap();
        if changes.last().map(|(_, h)| h) != Some(&holder) {
            changes.push((at, holder));
        }
    }

    pub fn changes(&self) -> Vec<(f64, String)> {
        self.changes.lock().unwrap().clone()
    }
}

/// Reads the relay state of every recruiting replica (their operator
/// ports, given with their labels) every 100 ms until `stop`, and records
/// who holds the lease.
pub async fn watch_lease(
    replicas: Vec<(String, SocketAddr)>,
    log: LeaseLog,
    started: Instant,
    stop: talent_server::CancellationToken,
) {
    let mut previous = String::new();
    while !stop.is_cancelled() {
        let mut holders = Vec::new();
        for (label, addr) in &replicas {
            let detail = tokio::time::timeout(
                Duration::from_secs(1),
                commands::http_get_json(&addr.to_string(), "/health"),
            )
            .await;
            if let Ok(Ok(detail)) = detail
                && detail["relay"]["state"]
                    .as_str()
                    .is_some_and(|s| s != "standby")
            {
                holders.push(label.clone());
            }
        }
        let now = if holders.is_empty() {
            "none".to_owned()
        } else {
            holders.join("+")
        };
        if now == previous {
            log.record(started.elapsed().as_secs_f64(), now.clone());
        }
        previous = now;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = stop.cancelled() => {}
        }
    }
}
