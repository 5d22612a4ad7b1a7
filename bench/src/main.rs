//! `bench`: the benchmark of issue 7. Starts the services it needs itself,
//! runs the scenarios, prints one table (figure, value, baseline, ratio,
//! target, status) and writes the same as JSON. Exits non-zero only when
//! the benchmark itself fails (including the bulk-load correctness check),
//! never for a missed target.
//!
//! Scenarios that need the recruiting service (1 postings ingest, 3 relay,
//! 4 GetPosting against echo, and its half of 5) are reported as SKIP until
//! that service is built; each is a function slot in `run`.

mod apply;
mod data;
mod ingest;
mod load;
mod recruiting;
mod relay;
mod service;
mod table;
mod unary;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde::Serialize;
use talent_proto::talent::metrics::v1::{self as pb, Dimension};

use crate::service::{Databases, Reader, Service};
use crate::table::{Row, Status};

#[derive(Parser, Debug)]
#[command(about = "Runs the talent benchmarks and prints one table of figures")]
struct Cli {
    /// Back end of the services' databases.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    db: String,
    /// Small sizes, for CI smoke use (well under a minute).
    #[arg(long)]
    quick: bool,
    /// Write the table as JSON to this file.
    #[arg(long, value_name = "FILE.json")]
    out: Option<std::path::PathBuf>,
    /// PostgreSQL server on which fresh databases are created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Persons of the city in scenario 2 (default: 10,000,000; --quick 200,000).
    /// Each person has two employment records.
    #[arg(long)]
    persons: Option<u64>,
    /// Postings pushed in scenario 1 (default: 300,000; --quick 5,000).
    #[arg(long)]
    postings: Option<u64>,
    /// Calls of each statistics RPC timed (default 200; --quick 50).
    #[arg(long)]
    calls: Option<usize>,
    /// Runs of each full-scan baseline query (default 2; --quick 3); runs
    /// after the first are skipped once the scans have taken 20 s; none
    /// (0) leaves scenario 2's ratios out.
    #[arg(long)]
    baseline_runs: Option<usize>,
    /// Keep the databases afterwards (their location is printed), to
    /// inspect query plans.
    #[arg(long)]
    keep_db: bool,
    /// Scenario 2 on a city a run with `--keep-db` loaded (its database
    /// URL): no check and no load, only the timed calls and the full
    /// scans, so that builds can be compared on the same data in
    /// alternating runs.
    #[arg(long, value_name = "URL")]
    city: Option<String>,
    /// Run only these scenarios (comma-separated numbers, e.g. `--only 1,5`);
    /// default: all.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=5))]
    only: Vec<u8>,
    /// Internal (scenario 4): serve the tonic echo on this address instead
    /// of benchmarking.
    #[arg(long, hide = true, value_name = "ADDR", requires = "echo_response")]
    serve_echo: Option<std::net::SocketAddr>,
    /// Internal (scenario 4): the encoded GetPostingResponse the echo answers.
    #[arg(long, hide = true, value_name = "FILE")]
    echo_response: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    quick: bool,
    persons: u64,
    employments: u64,
    check_persons: u64,
    calls: usize,
    baseline_runs: usize,
    seconds: f64,
    rows: Vec<Row>,
}

const CHECK_PERSONS: u64 = 3000;
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let (Some(addr), Some(file)) = (cli.serve_echo, cli.echo_response.clone()) {
        return match unary::serve_echo(addr, file).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench --serve-echo: error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    match run(&cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let began = Instant::now();
    let persons = cli
        .persons
        .unwrap_or(if cli.quick { 200_000 } else { 10_000_000 });
    let calls = cli.calls.unwrap_or(if cli.quick { 50 } else { 200 });
    let baseline_runs = cli.baseline_runs.unwrap_or(if cli.quick { 3 } else { 2 });
    let postgres = cli.db == "postgres";
    let mut dbs = Databases::new(postgres.then(|| cli.postgres_url.clone())).await?;
    let result = async {
        let wants = |n: u8| cli.only.is_empty() || cli.only.contains(&n);
        let mut rows = Vec::new();
        if wants(1) || wants(5) {
            let postings = cli
                .postings
                .unwrap_or(if cli.quick { 5_000 } else { 300_000 });
            rows.extend(ingest::run(&mut dbs, postings, cli.quick).await?);
        }
        if wants(2) || wants(5) {
            let city = cli.city.as_deref();
            rows.extend(statistics(&mut dbs, city, persons, calls, baseline_runs).await?);
        }
        if wants(3) {
            rows.extend(apply::run(&mut dbs, cli.quick).await?);
            rows.extend(relay::run(&mut dbs, cli.quick).await?);
        }
        if wants(4) {
            rows.extend(unary::run(&mut dbs, cli.quick).await?);
        }
        anyhow::Ok(rows)
    }
    .await;
    if cli.keep_db {
        dbs.keep();
    } else {
        dbs.drop_all().await;
    }
    let rows = result?;
    let report = Report {
        backend: cli.db.clone(),
        quick: cli.quick,
        persons,
        employments: persons * 2,
        check_persons: CHECK_PERSONS,
        calls,
        baseline_runs,
        seconds: began.elapsed().as_secs_f64(),
        rows,
    };
    print_table(&report);
    if let Some(path) = &cli.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn print_table(r: &Report) {
    println!(
        "talent bench: {} back end, {} persons / {} employment records{}, {:.0} s",
        r.backend,
        r.persons,
        r.employments,
        if r.quick { " (--quick)" } else { "" },
        r.seconds
    );
    println!();
    println!("| # | figure | value | baseline | ratio | target | status | note |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in &r.rows {
        let unit = if row.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", row.unit)
        };
        println!(
            "| {} | {} | {}{} | {}{} | {} | {} | {:?} | {} |",
            row.scenario,
            row.figure,
            fmt(row.value),
            if row.value.is_some() { &unit } else { "" },
            fmt(row.baseline),
            if row.baseline.is_some() { &unit } else { "" },
            row.ratio.map_or("-".into(), |x| format!("{x:.2}×")),
            row.target,
            row.status,
            row.note
        );
    }
}

// ----- scenario 2: statistics queries, and 5: the metrics service's memory -----

fn gathered_request() -> pb::GetTalentGatheredRequest {
    pb::GetTalentGatheredRequest {
        period: Some(talent_proto::talent::r#type::v1::Period {
            start_date: Some(date(2024, 1, 1)),
            end_date: Some(date(2025, 1, 1)),
        }),
        group_by: vec![Dimension::District as i32, Dimension::Tier as i32],
        ..Default::default()
    }
}

fn outcomes_request() -> pb::GetGraduateOutcomesRequest {
    pb::GetGraduateOutcomesRequest {
        cohort_year: 2025,
        as_of: Some(date(2026, 11, 1)),
        group_by: vec![Dimension::University as i32, Dimension::District as i32],
        ..Default::default()
    }
}

fn date(year: i32, month: i32, day: i32) -> talent_proto::google::r#type::Date {
    talent_proto::google::r#type::Date { year, month, day }
}

/// The breakdown of a figure: dimension values → counts.
type Answer = std::collections::BTreeMap<Vec<String>, Vec<i64>>;

fn dims(values: &[pb::DimensionValue]) -> Vec<String> {
    use pb::dimension_value::Value;
    values
        .iter()
        .map(|v| match &v.value {
            Some(
                Value::District(s)
                | Value::Industry(s)
                | Value::PlatformId(s)
                | Value::Month(s)
                | Value::UniversityCode(s),
            ) => s.clone(),
            Some(Value::Tier(i) | Value::DegreeLevel(i) | Value::Discipline(i)) => i.to_string(),
            None => String::new(),
        })
        .collect()
}

fn c(x: &Option<pb::Count>) -> i64 {
    x.as_ref().map_or(-1, |c| c.value)
}

fn gathered_answer(r: &pb::GetTalentGatheredResponse) -> Answer {
    let f = |g: &Option<pb::TalentGatheredFigures>| {
        let g = (*g).unwrap_or_default();
        vec![c(&g.talents_gathered), c(&g.high_tier), c(&g.general_tier)]
    };
    let mut a: Answer = r
        .rows
        .iter()
        .map(|row| (dims(&row.dimensions), f(&row.figures)))
        .collect();
    a.insert(vec!["TOTAL".into()], f(&r.total));
    a
}

fn outcomes_answer(r: &pb::GetGraduateOutcomesResponse) -> Answer {
    let f = |g: &Option<pb::GraduateOutcomeFigures>| {
        let g = (*g).unwrap_or_default();
        vec![c(&g.cohort_size), c(&g.employed), c(&g.retained)]
    };
    let mut a: Answer = r
        .rows
        .iter()
        .map(|row| (dims(&row.dimensions), f(&row.figures)))
        .collect();
    a.insert(vec!["TOTAL".into()], f(&r.total));
    a
}

/// The full-scan rows in the service's breakdown shape (district × tier:
/// talents, high, general).
fn gathered_scan_answer(rows: &[(String, String, i64)]) -> Answer {
    let mut a = Answer::new();
    let mut total = vec![0, 0, 0];
    for (district, tier, n) in rows {
        let high = if tier == "3" { *n } else { 0 };
        let general = if tier == "2" { *n } else { 0 };
        a.insert(
            vec![district.clone(), tier.clone()],
            vec![*n, high, general],
        );
        total[0] += n;
        total[1] += high;
        total[2] += general;
    }
    a.insert(vec!["TOTAL".into()], total);
    a
}

/// University × place: cohort, employed, retained.
fn outcomes_scan_answer(rows: &[(String, String, i64)]) -> Answer {
    let mut a = Answer::new();
    let mut total = vec![0, 0, 0];
    for (university, place, n) in rows {
        let employed = if place != data::NONE { *n } else { 0 };
        let retained = if place != data::NONE && place != data::OUTSIDE {
            *n
        } else {
            0
        };
        a.insert(
            vec![university.clone(), place.clone()],
            vec![*n, employed, retained],
        );
        total[0] += n;
        total[1] += employed;
        total[2] += retained;
    }
    a.insert(vec!["TOTAL".into()], total);
    a
}

fn compare(what: &str, a: &Answer, b: &Answer) -> anyhow::Result<()> {
    if a == b {
        return Ok(());
    }
    let diff: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .take(5)
        .map(|k| format!("{k:?}: {:?} vs {:?}", a.get(k), b.get(k)))
        .collect();
    bail!("{what}: answers differ, e.g. {}", diff.join("; "))
}

fn day_of(d: &talent_proto::google::r#type::Date) -> i64 {
    data::day(d.year, d.month as u32, d.day as u32)
}

/// The day range of the gathered request and the cohort / as-of day of
/// the outcomes request, for the full-scan queries.
fn scan_args() -> ((i64, i64), (i64, i64)) {
    let g = gathered_request();
    let p = g.period.expect("set");
    let o = outcomes_request();
    (
        (
            day_of(&p.start_date.expect("set")),
            day_of(&p.end_date.expect("set")),
        ),
        (i64::from(o.cohort_year), day_of(&o.as_of.expect("set"))),
    )
}

/// Extra breakdowns compared in the check only (more dimensions covered).
fn extra_requests() -> (pb::GetTalentGatheredRequest, pb::GetGraduateOutcomesRequest) {
    let mut g = gathered_request();
    g.group_by = vec![Dimension::Month as i32, Dimension::Platform as i32];
    let mut o = outcomes_request();
    o.cohort_year = 2024;
    o.as_of = Some(date(2025, 3, 1));
    o.group_by = vec![Dimension::DegreeLevel as i32, Dimension::Industry as i32];
    (g, o)
}

/// The correctness check: the same small city pushed through PublishEvents
/// and ImportGraduateRoster into one database, and bulk-loaded into
/// another, must answer every compared query identically, and the
/// full-scan baseline must give the same figures.
async fn check(dbs: &mut Databases) -> anyhow::Result<String> {
    let events_url = dbs.create("check_events").await?;
    let bulk_url = dbs.create("check_bulk").await?;
    service::migrate(&events_url).await?;
    service::migrate(&bulk_url).await?;
    let db = load::open(&bulk_url).await?;
    load::load(&db, CHECK_PERSONS).await?;
    db.close().await;

    let events = Service::in_process(&events_url).await?;
    let bulk = Service::in_process(&bulk_url).await?;
    let published = events.publish_city(CHECK_PERSONS).await?;

    // Perturbed answers agree only when the loaded key sums are the ones
    // ingestion keeps.
    let (extra_g, extra_o) = extra_requests();
    for reader in [Reader::Exact, Reader::Perturbed] {
        for req in [gathered_request(), extra_g.clone()] {
            let a = gathered_answer(&events.gathered(reader, req.clone()).await?);
            let b = gathered_answer(&bulk.gathered(reader, req).await?);
            let what = format!(
                "GetTalentGathered ({}), PublishEvents vs bulk load",
                reader.name()
            );
            compare(&what, &a, &b)?;
        }
        for req in [outcomes_request(), extra_o.clone()] {
            let a = outcomes_answer(&events.outcomes(reader, req.clone()).await?);
            let b = outcomes_answer(&bulk.outcomes(reader, req).await?);
            let what = format!(
                "GetGraduateOutcomes ({}), PublishEvents vs bulk load",
                reader.name()
            );
            compare(&what, &a, &b)?;
        }
    }
    // The baseline computes the same figure, from the facts the service
    // itself stored.
    let ((gs, ge), (cohort, as_of)) = scan_args();
    let scan_pool = load::open(&events_url).await?;
    let g = gathered_scan_answer(&load::scan(&scan_pool, load::GATHERED_SCAN, gs, ge).await?);
    let o = outcomes_scan_answer(&load::scan(&scan_pool, load::OUTCOME_SCAN, cohort, as_of).await?);
    scan_pool.close().await;
    compare(
        "GetTalentGathered vs its full scan",
        &gathered_answer(&events.gathered(Reader::Exact, gathered_request()).await?),
        &g,
    )?;
    compare(
        "GetGraduateOutcomes vs its full scan",
        &outcomes_answer(&events.outcomes(Reader::Exact, outcomes_request()).await?),
        &o,
    )?;
    events.stop().await?;
    bulk.stop().await?;
    Ok(format!(
        "{CHECK_PERSONS} persons, {published} events + roster rows through gRPC"
    ))
}

/// How long the full-scan baselines may take before further runs are
/// skipped (after the first, which always runs).
const SCAN_BUDGET: Duration = Duration::from_secs(20);

/// Scenario 2 times each query for both kinds of reader: a PERTURBED key
/// reads the key sums and looks the adjustments up.
const READERS: [Reader; 2] = [Reader::Exact, Reader::Perturbed];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Checks the bulk load against PublishEvents, then loads a city of
/// `persons` into a new database; its URL.
async fn load_city(
    dbs: &mut Databases,
    persons: u64,
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    let t = Instant::now();
    let checked = check(dbs).await?;
    eprintln!("bench: check passed in {:.1} s", t.elapsed().as_secs_f64());
    rows.push(Row {
        scenario: 2,
        figure: "bulk-loaded aggregates answer as PublishEvents did".into(),
        unit: String::new(),
        value: None,
        baseline: None,
        ratio: None,
        target: "identical answers (and = full scan)".into(),
        status: Status::Pass,
        note: checked,
    });

    let url = dbs.create("city").await?;
    service::migrate(&url).await?;
    let db = load::open(&url).await?;
    let t = Instant::now();
    let aggs = load::load(&db, persons).await?;
    load::analyze(&db).await?;
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "bench: loaded {persons} persons in {load_secs:.1} s ({} gathered cells, {} outcome cells)",
        aggs.gathered.len(),
        aggs.outcome.len()
    );
    rows.push(Row {
        scenario: 2,
        figure: format!(
            "bulk load: {persons} persons, {} employments, {} + {} aggregate rows",
            persons * 2,
            aggs.gathered.len(),
            aggs.outcome.len()
        ),
        unit: "s".into(),
        value: Some(load_secs),
        baseline: None,
        ratio: None,
        target: "-".into(),
        status: Status::Info,
        note: "direct bulk SQL, not PublishEvents".into(),
    });
    drop(aggs);

    Ok(url)
}

async fn statistics(
    dbs: &mut Databases,
    city: Option<&str>,
    persons: u64,
    calls: usize,
    baseline_runs: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let url = match city {
        Some(url) => url.to_owned(),
        None => load_city(dbs, persons, &mut rows).await?,
    };
    let svc = Service::start(&url).await?;
    let measured = async {
        // Warm the caches the way a running service is warm.
        for reader in READERS {
            for _ in 0..5 {
                svc.gathered(reader, gathered_request()).await?;
                svc.outcomes(reader, outcomes_request()).await?;
            }
        }
        let mut times = Vec::new();
        for reader in READERS {
            let mut gathered = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                svc.gathered(reader, gathered_request()).await?;
                gathered.push(t.elapsed());
            }
            let mut outcomes = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                svc.outcomes(reader, outcomes_request()).await?;
                outcomes.push(t.elapsed());
            }
            gathered.sort();
            outcomes.sort();
            times.push((reader, gathered, outcomes));
        }
        anyhow::Ok(times)
    }
    .await;
    let rss = svc.peak_rss_kib();
    let rss_note = svc.rss_note();
    svc.stop().await?;
    let times = measured?;

    let ((gs, ge), (cohort, as_of)) = scan_args();
    let pool = load::open(&url).await?;
    let mut scans = [Vec::new(), Vec::new()];
    let scanning = Instant::now();
    for run in 0..baseline_runs {
        // The full scan is the slow side of a ≥ 100× ratio: once one round
        // of both scans has taken SCAN_BUDGET, more rounds would only push
        // the run past its ten minutes without changing what it shows.
        if run > 0 && scanning.elapsed() >= SCAN_BUDGET {
            eprintln!("bench: full scans over budget, {run} run(s) taken");
            break;
        }
        let t = Instant::now();
        load::scan(&pool, load::GATHERED_SCAN, gs, ge).await?;
        scans[0].push(t.elapsed());
        let t = Instant::now();
        load::scan(&pool, load::OUTCOME_SCAN, cohort, as_of).await?;
        scans[1].push(t.elapsed());
        eprintln!("bench: full scans {:?}", (scans[0].last(), scans[1].last()));
    }
    pool.close().await;

    let runs = scans[0].len();
    let [mut gathered_scans, mut outcome_scans] = scans;
    gathered_scans.sort();
    outcome_scans.sort();
    let measured = times.iter().flat_map(|(reader, gathered, outcomes)| {
        [
            (
                format!(
                    "GetTalentGathered (district × tier, 1 year, {})",
                    reader.name()
                ),
                gathered,
                &gathered_scans,
            ),
            (
                format!(
                    "GetGraduateOutcomes (university × district, 1 cohort, {})",
                    reader.name()
                ),
                outcomes,
                &outcome_scans,
            ),
        ]
    });
    for (name, times, scan) in measured {
        // No scan with `--baseline-runs 0`: the times alone, no ratio.
        let base = (!scan.is_empty()).then(|| percentile(scan, 0.5));
        let p50 = percentile(times, 0.5);
        let p99 = percentile(times, 0.99);
        rows.push(Row {
            scenario: 2,
            figure: format!("{name} p50"),
            unit: "ms".into(),
            value: Some(p50),
            baseline: base,
            ratio: base.map(|base| base / p50),
            target: "-".into(),
            status: Status::Info,
            note: format!(
                "{calls} calls via gRPC; baseline: median of {runs} full-scan SQL run(s)"
            ),
        });
        rows.push(Row {
            scenario: 2,
            figure: format!("{name} p99"),
            unit: "ms".into(),
            value: Some(p99),
            baseline: base,
            ratio: base.map(|base| base / p99),
            target: "≤ 10 ms and ≥ 100×".into(),
            status: match base {
                Some(base) if p99 <= 10.0 && base / p99 >= 100.0 => Status::Pass,
                Some(_) => Status::Fail,
                None => Status::Skip,
            },
            note: "ratio = full-scan median ÷ p99".into(),
        });
    }
    let mb = rss.map(|kib| kib as f64 / 1024.0);
    rows.push(Row {
        scenario: 5,
        figure: "metrics peak RSS (VmHWM) during scenario 2".into(),
        unit: "MB".into(),
        value: mb,
        baseline: None,
        ratio: None,
        target: "≤ 150 MB".into(),
        status: match mb {
            Some(mb) if mb <= 150.0 => Status::Pass,
            Some(_) => Status::Fail,
            None => Status::Skip,
        },
        note: rss_note,
    });
    Ok(rows)
}
