//! What the `talent` subcommands do, through the public gRPC APIs only,
//! exactly as a platform, an importer or the bureau would.

use std::{
    collections::VecDeque,
    io::BufReader,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use talent_proto::talent::{
    metrics::v1::{
        self as metrics_pb, GetGraduateOutcomesRequest, GetPeriodReportRequest,
        GetRecruitmentActivityRequest, GetTalentGatheredRequest, ImportGraduateRosterRequest,
        statistics_service_client::StatisticsServiceClient,
    },
    recruiting::v1::{
        self as recruiting_pb, BatchUpsertEmployersRequest, UpsertOutcome, UpsertPostingsRequest,
        UpsertResumesRequest, employer_service_client::EmployerServiceClient,
        posting_service_client::PostingServiceClient, resume_service_client::ResumeServiceClient,
    },
};
use tokio_stream::{StreamExt, wrappers::ReceiverStream};

use crate::{
    client::{self, Authed},
    files::{self, FileFormat, LineError, Violation},
    format::{self, OutputFormat},
    report,
};

/// Items per request message on the streams.
pub const BATCH: usize = 500;

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Where the rejected lines were written, when there were any.
    pub rejects_file: Option<PathBuf>,
}

impl std::fmt::Display for PushSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} rejected",
            self.created, self.updated, self.unchanged, self.rejected
        )?;
        if let Some(path) = &self.rejects_file {
            write!(f, " (see {})", path.display())?;
        }
        Ok(())
    }
}

mod admin;
mod audit;
mod facts;

pub use admin::*;
pub use audit::*;

/// Which kind of record a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushKind {
    Postings,
    Employers,
    Resumes,
    /// Résumés delivered to postings.
    Applications,
    /// Status changes of applications (HIRED with the hire's details).
    ApplicationMoves,
    /// Hires reported directly, without an application.
    Hires,
    /// Ends of employments.
    Separations,
    /// Recruitment fairs.
    Fairs,
    /// Employers' registrations to fairs.
    Participations,
}

/// One per-item result of the recruiting service, whatever its kind.
trait ItemResult {
    fn index(&self) -> i32;
    fn outcome(&self) -> UpsertOutcome;
    fn error(&self) -> Option<&tonic_types::pb::Status>;
}

macro_rules! item_result {
    ($($ty:ty),*) => {$(
        impl ItemResult for $ty {
            fn index(&self) -> i32 { self.index }
            fn outcome(&self) -> UpsertOutcome { self.outcome() }
            fn error(&self) -> Option<&tonic_types::pb::Status> { self.error.as_ref() }
        }
    )*};
}
item_result!(
    recruiting_pb::PostingResult,
    recruiting_pb::ResumeResult,
    recruiting_pb::EmployerResult
);

/// Items per second as a whole number ("1234/s"): indicatif's own
/// `{per_sec}` shows decimals, meaningless for items.
fn whole_rate(per_sec: f64) -> String {
    if per_sec.is_finite() && per_sec > 0.0 {
        format!("{}/s", per_sec.round() as u64)
    } else {
        "0/s".to_owned()
    }
}

fn progress(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {rate:>9} ETA {eta}")
            .expect("a valid template")
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&whole_rate(state.per_sec()));
                },
            )
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Tallies one batch of results against the file lines they answer.
fn tally<R: ItemResult>(
    results: &[R],
    lines: &[usize],
    summary: &mut PushSummary,
    rejects: &mut Vec<LineError>,
) -> anyhow::Result<()> {
    tally_with(results, lines, summary, rejects, &|f| f.to_owned())
}

/// [`tally`], with the file's column for each field path of an item
/// (`column`), and the field a NOT_FOUND names (`platforms/p/resumes/r1
/// not found`: `resume`) when the service gives no field.
fn tally_with<R: ItemResult>(
    results: &[R],
    lines: &[usize],
    summary: &mut PushSummary,
    rejects: &mut Vec<LineError>,
    column: &dyn Fn(&str) -> String,
) -> anyhow::Result<()> {
    if results.len() != lines.len() {
        bail!(
            "the service answered {} results for {} items",
            results.len(),
            lines.len()
        );
    }
    for result in results {
        let line = usize::try_from(result.index())
            .ok()
            .and_then(|i| lines.get(i))
            .copied()
            .ok_or_else(|| anyhow!("a result for an item that was not sent"))?;
        match result.outcome() {
            UpsertOutcome::Created => summary.created += 1,
            UpsertOutcome::Updated => summary.updated += 1,
            UpsertOutcome::Unchanged => summary.unchanged += 1,
            UpsertOutcome::Rejected | UpsertOutcome::Unspecified => {
                summary.rejected += 1;
                let violations = result
                    .error()
                    .map(client::violations_of)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(field, description)| {
                        let field = match files::item_field(&field) {
                            "" => named_field(&description),
                            f => column(f),
                        };
                        Violation::new(field, description)
                    })
                    .collect();
                rejects.push(LineError { line, violations });
            }
        }
    }
    Ok(())
}

/// The field of the resource a message names (`platforms/p/fairs/f1 not
/// found`: `fair`); empty when it names none.
fn named_field(message: &str) -> String {
    const COLLECTIONS: &[(&str, &str)] = &[
        ("/resumes/", "resume"),
        ("/postings/", "posting"),
        ("/applications/", "application"),
        ("/employments/", "employment"),
        ("/fairs/", "fair"),
    ];
    COLLECTIONS
        .iter()
        .filter_map(|(c, field)| message.find(c).map(|i| (i, *field)))
        .min()
        .map(|(_, field)| field.to_owned())
        .unwrap_or_default()
}

impl PushKind {
    /// The kind's name on the command line (`application-moves`).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    fn columns(self) -> anyhow::Result<&'static files::kinds::Kind> {
        let name = self.name();
        files::kinds::kind(&name).ok_or_else(|| anyhow!("no columns known for {name}"))
    }
}

/// `talent template KIND`: a header and two lines that push as they are.
pub fn template(kind: PushKind, format: FileFormat) -> String {
    kind.columns()
        .map(|k| files::kinds::template(k, format))
        .unwrap_or_default()
}

fn open(file: &Path) -> anyhow::Result<(BufReader<std::fs::File>, FileFormat)> {
    let format = FileFormat::from_path(file)
        .ok_or_else(|| anyhow!("{}: unknown file type (use .jsonl or .csv)", file.display()))?;
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    Ok((BufReader::new(reader), format))
}

/// Pushes a file of any [`PushKind`] with a platform key.
/// Lines the file itself gets wrong and items the service rejects both go
/// to `FILE.rejects.jsonl`.
pub async fn push(
    kind: PushKind,
    file: &Path,
    addr: &str,
    key: &str,
    show_progress: bool,
) -> anyhow::Result<PushSummary> {
    let (reader, format) = open(file)?;
    let fields = files::kinds::first_fields(open(file)?.0, format)
        .with_context(|| format!("reading {}", file.display()))?;
    if let Some(why) = files::kinds::looks_like_another(kind.columns()?, &fields) {
        bail!("{}: {why}", file.display());
    }
    let what = "the recruiting service";
    let channel = client::connect_with_key(addr, what, key).await?;
    let mut summary = PushSummary::default();
    let mut rejects = Vec::new();
    match kind {
        PushKind::Employers => {
            let parsed = files::parse_all(reader, format, files::employer)
                .with_context(|| format!("reading {}", file.display()))?;
            rejects.extend(parsed.rejects);
            let bar = bar_if(show_progress, parsed.items.len(), "employers");
            let mut api = EmployerServiceClient::new(channel);
            for chunk in parsed.items.chunks(BATCH) {
                let (lines, employers): (Vec<usize>, Vec<_>) = chunk.iter().cloned().unzip();
                let response = api
                    .batch_upsert_employers(BatchUpsertEmployersRequest { employers })
                    .await
                    .map_err(|s| client::explain(&s, what))?
                    .into_inner();
                tally(&response.results, &lines, &mut summary, &mut rejects)?;
                bar.inc(lines.len() as u64);
            }
            bar.finish_and_clear();
        }
        PushKind::Postings => {
            let parsed = files::parse_all(reader, format, files::posting)
                .with_context(|| format!("reading {}", file.display()))?;
            rejects.extend(parsed.rejects);
            let mut api = PostingServiceClient::new(channel);
            stream_items(
                parsed.items,
                show_progress,
                "postings",
                |postings| UpsertPostingsRequest { postings },
                |requests| async move {
                    api.upsert_postings(requests)
                        .await
                        .map(|r| r.into_inner().map(|m| m.map(|m| m.results)))
                },
                &mut summary,
                &mut rejects,
            )
            .await?;
        }
        PushKind::Resumes => {
            let parsed = files::parse_all(reader, format, files::resume)
                .with_context(|| format!("reading {}", file.display()))?;
            rejects.extend(parsed.rejects);
            let mut api = ResumeServiceClient::new(channel);
            stream_items(
                parsed.items,
                show_progress,
                "résumés",
                |resumes| UpsertResumesRequest { resumes },
                |requests| async move {
                    api.upsert_resumes(requests)
                        .await
                        .map(|r| r.into_inner().map(|m| m.map(|m| m.results)))
                },
                &mut summary,
                &mut rejects,
            )
            .await?;
        }
        _ => {
            facts::push_facts(
                kind,
                reader,
                format,
                channel,
                show_progress,
                &mut summary,
                &mut rejects,
            )
            .await
            .with_context(|| format!("pushing {}", file.display()))?;
        }
    }
    rejects.sort_by_key(|r| r.line);
    // Every rejected line once, whether the file or the service rejected it.
    summary.rejected = rejects.len() as u64;
    summary.rejects_file = files::write_rejects(file, &rejects)?;
    Ok(summary)
}

pub(crate) fn bar_if(show: bool, total: usize, what: &str) -> ProgressBar {
    if show {
        progress(total, what)
    } else {
        ProgressBar::hidden()
    }
}

/// Sends `items` over a bidirectional upsert stream in batches, while
/// reading the answers of earlier batches.
async fn stream_items<T, Req, R, Open, Fut, S>(
    items: Vec<(usize, T)>,
    show_progress: bool,
    what: &str,
    make_request: impl Fn(Vec<T>) -> Req,
    open: Open,
    summary: &mut PushSummary,
    rejects: &mut Vec<LineError>,
) -> anyhow::Result<()>
where
    T: Send + 'static,
    Req: Send + 'static,
    R: ItemResult,
    Open: FnOnce(ReceiverStream<Req>) -> Fut,
    Fut: std::future::Future<Output = Result<S, tonic::Status>>,
    S: tokio_stream::Stream<Item = Result<Vec<R>, tonic::Status>> + Unpin,
{
    let service = "the recruiting service";
    let bar = bar_if(show_progress, items.len(), what);
    let mut batches = VecDeque::new();
    let mut requests = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let (lines, batch): (Vec<usize>, Vec<T>) = items.by_ref().take(BATCH).unzip();
        batches.push_back(lines);
        requests.push(make_request(batch));
    }
    if requests.is_empty() {
        return Ok(());
    }
    // A few batches in flight keep the stream busy while answers come back.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sender = tokio::spawn(async move {
        for request in requests {
            if tx.send(request).await.is_err() {
                break;
            }
        }
    });
    let mut responses = open(ReceiverStream::new(rx))
        .await
        .map_err(|s| client::explain(&s, service))?;
    while let Some(lines) = batches.pop_front() {
        let results = responses
            .next()
            .await
            .ok_or_else(|| anyhow!("{service} ended the stream early"))?
            .map_err(|s| client::explain(&s, service))?;
        tally(&results, &lines, summary, rejects)?;
        bar.inc(lines.len() as u64);
    }
    bar.finish_and_clear();
    sender.abort();
    Ok(())
}

/// What a roster import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub accepted: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub rejects_file: Option<PathBuf>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accepted, {} unchanged, {} rejected",
            self.accepted, self.unchanged, self.rejected
        )?;
        if let Some(path) = &self.rejects_file {
            write!(f, " (see {})", path.display())?;
        }
        Ok(())
    }
}

/// Imports a graduate roster file with a ROSTER key of the metrics service.
pub async fn import_roster(
    file: &Path,
    addr: &str,
    key: &str,
    show_progress: bool,
) -> anyhow::Result<ImportSummary> {
    let (reader, format) = open(file)?;
    let parsed = files::parse_roster(reader, format)
        .with_context(|| format!("reading {}", file.display()))?;
    let what = "the metrics service";
    let channel = client::connect_with_key(addr, what, key).await?;
    let mut api = metrics_pb::ingest_service_client::IngestServiceClient::new(channel);
    let bar = bar_if(show_progress, parsed.items.len(), "graduates");
    let requests: Vec<ImportGraduateRosterRequest> = parsed
        .items
        .chunks(1000)
        .map(|chunk| ImportGraduateRosterRequest {
            rows: chunk.iter().map(|(_, row)| row.clone()).collect(),
        })
        .collect();
    let sizes: Vec<u64> = requests.iter().map(|r| r.rows.len() as u64).collect();
    let counted = bar.clone();
    let stream = tokio_stream::iter(requests.into_iter().zip(sizes)).map(move |(r, n)| {
        counted.inc(n);
        r
    });
    let response = api
        .import_graduate_roster(stream)
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    bar.finish_and_clear();
    let mut rejects = parsed.rejects;
    for row in &response.rejected_rows {
        let line = row.row_id.parse().unwrap_or(0);
        let violations = row
            .error
            .as_ref()
            .map(client::violations_of)
            .unwrap_or_default()
            .into_iter()
            .map(|(field, description)| Violation::new(field, description))
            .collect();
        rejects.push(LineError { line, violations });
    }
    rejects.sort_by_key(|r| r.line);
    let file_rejected = (rejects.len() - response.rejected_rows.len()) as i64;
    Ok(ImportSummary {
        accepted: response.accepted_count,
        unchanged: response.unchanged_count,
        rejected: response.rejected_count + file_rejected,
        rejects_file: files::write_rejects(file, &rejects)?,
    })
}

/// Which figure `talent stats` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsKind {
    Gathered,
    Outcomes,
    Activity,
}

/// The question of `talent stats`.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub kind: StatsKind,
    pub period: Option<talent_proto::talent::r#type::v1::Period>,
    pub cohort_year: i32,
    pub as_of: Option<talent_proto::google::r#type::Date>,
    pub group_by: Vec<metrics_pb::Dimension>,
    pub as_known_at: Option<prost_types::Timestamp>,
}

async fn statistics(addr: &str, key: &str) -> anyhow::Result<StatisticsServiceClient<Authed>> {
    let channel = client::connect_with_key(addr, "the metrics service", key).await?;
    Ok(StatisticsServiceClient::new(channel))
}

/// Asks the metrics service and renders the answer.
pub async fn stats(
    query: &StatsQuery,
    addr: &str,
    key: &str,
    output: OutputFormat,
) -> anyhow::Result<String> {
    let what = "the metrics service";
    let mut api = statistics(addr, key).await?;
    let group_by: Vec<i32> = query.group_by.iter().map(|d| *d as i32).collect();
    let table = match query.kind {
        StatsKind::Gathered => {
            let period = query
                .period
                .ok_or_else(|| anyhow!("talents gathered need a --period"))?;
            let r = api
                .get_talent_gathered(GetTalentGatheredRequest {
                    period: Some(period),
                    group_by,
                    filter: None,
                    as_known_at: query.as_known_at,
                })
                .await
                .map_err(|s| client::explain(&s, what))?
                .into_inner();
            format::gathered_table(&r)
        }
        StatsKind::Activity => {
            let period = query
                .period
                .ok_or_else(|| anyhow!("recruitment activity needs a --period"))?;
            let r = api
                .get_recruitment_activity(GetRecruitmentActivityRequest {
                    period: Some(period),
                    group_by,
                    filter: None,
                    as_known_at: query.as_known_at,
                })
                .await
                .map_err(|s| client::explain(&s, what))?
                .into_inner();
            format::activity_table(&r)
        }
        StatsKind::Outcomes => {
            if query.cohort_year == 0 {
                bail!("graduate outcomes need a --cohort");
            }
            let r = api
                .get_graduate_outcomes(GetGraduateOutcomesRequest {
                    cohort_year: query.cohort_year,
                    as_of: query.as_of,
                    group_by,
                    filter: None,
                    as_known_at: query.as_known_at,
                })
                .await
                .map_err(|s| client::explain(&s, what))?
                .into_inner();
            format::outcomes_table(&r)
        }
    };
    Ok(table.render(output))
}

/// The period report: its text, its JSON document, and the self-contained
/// HTML page.
pub struct Report {
    pub text: String,
    pub json: String,
    pub html: String,
    pub response: metrics_pb::GetPeriodReportResponse,
}

/// Asks for the period report and the breakdowns its charts need.
pub async fn period_report(
    period: talent_proto::talent::r#type::v1::Period,
    cohort_year: i32,
    as_of: Option<talent_proto::google::r#type::Date>,
    addr: &str,
    key: &str,
) -> anyhow::Result<Report> {
    let what = "the metrics service";
    let mut api = statistics(addr, key).await?;
    let response = api
        .get_period_report(GetPeriodReportRequest {
            period: Some(period),
            cohort_year,
            as_of,
            as_known_at: None,
        })
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    // Every table of the report as of the headline's day and as known at
    // its instant, whatever arrives between the calls.
    let requests = report::breakdown_requests(
        &period,
        response.cohort_year,
        response.as_of.or(as_of),
        response.as_known_at,
    );
    let by_district = api
        .get_graduate_outcomes(requests.outcomes_by_district)
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    let by_university = api
        .get_graduate_outcomes(requests.outcomes_by_university)
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    let by_month_tier = api
        .get_talent_gathered(requests.gathered_by_month_tier)
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    let by_industry = api
        .get_recruitment_activity(requests.activity_by_industry)
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    let input = report::ReportInput {
        report: &response,
        outcomes_by_district: Some(&by_district),
        outcomes_by_university: Some(&by_university),
        gathered_by_month_tier: Some(&by_month_tier),
        activity_by_industry: Some(&by_industry),
    };
    Ok(Report {
        text: report::text(&input),
        json: report::json(&input),
        html: report::html(&input),
        response,
    })
}

/// Waits until the recruiting service's relay has delivered everything
/// written before this call, reading its `/health` detail (a backlog of 0
/// measured after the call began); gives up after `limit`.
pub async fn wait_for_relay(prometheus_addr: &str, limit: Duration) -> anyhow::Result<()> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as i64;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(detail) = http_get_json(prometheus_addr, "/health").await
            && detail["relay"]["backlog_rows"].as_u64() == Some(0)
            && detail["relay"]["sampled_at_micros"].as_i64() > Some(since)
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the relay still has events to deliver after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tiny HTTP/1.1 GET of a JSON document (the operator port).
pub async fn http_get_json(addr: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| anyhow!("not an HTTP response"))?;
    Ok(serde_json::from_str(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rates_are_whole_numbers() {
        assert_eq!(whole_rate(1234.56), "1235/s");
        assert_eq!(whole_rate(0.4), "0/s");
        assert_eq!(whole_rate(f64::NAN), "0/s");
        assert_eq!(whole_rate(f64::INFINITY), "0/s");
    }

    #[test]
    fn grace_periods() {
        assert_eq!(parse_grace("0"), Ok(Duration::ZERO));
        assert_eq!(parse_grace("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_grace("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_grace("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_grace("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "1w", "-1h", "1.5h"] {
            assert!(parse_grace(bad).is_err(), "{bad}");
        }
    }
}
