//! Fresh databases, and the metrics service started for a scenario: as a
//! child process (the `metrics` binary next to this one, so its own peak
//! RSS can be read) or in-process (`talent_metrics::Application`).

use std::{net::SocketAddr, path::PathBuf, process::Child, time::Duration};

use anyhow::{Context, bail};
use talent_proto::talent::events::v1::{self as ev, event::Payload};
use talent_proto::talent::metrics::v1::{
    self as pb, admin_service_client::AdminServiceClient,
    ingest_service_client::IngestServiceClient, statistics_service_client::StatisticsServiceClient,
};
use talent_server::CancellationToken;
use tonic::{
    Request,
    transport::{Channel, Endpoint},
};

use crate::data;
use talent_server::binary::Service as _;

const ADMIN_KEY: &str = "bench-metrics-admin-key";
const CITY_SECRET: &str = "bench-city-secret";

/// The databases of one run: SQLite files in a temporary folder, or
/// PostgreSQL databases created on the server and dropped at the end.
pub struct Databases {
    dir: Option<tempfile::TempDir>,
    postgres: Option<(String, Vec<String>)>,
}

impl Databases {
    pub async fn new(postgres_url: Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            dir: Some(tempfile::tempdir().context("a temporary folder")?),
            postgres: postgres_url.map(|u| (u, Vec::new())),
        })
    }

    /// A fresh, empty database; its URL.
    pub async fn create(&mut self, name: &str) -> anyhow::Result<String> {
        match &mut self.postgres {
            None => Ok(format!(
                "sqlite://{}",
                self.dir
                    .as_ref()
                    .context("the databases were kept")?
                    .path()
                    .join(format!("{name}.db"))
                    .display()
            )),
            Some((server, names)) => {
                let db = format!("talent_bench_{}_{name}", std::process::id());
                let admin = sqlx::PgPool::connect(server)
                    .await
                    .with_context(|| format!("connecting to {server}"))?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&admin)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                names.push(db.clone());
                Ok(with_database(server, &db))
            }
        }
    }

    /// Leaves every database in place and says where.
    pub fn keep(&mut self) {
        if let Some(dir) = self.dir.take() {
            eprintln!("bench: kept SQLite databases in {}", dir.keep().display());
        }
        if let Some((_, names)) = &mut self.postgres {
            eprintln!("bench: kept PostgreSQL databases {names:?}");
            names.clear();
        }
    }

    /// Drops every PostgreSQL database created (the SQLite folder goes
    /// with `self`).
    pub async fn drop_all(&mut self) {
        let Some((server, names)) = &mut self.postgres else {
            return;
        };
        let Ok(admin) = sqlx::PgPool::connect(server).await else {
            eprintln!("bench: could not connect to drop {names:?}");
            return;
        };
        for db in names.drain(..) {
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            {
                eprintln!("bench: could not drop {db}: {e}");
            }
        }
        admin.close().await;
    }
}

/// `postgres://user@host:port/old?x` with the database replaced by `name`.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Creates the metrics schema (the service's own migrations).
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let db = talent_server::Db::connect(url, 1, talent_metrics::MIGRATIONS).await?;
    db.close().await;
    Ok(())
}

enum Running {
    InProcess {
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    },
    Child(Child),
}

/// Who asks for figures: the OPERATOR key (true figures) or a default
/// READ key (counts of persons perturbed by the cell key method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Exact,
    Perturbed,
}

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Perturbed => "perturbed",
        }
    }
}

/// A running metrics service and a key of each [`Reader`] to query it with.
pub struct Service {
    running: Running,
    channel: Channel,
    /// Where it listens for gRPC.
    pub addr: SocketAddr,
    operator_key: String,
    perturbed_key: String,
}

pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ASCII"),
    );
    request
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The `metrics` binary built beside this one.
fn metrics_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("metrics");
    path.is_file().then_some(path)
}

impl Service {
    /// Runs the service in this process.
    pub async fn in_process(url: &str) -> anyhow::Result<Self> {
        let mut config = talent_metrics::Config::default();
        config.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.prometheus_addr = None;
        config.server.database_url = url.into();
        config.server.database_max_connections = 4;
        config.server.admin_key = Some(ADMIN_KEY.into());
        config.person_key_secret = CITY_SECRET.into();
        config.record_key_secret = data::RECORD_KEY_SECRET.into();
        let app = talent_metrics::Application::build(config).await?;
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Self::ready(Running::InProcess { shutdown, task }, addr).await
    }

    /// Runs the `metrics` binary as a child process when it is built
    /// beside this one, else in-process.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let Some(binary) = metrics_binary() else {
            eprintln!("bench: no metrics binary beside bench; running the service in-process");
            return Self::in_process(url).await;
        };
        let port = free_port()?;
        let child = std::process::Command::new(&binary)
            .env("TALENT_METRICS_DATABASE_URL", url)
            .env("TALENT_METRICS_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "TALENT_METRICS_PROMETHEUS_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env("TALENT_METRICS_ADMIN_KEY", ADMIN_KEY)
            .env("TALENT_METRICS_PERSON_KEY_SECRET", CITY_SECRET)
            .env("TALENT_METRICS_RECORD_KEY_SECRET", data::RECORD_KEY_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Self::ready(
            Running::Child(child),
            SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .await
    }

    async fn ready(running: Running, addr: SocketAddr) -> anyhow::Result<Self> {
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
            bail!("the metrics service did not accept connections within 30 s");
        };
        let mut s = Self {
            running,
            channel,
            addr,
            operator_key: String::new(),
            perturbed_key: String::new(),
        };
        s.operator_key = s.issue(pb::KeyKind::Operator).await?;
        // A READ key is PERTURBED unless issued otherwise.
        s.perturbed_key = s.issue(pb::KeyKind::Read).await?;
        Ok(s)
    }

    /// A connection to the service.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub async fn issue(&self, kind: pb::KeyKind) -> anyhow::Result<String> {
        let r = AdminServiceClient::new(self.channel.clone())
            .issue_key(with_key(
                pb::IssueKeyRequest {
                    kind: kind as i32,
                    display_name: format!("bench {kind:?}"),
                    ..Default::default()
                },
                ADMIN_KEY,
            ))
            .await
            .context("issuing a key")?;
        Ok(r.into_inner().secret)
    }

    /// A new RELAY key (for a relay to deliver with).
    pub async fn issue_relay_key(&self) -> anyhow::Result<String> {
        self.issue(pb::KeyKind::Relay).await
    }

    fn key(&self, reader: Reader) -> &str {
        match reader {
            Reader::Exact => &self.operator_key,
            Reader::Perturbed => &self.perturbed_key,
        }
    }

    pub async fn gathered(
        &self,
        reader: Reader,
        req: pb::GetTalentGatheredRequest,
    ) -> anyhow::Result<pb::GetTalentGatheredResponse> {
        Ok(StatisticsServiceClient::new(self.channel.clone())
            .get_talent_gathered(with_key(req, self.key(reader)))
            .await
            .context("GetTalentGathered")?
            .into_inner())
    }

    pub async fn outcomes(
        &self,
        reader: Reader,
        req: pb::GetGraduateOutcomesRequest,
    ) -> anyhow::Result<pb::GetGraduateOutcomesResponse> {
        Ok(StatisticsServiceClient::new(self.channel.clone())
            .get_graduate_outcomes(with_key(req, self.key(reader)))
            .await
            .context("GetGraduateOutcomes")?
            .into_inner())
    }

    /// Peak resident set of the service's process, KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let path = match &self.running {
            Running::Child(c) => format!("/proc/{}/status", c.id()),
            Running::InProcess { .. } => "/proc/self/status".into(),
        };
        let status = std::fs::read_to_string(path).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn rss_note(&self) -> String {
        match &self.running {
            Running::Child(_) => "the metrics binary as a child process".into(),
            Running::InProcess { .. } => {
                "in-process (no metrics binary beside bench): includes the benchmark's own memory"
                    .into()
            }
        }
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        match self.running {
            Running::InProcess { shutdown, task } => {
                shutdown.cancel();
                task.await??;
            }
            Running::Child(mut child) => {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                for _ in 0..100 {
                    if child.try_wait()?.is_some() {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                child.kill()?;
                child.wait()?;
            }
        }
        Ok(())
    }

    /// Pushes persons `0..persons` of the synthetic city through
    /// PublishEvents (hires, separations, résumés) and ImportGraduateRoster;
    /// returns how many events and rows were sent. Fails unless every
    /// event is applied and every row accepted.
    pub async fn publish_city(&self, persons: u64) -> anyhow::Result<usize> {
        let relay_key = self.issue(pb::KeyKind::Relay).await?;
        let roster_key = self.issue(pb::KeyKind::Roster).await?;
        let mut events = Vec::new();
        let mut roster = Vec::new();
        let mut seq = 0_u64;
        let mut event = |platform: &str, recorded: i64, payload: Payload| {
            seq += 1;
            let at = talent_codes::timestamp_of_micros(recorded);
            ev::Event {
                event_id: format!("00000000-0000-4000-8000-{seq:012x}"),
                source: "bench".into(),
                sequence: seq,
                occurred_at: Some(at),
                recorded_at: Some(at),
                platform_id: platform.into(),
                traceparent: String::new(),
                payload: Some(payload),
            }
        };
        let proto_date = talent_codes::proto_date;
        for i in 0..persons {
            let p = data::person(i);
            employment_events(&p, &employer(i), &mut event, &mut events);
            if let Some(r) = &p.resume {
                events.push(event(
                    r.platform,
                    1_600_000_000_000_000,
                    Payload::ResumeReceived(ev::ResumeReceived {
                        resume: r.id.clone(),
                        revision: 1,
                        person_key: p.key.clone(),
                        // Midday in the city on the first day.
                        first_received_at: Some(talent_codes::timestamp_of_micros(
                            talent_codes::day::day_start(r.first_day)
                                + talent_codes::day::DAY_MICROS / 2,
                        )),
                        statistical_use_consent: true,
                        attributes: Some(ev::ResumeAttributes {
                            education: vec![ev::EducationFacts {
                                degree_level: r.degree as i32,
                                university_code: String::new(),
                                discipline: 0,
                                graduation_date: None,
                            }],
                            professional_title_level: 0,
                            vocational_skill_level: 0,
                        }),
                    }),
                ));
            }
            if let Some(r) = &p.roster {
                roster.push(pb::GraduateRosterRow {
                    row_id: String::new(),
                    person: Some(pb::graduate_roster_row::Person::PersonKey(p.key.clone())),
                    university_code: data::university_code(r.university),
                    university_name: data::university_name(r.university),
                    degree_level: r.degree as i32,
                    discipline: r.discipline as i32,
                    graduation_date: Some(proto_date(r.graduation_day)),
                });
            }
        }
        let sent = events.len() + roster.len();
        let requests: Vec<pb::PublishEventsRequest> = events
            .chunks(500)
            .map(|c| pb::PublishEventsRequest { events: c.to_vec() })
            .collect();
        let n = requests.len();
        let mut client = IngestServiceClient::new(self.channel.clone());
        let mut responses = client
            .publish_events(with_key(tokio_stream::iter(requests), &relay_key))
            .await
            .context("PublishEvents")?
            .into_inner();
        for _ in 0..n {
            let r = responses
                .message()
                .await?
                .context("one response per request")?;
            if let Some(bad) = r
                .acks
                .iter()
                .find(|a| a.outcome() != pb::EventOutcome::Applied)
            {
                bail!("an event was not applied: {bad:?}");
            }
        }
        let requests: Vec<pb::ImportGraduateRosterRequest> = roster
            .chunks(500)
            .map(|c| pb::ImportGraduateRosterRequest { rows: c.to_vec() })
            .collect();
        let r = client
            .import_graduate_roster(with_key(tokio_stream::iter(requests), &roster_key))
            .await
            .context("ImportGraduateRoster")?
            .into_inner();
        if r.rejected_count != 0 {
            bail!("roster rows were rejected: {:?}", r.rejected_rows);
        }
        Ok(sent)
    }
}

/// Person `p`'s hires and separations (a Separated after each ended
/// employment), made into events by `event` and pushed onto `out`.
pub fn employment_events(
    p: &data::Person,
    employer: &str,
    event: &mut impl FnMut(&str, i64, Payload) -> ev::Event,
    out: &mut Vec<ev::Event>,
) {
    let proto_date = talent_codes::proto_date;
    for e in &p.emps {
        out.push(event(
            e.platform,
            e.recorded_at,
            Payload::Hired(ev::Hired {
                employment: e.id.clone(),
                person_key: p.key.clone(),
                employer_credit_code: employer.to_owned(),
                workplace_district: e.district.into(),
                industry: e.industry.into(),
                start_date: Some(proto_date(e.start_day)),
                reporting_platform_id: e.platform.into(),
                ..Default::default()
            }),
        ));
        if let Some(end) = e.end_day {
            out.push(event(
                e.platform,
                e.recorded_at,
                Payload::Separated(ev::Separated {
                    employment: e.id.clone(),
                    person_key: p.key.clone(),
                    end_date: Some(proto_date(end)),
                    revision: 1,
                }),
            ));
        }
    }
}

fn employer(n: u64) -> String {
    crate::recruiting::employer_code(n % 1000)
}
