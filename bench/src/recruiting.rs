//! The recruiting service started for a scenario, as a child process (the
//! `recruiting` binary built beside `bench`), so that the benchmark is a
//! client in a separate process and the service's own peak RSS can be read.
//! Configured through `TALENT_RECRUITING_*` like any deployment.

use std::{net::SocketAddr, path::PathBuf, process::Child, time::Duration};

use anyhow::{Context, bail};
use talent_proto::talent::recruiting::v1::{
    self as pb, admin_service_client::AdminServiceClient,
    employer_service_client::EmployerServiceClient,
};
use tonic::{
    Request,
    transport::{Channel, Endpoint},
};

const ADMIN_KEY: &str = "bench-recruiting-admin-key";
/// Must equal the metrics service's secret so person keys agree.
pub const CITY_SECRET: &str = "bench-city-secret";
const ENCRYPTION_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Where the relay delivers, when the scenario wants one.
pub struct RelayTarget {
    pub metrics_url: String,
    pub ingest_key: String,
}

/// A running recruiting service.
pub struct Recruiting {
    child: Child,
    pub addr: SocketAddr,
    pub channel: Channel,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The `recruiting` binary built beside this one.
fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("the benchmark's folder")?
        .join("recruiting");
    if !path.is_file() {
        bail!(
            "no recruiting binary beside {} (build them together: cargo build --release --workspace --bins)",
            exe.display()
        );
    }
    Ok(path)
}

/// `request` with `authorization: Bearer key`.
pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ASCII"),
    );
    request
}

impl Recruiting {
    /// Starts the service on `database_url`; with `relay`, its outbox relay
    /// delivers to that metrics service. `extra` are further
    /// `TALENT_RECRUITING_*` settings (name without the prefix).
    pub async fn start(
        database_url: &str,
        relay: Option<&RelayTarget>,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let binary = binary()?;
        let port = free_port()?;
        let prometheus = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = std::process::Command::new(&binary);
        command
            .env("TALENT_RECRUITING_DATABASE_URL", database_url)
            .env("TALENT_RECRUITING_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("TALENT_RECRUITING_PROMETHEUS_ADDR", prometheus.to_string())
            .env("TALENT_RECRUITING_ADMIN_KEY", ADMIN_KEY)
            .env("TALENT_RECRUITING_PERSON_KEY_SECRET", CITY_SECRET)
            .env("TALENT_RECRUITING_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        if let Some(relay) = relay {
            command
                .env("TALENT_RECRUITING_METRICS_URL", &relay.metrics_url)
                .env("TALENT_RECRUITING_METRICS_INGEST_KEY", &relay.ingest_key);
        }
        for (name, value) in extra {
            command.env(
                format!("TALENT_RECRUITING_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(2));
        let mut channel = None;
        for _ in 0..300 {
            if let Ok(c) = endpoint.connect().await {
                channel = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(channel) = channel else {
            bail!("the recruiting service did not accept connections within 30 s");
        };
        Ok(Self {
            child,
            addr,
            channel,
        })
    }

    /// A new channel of its own (one HTTP/2 connection) to the service.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?)
    }

    /// Creates platform `id` and returns an API key for it.
    pub async fn platform(&self, id: &str) -> anyhow::Result<String> {
        let mut admin = AdminServiceClient::new(self.channel.clone());
        admin
            .create_platform(with_key(
                pb::CreatePlatformRequest {
                    platform_id: id.into(),
                    platform: Some(pb::Platform {
                        display_name: format!("bench {id}"),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                ADMIN_KEY,
            ))
            .await
            .context("CreatePlatform")?;
        let key = admin
            .issue_api_key(with_key(
                pb::IssueApiKeyRequest {
                    parent: format!("platforms/{id}"),
                    expire_time: None,
                },
                ADMIN_KEY,
            ))
            .await
            .context("IssueApiKey")?
            .into_inner()
            .secret;
        Ok(key)
    }

    /// Upserts `count` employers (`employer_code(0..count)`) for the platform.
    pub async fn employers(&self, key: &str, count: u64) -> anyhow::Result<()> {
        let mut client = EmployerServiceClient::new(self.channel.clone());
        let all: Vec<u64> = (0..count).collect();
        for chunk in all.chunks(1000) {
            let employers = chunk
                .iter()
                .map(|&n| pb::Employer {
                    credit_code: employer_code(n),
                    display_name: format!("Bench employer {n}"),
                    district: "370202".into(),
                    industry: "I64".into(),
                    ..Default::default()
                })
                .collect();
            let r = client
                .batch_upsert_employers(with_key(
                    pb::BatchUpsertEmployersRequest { employers },
                    key,
                ))
                .await
                .context("BatchUpsertEmployers")?
                .into_inner();
            if let Some(bad) = r.results.iter().find(|r| r.error.is_some()) {
                bail!("an employer was rejected: {bad:?}");
            }
        }
        Ok(())
    }

    /// Peak resident set of the service's process so far, KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stops the service (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// A valid unified social credit code for employer `n` (GB 32100-2015).
pub fn employer_code(n: u64) -> String {
    talent_codes::credit_code::with_check_character(&format!("913702{n:011}"))
        .expect("seventeen digits")
}
