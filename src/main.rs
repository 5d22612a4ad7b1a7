//! `talent`: runs the recruiting and metrics services in one process on
//! embedded SQLite, pushes files, imports rosters, asks for figures and
//! prints reports — always through the services' public gRPC APIs.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use talent::{
    commands::{self, PushKind, StatsKind, StatsQuery},
    format::{OutputFormat, args},
    secrets::Secrets,
};
use talent_proto::talent::metrics::v1::{KeyKind, Protection};

mod run;

#[derive(Parser)]
#[command(
    name = "talent",
    version,
    about = "Talent statistics for a city: recruiting and metrics services, data loading and reports",
    after_help = "Examples:\n  talent up\n  talent platform add \"Qingdao e-station\" --id qd-estation\n  talent platform list\n  talent push postings postings.jsonl --key $TALENT_API_KEY\n  talent stats outcomes --cohort 2020 --by district --key $TALENT_READ_KEY\n  talent report --period 2020H1 --cohort 2020 --html report.html --key $TALENT_READ_KEY"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    tls: ClientTls,
}

/// How the command reaches services that speak TLS.
#[derive(clap::Args)]
struct ClientTls {
    /// PEM certificates of the authorities that sign the services'
    /// certificates; with it, HOST:PORT means https://HOST:PORT. An
    /// https:// address without it trusts the system's authorities.
    #[arg(long, global = true, env = "TALENT_TLS_CA_FILE", value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM certificate to present to services that require one (mutual TLS).
    #[arg(
        long,
        global = true,
        env = "TALENT_TLS_CLIENT_CERT_FILE",
        value_name = "FILE",
        requires = "tls_client_key"
    )]
    tls_client_cert: Option<PathBuf>,
    /// PEM private key of --tls-client-cert.
    #[arg(
        long,
        global = true,
        env = "TALENT_TLS_CLIENT_KEY_FILE",
        value_name = "FILE",
        requires = "tls_client_cert"
    )]
    tls_client_key: Option<PathBuf>,
}

impl ClientTls {
    /// Sets the process's TLS for calls, when any TLS flag is given. `up`
    /// and `demo` present the services' own certificate when they require
    /// client certificates and none was given.
    fn configure(self, command: &mut Command) -> anyhow::Result<()> {
        let mut identity = self.tls_client_cert.zip(self.tls_client_key);
        if let Command::Up(up) | Command::Demo(DemoArgs { up, .. }) = command {
            up.tls_ca = self.tls_ca.clone();
            if identity.is_none() && up.tls_client_ca.is_some() {
                identity = up.tls_cert.clone().zip(up.tls_key.clone());
            }
            if up.tls_cert.is_none() {
                return Ok(());
            }
        }
        if self.tls_ca.is_none() && identity.is_none() {
            return Ok(());
        }
        talent::client::configure_tls(
            self.tls_ca.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run both services in this process on embedded SQLite files (no setup).
    #[command(
        after_help = "Examples:\n  talent up\n  TALENT_DATA_DIR=/tmp/talent talent up --metrics-addr 127.0.0.1:6002"
    )]
    Up(run::UpArgs),
    /// Start both services, push a generated half-year of a city through the
    /// public APIs, print the period report, and keep serving.
    #[command(
        after_help = "At --scale 1 the city is the size of the seed report's (about 100,000\ngraduates, 260,000 résumés, 60,000 positions); the default is small.\nThe same --seed gives the same data and the same figures.\n\nExamples:\n  talent demo\n  talent demo --scale 1 --seed 7 --exit"
    )]
    Demo(DemoArgs),
    /// Ask a service for its gRPC health; exit 0 when it is SERVING.
    #[command(
        after_help = "Examples:\n  talent health localhost:50051\n  talent health 127.0.0.1:50052 --service talent.metrics.v1.StatisticsService\n  talent health https://recruiting.internal:50051 --tls-ca ca.pem"
    )]
    Health(HealthArgs),
    /// Manage platforms (recruiting AdminService): add, list, disable, rotate-key.
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// Issue metrics-service keys: READ for the bureau, INGEST for importers.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Push a file of employers, postings, résumés, applications, application moves, hires,
    /// separations, fairs or participations as a platform.
    #[command(
        after_help = "Files are JSON Lines (.jsonl) or CSV (.csv), in UTF-8 or GB18030 (GBK). Rejected lines go to FILE.rejects.jsonl\nand the exit status is 1 when anything was rejected. Push in the order employers, postings,\nrésumés, applications, application-moves, hires, separations, fairs, participations.\n\nExamples:\n  talent push employers employers.csv --key $TALENT_API_KEY\n  TALENT_API_KEY=... talent push postings postings.jsonl"
    )]
    Push(PushArgs),
    /// Print a file of KIND to start from: a header and two lines that push as they are.
    #[command(
        after_help = "The templates refer to each other: pushed in the order employers, postings, resumes,\napplications, application-moves, hires, separations, fairs, participations, they all go\nthrough on a new platform. The columns are described in docs/FILES.md.\n\nExamples:\n  talent template postings > postings.csv\n  talent template hires --format jsonl > hires.jsonl"
    )]
    Template {
        /// What the file holds.
        kind: PushKind,
        /// csv or jsonl.
        #[arg(long, value_enum, default_value = "csv")]
        format: TemplateFormat,
    },
    /// Import the graduate roster (a universities' CSV) into the metrics service.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Print a service's audit log: admin actions, keys, erasures, exports, statistics queries.
    #[command(
        after_help = "Newest first. --since and --until take an instant (2026-01-31T08:00:00Z) or a\nduration back from now (90m, 24h, 7d).\n\nExamples:\n  talent audit --service recruiting --since 24h\n  talent audit --service metrics --key keys/0f8e… --format json"
    )]
    Audit(AuditArgs),
    /// Ask for a figure: talents gathered, graduate outcomes or recruitment activity.
    #[command(
        after_help = "Examples:\n  talent stats gathered --period 2020H1 --by district,tier\n  talent stats outcomes --cohort 2020 --as-of 2020-12-31 --by university --format csv\n  talent stats activity --from 2020-01-01 --to 2020-04-01 --format json"
    )]
    Stats(StatsArgs),
    /// The period report (the seed report's talent paragraph), as text, JSON or HTML.
    #[command(
        after_help = "The cohort is the period's year unless --cohort says otherwise. The headline and\nevery table are as of one day (--as-of, else the period's last day) and as known\nat one instant.\n\nExamples:\n  talent report --period 2020H1\n  talent report --period 2020H1 --cohort 2019 --as-of 2020-12-31\n  talent report --period 2020H1 --format json > report.json\n  talent report --period 2020H1 --html report.html"
    )]
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Size relative to the seed report's city (1.0 = full size).
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// Same seed, same data, same figures.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Stop after printing the report (for scripts).
    #[arg(long)]
    exit: bool,
    #[command(flatten)]
    up: run::UpArgs,
}

#[derive(clap::Args)]
struct HealthArgs {
    /// The service's gRPC address: a host name or an IP address with a
    /// port (localhost:50051, 127.0.0.1:50051), or an http:// or https:// URL.
    #[arg(value_name = "HOST:PORT")]
    addr: String,
    /// One service to ask about; the whole server when omitted.
    #[arg(long, default_value = "")]
    service: String,
}

/// Where the services are, and the data folder holding the admin keys.
#[derive(clap::Args, Clone)]
struct Services {
    /// The recruiting service (HOST:PORT, or an http:// or https:// URL).
    #[arg(long, env = "TALENT_RECRUITING_ADDR", default_value = talent_recruiting::DEFAULT_ADDR, value_name = "HOST:PORT")]
    recruiting_addr: String,
    /// The metrics service (HOST:PORT, or an http:// or https:// URL).
    #[arg(long, env = "TALENT_METRICS_ADDR", default_value = talent_metrics::DEFAULT_ADDR, value_name = "HOST:PORT")]
    metrics_addr: String,
    /// Data folder of `talent up` (its secrets.toml holds the admin keys).
    #[arg(
        long,
        env = "TALENT_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
}

impl Services {
    fn secrets(&self) -> anyhow::Result<Secrets> {
        let path = Secrets::path(&self.data_dir);
        if !path.exists() {
            anyhow::bail!(
                "no admin key: pass --admin-key, or run `talent up` first (it keeps the keys in {})",
                path.display()
            );
        }
        Ok(Secrets::load_or_create(&self.data_dir)?.0)
    }

    /// `--admin-key` of recruiting, or the one in the data folder.
    fn recruiting_admin_key(&self, given: Option<String>) -> anyhow::Result<String> {
        match given {
            Some(k) => Ok(k),
            None => Ok(self.secrets()?.recruiting_admin_key),
        }
    }
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Create a platform and issue its first API key (shown once).
    #[command(
        after_help = "Examples:\n  talent platform add \"Qingdao e-station\" --id qd-estation"
    )]
    Add {
        /// The platform's display name.
        name: String,
        /// Its id (lower-case letters, digits, hyphens); derived from the name when omitted.
        #[arg(long)]
        id: Option<String>,
        /// Its first API key stops working this long from now: 90s, 30m, 12h, 90d; omitted: never.
        #[arg(long, value_parser = commands::parse_grace, value_name = "DURATION")]
        key_expires: Option<std::time::Duration>,
        /// The recruiting admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_RECRUITING_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
    /// List the platforms: id, state, when created and disabled, display name.
    #[command(after_help = "Examples:\n  talent platform list\n  talent platform list --disabled")]
    List {
        /// Include disabled platforms.
        #[arg(long)]
        disabled: bool,
        /// The recruiting admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_RECRUITING_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
    /// Disable a platform: its API keys are refused from then on; its data
    /// and the statistics derived from it stay.
    #[command(after_help = "Examples:\n  talent platform disable qd-estation")]
    Disable {
        /// The platform's id, as `talent platform list` shows it.
        id: String,
        /// The recruiting admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_RECRUITING_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
    /// Issue a new API key for a platform (shown once) and retire its other
    /// keys, at once or after a grace period.
    #[command(
        after_help = "Without --grace the platform's other keys stop working at once; with it\nthey keep working that long (at most 7d), so the platform can switch over.\n\nExamples:\n  talent platform rotate-key qd-estation\n  talent platform rotate-key qd-estation --grace 24h\n  talent platform rotate-key qd-estation --expires 90d"
    )]
    RotateKey {
        /// The platform's id, as `talent platform list` shows it.
        id: String,
        /// How long the other keys keep working: 0 (the default), 90s, 30m, 12h, 7d.
        #[arg(long, default_value = "0", value_parser = commands::parse_grace, value_name = "DURATION")]
        grace: std::time::Duration,
        /// The new key stops working this long from now: 90s, 30m, 12h, 90d; omitted: never.
        #[arg(long, value_parser = commands::parse_grace, value_name = "DURATION")]
        expires: Option<std::time::Duration>,
        /// The recruiting admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_RECRUITING_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a key of the metrics service (shown once).
    #[command(
        after_help = "Examples:\n  talent key issue --kind read --name \"HR bureau\" --protection exact\n  talent key issue --kind read --name \"press office\" --expires 90d\n  talent key issue --kind roster --name \"Qingdao University\"\n  talent key issue --kind relay --name \"recruiting relay\""
    )]
    Issue {
        /// read (the bureau and others), relay (the recruiting service's relay: publishes events), roster (a university: imports graduate rosters) or operator (exact figures, not for publication).
        #[arg(long, value_parser = ["read", "relay", "roster", "operator"])]
        kind: String,
        /// Who holds the key.
        #[arg(long)]
        name: String,
        /// For a read key: exact (the bureau's own: true figures) or perturbed (counts of persons perturbed; the default).
        #[arg(long, value_parser = ["exact", "perturbed"])]
        protection: Option<String>,
        /// The key stops working this long from now: 90s, 30m, 12h, 90d (a bare number is seconds); omitted: never.
        #[arg(long, value_parser = commands::parse_grace, value_name = "DURATION")]
        expires: Option<std::time::Duration>,
        /// The metrics admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_METRICS_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
    /// List the keys of the metrics service (never their secrets).
    #[command(after_help = "Examples:\n  talent key list\n  talent key list --revoked")]
    List {
        /// Include revoked keys.
        #[arg(long)]
        revoked: bool,
        /// The metrics admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_METRICS_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
    /// Revoke a key of the metrics service; calls with it fail from then on
    /// (on the service's other replicas within 5 s).
    #[command(after_help = "Examples:\n  talent key revoke keys/0f8e…")]
    Revoke {
        /// The key's name, as `talent key list` shows it.
        name: String,
        /// The metrics admin key; read from the data folder when omitted.
        #[arg(long, env = "TALENT_METRICS_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        #[command(flatten)]
        services: Services,
    },
}

#[derive(clap::Args)]
struct AuditArgs {
    /// Whose log: recruiting or metrics.
    #[arg(long, value_enum)]
    service: commands::AuditedService,
    /// Only events at or after this instant.
    #[arg(long, value_parser = commands::parse_since, value_name = "WHEN")]
    since: Option<prost_types::Timestamp>,
    /// Only events before this instant.
    #[arg(long, value_parser = commands::parse_since, value_name = "WHEN")]
    until: Option<prost_types::Timestamp>,
    /// Only the calls of this key: its name (keys/…, platforms/…/apiKeys/…) or admin.
    #[arg(long, default_value = "")]
    key: String,
    /// At most this many events, newest first; 0: all.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// text or json.
    #[arg(long, value_enum, default_value = "text")]
    format: AuditFormat,
    /// The service's admin key; else TALENT_RECRUITING_ADMIN_KEY or
    /// TALENT_METRICS_ADMIN_KEY, else the data folder's.
    #[arg(long, hide_env_values = true)]
    admin_key: Option<String>,
    #[command(flatten)]
    services: Services,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TemplateFormat {
    Csv,
    Jsonl,
}

#[derive(clap::Args)]
struct PushArgs {
    /// What the file holds.
    kind: PushKind,
    /// The file: .jsonl or .csv.
    file: PathBuf,
    /// The platform's API key.
    #[arg(long, env = "TALENT_API_KEY", hide_env_values = true)]
    key: String,
    #[command(flatten)]
    services: Services,
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Import a graduate roster file (.csv or .jsonl) with a ROSTER key.
    #[command(
        after_help = "Columns: row_id, resident_id_number or person_key, university_code,\nuniversity_name, degree_level, discipline, graduation_date.\n\nExamples:\n  talent roster import graduates-2020.csv --key $TALENT_ROSTER_KEY"
    )]
    Import {
        file: PathBuf,
        /// A ROSTER key of the metrics service.
        #[arg(long, env = "TALENT_ROSTER_KEY", hide_env_values = true)]
        key: String,
        #[command(flatten)]
        services: Services,
    },
}

/// The question's period and cohort.
#[derive(clap::Args)]
struct When {
    /// 2020H1, 2020Q3, 2020-03 or 2020 (a half-open date range).
    #[arg(long)]
    period: Option<String>,
    /// First day of the period (with --to), YYYY-MM-DD.
    #[arg(long, requires = "to", conflicts_with = "period")]
    from: Option<String>,
    /// Day after the period (with --from), YYYY-MM-DD.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Graduate cohort year (outcomes; for the report, the period's year
    /// when omitted).
    #[arg(long)]
    cohort: Option<i32>,
    /// Day employment is looked at (outcomes, report), YYYY-MM-DD.
    #[arg(long)]
    as_of: Option<String>,
}

impl When {
    fn period(&self) -> anyhow::Result<Option<talent_proto::talent::r#type::v1::Period>> {
        Ok(match (&self.period, &self.from, &self.to) {
            (Some(p), _, _) => Some(args::parse_period_proto(p).map_err(|e| anyhow!(e.0))?),
            (None, Some(from), Some(to)) => {
                Some(args::period_from_to(from, to).map_err(|e| anyhow!(e.0))?)
            }
            _ => None,
        })
    }
    fn as_of(&self) -> anyhow::Result<Option<talent_proto::google::r#type::Date>> {
        self.as_of
            .as_deref()
            .map(|d| {
                args::parse_date(d)
                    .map(args::to_pb)
                    .map_err(|e| anyhow!(e.0))
            })
            .transpose()
    }
}

#[derive(clap::Args)]
struct StatsArgs {
    /// gathered, outcomes or activity.
    kind: StatsKind,
    #[command(flatten)]
    when: When,
    /// Breakdown, up to two of: district, industry, tier, platform, month
    /// (gathered, activity); university, degree, discipline, district, industry (outcomes).
    #[arg(long, value_name = "DIM[,DIM]")]
    by: Option<String>,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    /// A READ (or OPERATOR) key of the metrics service.
    #[arg(long, env = "TALENT_READ_KEY", hide_env_values = true)]
    key: String,
    #[command(flatten)]
    services: Services,
}

/// `talent report --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    /// Aligned text for a terminal.
    Text,
    /// One JSON document: typed figures, the headline and every table.
    Json,
}

#[derive(clap::Args)]
struct ReportArgs {
    #[command(flatten)]
    when: When,
    /// text or json.
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
    /// Also write the report as one self-contained HTML file with charts.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A READ (or OPERATOR) key of the metrics service.
    #[arg(long, env = "TALENT_READ_KEY", hide_env_values = true)]
    key: String,
    #[command(flatten)]
    services: Services,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { mut command, tls } = Cli::parse();
    if let Err(err) = tls.configure(&mut command) {
        eprintln!("talent: {err:#}");
        return ExitCode::FAILURE;
    }
    match dispatch(command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("talent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(args) => run::up(args).await?,
        Command::Demo(args) => run::demo(args.up, args.scale, args.seed, args.exit).await?,
        Command::Health(args) => health(args).await?,
        Command::Platform(PlatformCommand::Add {
            name,
            id,
            key_expires,
            admin_key,
            services,
        }) => {
            let admin_key = services.recruiting_admin_key(admin_key)?;
            let id = id.unwrap_or_else(|| slug(&name));
            let (id, key) = commands::add_platform_expiring(
                &services.recruiting_addr,
                &admin_key,
                &id,
                &name,
                key_expires,
            )
            .await?;
            println!("platform {id} created; its API key (shown once):\n{key}");
            println!("Push with: TALENT_API_KEY={key} talent push postings FILE.jsonl");
        }
        Command::Platform(PlatformCommand::List {
            disabled,
            admin_key,
            services,
        }) => {
            let admin_key = services.recruiting_admin_key(admin_key)?;
            print!(
                "{}",
                commands::list_platforms(&services.recruiting_addr, &admin_key, disabled).await?
            );
        }
        Command::Platform(PlatformCommand::Disable {
            id,
            admin_key,
            services,
        }) => {
            let admin_key = services.recruiting_admin_key(admin_key)?;
            let platform =
                commands::disable_platform(&services.recruiting_addr, &admin_key, &id).await?;
            println!(
                "platform {} disabled (since {}): its API keys are refused from now on",
                platform.platform_id,
                commands::instant(platform.disable_time.as_ref())
            );
        }
        Command::Platform(PlatformCommand::RotateKey {
            id,
            grace,
            expires,
            admin_key,
            services,
        }) => {
            let admin_key = services.recruiting_admin_key(admin_key)?;
            let rotated = commands::rotate_platform_key(
                &services.recruiting_addr,
                &admin_key,
                &id,
                grace,
                expires,
            )
            .await?;
            let id = id.trim().trim_start_matches("platforms/");
            println!(
                "new API key of platform {id} (shown once):\n{}",
                rotated.secret
            );
            if let Some(key) = rotated.api_key.as_ref().filter(|k| k.expire_time.is_some()) {
                println!(
                    "it stops working at {}",
                    commands::instant(key.expire_time.as_ref())
                );
            }
            if rotated.expiring_keys.is_empty() {
                println!("it had no other active key");
            }
            for key in &rotated.expiring_keys {
                let when = commands::instant(key.expire_time.as_ref());
                if grace.is_zero() {
                    println!("old key {}… stopped working ({when})", key.secret_prefix);
                } else {
                    println!("old key {}… keeps working until {when}", key.secret_prefix);
                }
            }
        }
        Command::Key(KeyCommand::Issue {
            kind,
            name,
            protection,
            expires,
            admin_key,
            services,
        }) => {
            let admin_key = match admin_key {
                Some(k) => k,
                None => services.secrets()?.metrics_admin_key,
            };
            let kind = match kind.as_str() {
                "read" => KeyKind::Read,
                "relay" => KeyKind::Relay,
                "roster" => KeyKind::Roster,
                _ => KeyKind::Operator,
            };
            let protection = match protection.as_deref() {
                Some("exact") => Protection::Exact,
                Some(_) => Protection::Perturbed,
                None => Protection::Unspecified,
            };
            let (key_name, secret) = commands::issue_metrics_key_expiring(
                &services.metrics_addr,
                &admin_key,
                kind,
                &name,
                protection,
                expires,
            )
            .await?;
            println!("{key_name} issued; its secret (shown once):\n{secret}");
        }
        Command::Key(KeyCommand::List {
            revoked,
            admin_key,
            services,
        }) => {
            let admin_key = match admin_key {
                Some(k) => k,
                None => services.secrets()?.metrics_admin_key,
            };
            print!(
                "{}",
                commands::list_metrics_keys(&services.metrics_addr, &admin_key, revoked).await?
            );
        }
        Command::Key(KeyCommand::Revoke {
            name,
            admin_key,
            services,
        }) => {
            let admin_key = match admin_key {
                Some(k) => k,
                None => services.secrets()?.metrics_admin_key,
            };
            commands::revoke_metrics_key(&services.metrics_addr, &admin_key, &name).await?;
            println!("{name} revoked");
        }
        Command::Audit(args) => {
            let services = &args.services;
            let (addr, env, admin_key) = match args.service {
                commands::AuditedService::Recruiting => (
                    &services.recruiting_addr,
                    "TALENT_RECRUITING_ADMIN_KEY",
                    args.admin_key.clone(),
                ),
                commands::AuditedService::Metrics => (
                    &services.metrics_addr,
                    "TALENT_METRICS_ADMIN_KEY",
                    args.admin_key.clone(),
                ),
            };
            let admin_key = match admin_key.or_else(|| std::env::var(env).ok()) {
                Some(k) => k,
                None => {
                    let secrets = services.secrets()?;
                    match args.service {
                        commands::AuditedService::Recruiting => secrets.recruiting_admin_key,
                        commands::AuditedService::Metrics => secrets.metrics_admin_key,
                    }
                }
            };
            let query = commands::AuditQuery {
                since: args.since,
                until: args.until,
                key: args.key.clone(),
                limit: args.limit,
            };
            let events = commands::audit_events(addr, &admin_key, args.service, &query).await?;
            match args.format {
                AuditFormat::Text => print!("{}", commands::audit_text(&events)),
                AuditFormat::Json => print!("{}", commands::audit_json(&events)),
            }
        }
        Command::Template { kind, format } => {
            let format = match format {
                TemplateFormat::Csv => talent::files::FileFormat::Csv,
                TemplateFormat::Jsonl => talent::files::FileFormat::JsonLines,
            };
            print!("{}", commands::template(kind, format));
        }
        Command::Push(args) => {
            let summary = commands::push(
                args.kind,
                &args.file,
                &args.services.recruiting_addr,
                &args.key,
                true,
            )
            .await?;
            println!("{}: {summary}", args.file.display());
            if summary.rejected > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Roster(RosterCommand::Import {
            file,
            key,
            services,
        }) => {
            let summary =
                commands::import_roster(&file, &services.metrics_addr, &key, true).await?;
            println!("{}: {summary}", file.display());
            if summary.rejected > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Stats(args) => {
            let group_by = match &args.by {
                Some(by) => args::parse_dimensions(by).map_err(|e| anyhow!(e.0))?,
                None => Vec::new(),
            };
            let query = StatsQuery {
                kind: args.kind,
                period: args.when.period()?,
                cohort_year: args.when.cohort.unwrap_or(0),
                as_of: args.when.as_of()?,
                group_by,
                as_known_at: None,
            };
            let text = commands::stats(&query, &args.services.metrics_addr, &args.key, args.format)
                .await?;
            print!("{text}");
        }
        Command::Report(args) => {
            let period = args
                .when
                .period()?
                .ok_or_else(|| anyhow!("the report needs --period (or --from and --to)"))?;
            // The cohort graduating in the period's (first) year.
            let cohort = match args.when.cohort {
                Some(c) => c,
                None => period
                    .start_date
                    .map(|d| d.year)
                    .ok_or_else(|| anyhow!("the report needs --cohort"))?,
            };
            let report = commands::period_report(
                period,
                cohort,
                args.when.as_of()?,
                &args.services.metrics_addr,
                &args.key,
            )
            .await?;
            match args.format {
                ReportFormat::Text => print!("{}", report.text),
                ReportFormat::Json => print!("{}", report.json),
            }
            if let Some(path) = args.html {
                std::fs::write(&path, report.html)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "Qingdao e-station" → "qingdao-e-station".
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        format!("platform-{}", uuid::Uuid::new_v4().simple())
    } else {
        out
    }
}

async fn health(args: HealthArgs) -> anyhow::Result<()> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let channel = talent::client::connect(&args.addr, "the service").await?;
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: args.service.clone(),
    });
    request.set_timeout(std::time::Duration::from_secs(3));
    let status = HealthClient::new(channel)
        .check(request)
        .await
        .map_err(|s| anyhow!("{}: {}", args.addr, s.message()))?
        .into_inner()
        .status();
    println!("{status:?}");
    anyhow::ensure!(status == ServingStatus::Serving, "not serving");
    Ok(())
}
