//! Scenario 4: `GetPosting` requests/s at 64 calls in flight, against a
//! tonic echo of the same response size in the same process setup.
//!
//! The recruiting service runs as a child process on a fresh database with
//! a few thousand ~1 KB postings. The echo is this very binary started as a
//! child process with the hidden `--serve-echo` flag: a plain tonic server
//! whose `PostingService.GetPosting` answers a canned `GetPostingResponse`
//! (a real one fetched from the recruiting service, so the encoded size is
//! the same), with no database, no authentication and no middleware. One
//! client (this process) measures both with the same code: `IN_FLIGHT`
//! tasks over one HTTP/2 connection (and, for information, over several),
//! each calling for a random existing posting until a fixed number of
//! calls is done.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Child,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use prost::Message as _;
use talent_proto::talent::recruiting::v1::{
    self as pb, posting_service_client::PostingServiceClient,
    posting_service_server::PostingServiceServer,
};
use tonic::transport::{Channel, Endpoint};

use crate::{
    recruiting::{Recruiting, employer_code, with_key},
    service::Databases,
    table::{Row, Status},
};

/// Calls in flight at once (issue 7).
const IN_FLIGHT: usize = 64;
/// Connections of the informative several-connection figures.
const CONNECTIONS: usize = 4;
const PLATFORM: &str = "bench-unary";
const EMPLOYERS: u64 = 50;
/// Postings per upsert request.
const BATCH: usize = 500;
/// Calls of the warm-up that also estimates the rate.
const WARM_UP_CALLS: usize = 3_000;

/// Throughput and latency of one measured run.
struct Measured {
    calls: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A deterministic pseudo-random sequence (xorshift64*), so that every run
/// asks for the same postings in the same order.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "responsible",
    "for",
    "designing",
    "backend",
    "services",
    "and",
    "data",
    "pipelines",
    "with",
    "the",
    "team",
    "in",
    "Qingdao",
    "maintaining",
    "quality",
    "reviews",
    "customers",
    "production",
    "experience",
    "preferred",
    "负责",
    "系统",
    "开发",
    "维护",
    "团队",
];

/// Posting `n`: a title, a ~700-byte description and five tags, about
/// 1 KB once encoded with its name, codes and times.
fn posting(n: usize, publish: prost_types::Timestamp) -> pb::Posting {
    let mut rng = Rng::new(n as u64 + 1);
    let mut description = String::new();
    while description.len() < 700 {
        if !description.is_empty() {
            description.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        description.push_str(WORDS[rng.below(WORDS.len())]);
    }
    pb::Posting {
        external_id: format!("job-{n:06}"),
        title: format!("软件开发工程师 (backend, team {})", n % 97),
        description,
        employer_credit_code: employer_code(n as u64 % EMPLOYERS),
        workplace_district: "370202".into(),
        industry: "I64".into(),
        occupation_code: "2-02-10-03".into(),
        experience_years: (n % 6) as i32,
        salary: Some(pb::MonthlySalaryRange {
            min_cny: 8_000 + (n % 10) as i32 * 500,
            max_cny: 15_000 + (n % 10) as i32 * 500,
        }),
        headcount: 1 + (n % 5) as i32,
        publish_time: Some(publish),
        tags: ["rust", "postgresql", "grpc", "linux", "full-time"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect(),
        ..Default::default()
    }
}

/// Pushes `count` postings through `BatchUpsertPostings`.
async fn push_postings(service: &Recruiting, key: &str, count: usize) -> anyhow::Result<()> {
    let mut client = PostingServiceClient::new(service.channel.clone());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let publish = prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs())? - 86_400,
        nanos: 0,
    };
    let all: Vec<usize> = (0..count).collect();
    for chunk in all.chunks(BATCH) {
        let postings = chunk.iter().map(|&n| posting(n, publish)).collect();
        let r = client
            .batch_upsert_postings(with_key(pb::BatchUpsertPostingsRequest { postings }, key))
            .await
            .context("BatchUpsertPostings")?
            .into_inner();
        if let Some(bad) = r.results.iter().find(|r| r.error.is_some()) {
            bail!("a posting was rejected: {bad:?}");
        }
    }
    Ok(())
}

fn posting_name(n: usize) -> String {
    format!("platforms/{PLATFORM}/postings/job-{n:06}")
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// `calls` GetPosting calls for random postings of `0..postings`, with
/// `IN_FLIGHT` tasks spread over `channels`. Any failed call fails the run.
async fn measure(
    channels: &[Channel],
    key: &str,
    postings: usize,
    calls: usize,
) -> anyhow::Result<Measured> {
    let next = Arc::new(AtomicUsize::new(0));
    let names: Arc<[String]> = (0..postings).map(posting_name).collect();
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..IN_FLIGHT {
        let mut client = PostingServiceClient::new(channels[task % channels.len()].clone());
        let (next, names, key) = (next.clone(), names.clone(), key.to_owned());
        tasks.spawn(async move {
            let mut rng = Rng::new(task as u64 + 1000);
            let mut times = Vec::with_capacity(calls / IN_FLIGHT + 1);
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                let name = names[rng.below(names.len())].clone();
                let request = with_key(pb::GetPostingRequest { name }, &key);
                let t = Instant::now();
                let response = client.get_posting(request).await?.into_inner();
                times.push(t.elapsed());
                if response.posting.is_none() {
                    bail!("GetPosting answered without a posting");
                }
            }
            anyhow::Ok(times)
        });
    }
    let mut times = Vec::with_capacity(calls);
    while let Some(joined) = tasks.join_next().await {
        times.extend(joined.context("a client task panicked")??);
    }
    let elapsed = began.elapsed().as_secs_f64();
    times.sort();
    Ok(Measured {
        calls: times.len(),
        rps: times.len() as f64 / elapsed,
        p50_ms: percentile_ms(&times, 0.5),
        p99_ms: percentile_ms(&times, 0.99),
    })
}

/// A warm-up (which also opens the connections' windows and fills the
/// service's caches), then a run sized to last about `seconds`.
async fn warm_and_measure(
    channels: &[Channel],
    key: &str,
    postings: usize,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let warm = measure(channels, key, postings, WARM_UP_CALLS).await?;
    let calls = ((warm.rps * seconds) as usize).clamp(WARM_UP_CALLS, 2_000_000);
    measure(channels, key, postings, calls).await
}

async fn connect(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        );
    }
    Ok(channels)
}

/// The echo server, a child process of this binary.
struct Echo {
    child: Child,
    addr: SocketAddr,
}

impl Echo {
    async fn start(response_file: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("--serve-echo")
            .arg(addr.to_string())
            .arg("--echo-response")
            .arg(response_file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting the echo server")?;
        let mut echo = Self { child, addr };
        for _ in 0..300 {
            if Endpoint::from_shared(format!("http://{addr}"))?
                .connect()
                .await
                .is_ok()
            {
                return Ok(echo);
            }
            if let Some(status) = echo.child.try_wait()? {
                bail!("the echo server exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        echo.stop();
        bail!("the echo server did not accept connections within 30 s")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The hidden `--serve-echo ADDR --echo-response FILE` mode: serves
/// `PostingService` on `addr`, `GetPosting` answering the encoded
/// `GetPostingResponse` in `file` (the other methods answer UNIMPLEMENTED).
pub async fn serve_echo(addr: SocketAddr, file: PathBuf) -> anyhow::Result<()> {
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let response = pb::GetPostingResponse::decode(bytes.as_slice())
        .context("the echo response is not a GetPostingResponse")?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // As the services do: small messages must not wait for Nagle.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |stream| {
            stream.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    );
    tonic::transport::Server::builder()
        .add_service(PostingServiceServer::new(EchoPostings(Arc::new(response))))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

struct EchoPostings(Arc<pb::GetPostingResponse>);

#[tonic::async_trait]
impl pb::posting_service_server::PostingService for EchoPostings {
    async fn get_posting(
        &self,
        _request: tonic::Request<pb::GetPostingRequest>,
    ) -> Result<tonic::Response<pb::GetPostingResponse>, tonic::Status> {
        Ok(tonic::Response::new((*self.0).clone()))
    }
}

fn rps_row(figure: String, m: &Measured, echo: &Measured, target: &str, status: Status) -> Row {
    Row {
        scenario: 4,
        figure,
        unit: "req/s".into(),
        value: Some(m.rps),
        baseline: Some(echo.rps),
        ratio: Some(m.rps / echo.rps),
        target: target.into(),
        status,
        note: format!(
            "{} calls; baseline: tonic echo, {} calls, same response size",
            m.calls, echo.calls
        ),
    }
}

fn latency_row(figure: String, value: f64, echo: f64) -> Row {
    Row {
        scenario: 4,
        figure,
        unit: "ms".into(),
        value: Some(value),
        baseline: Some(echo),
        ratio: Some(echo / value),
        target: "-".into(),
        status: Status::Info,
        note: "baseline: the same percentile of the tonic echo".into(),
    }
}

/// Scenario 4.
pub async fn run(dbs: &mut Databases, quick: bool) -> anyhow::Result<Vec<Row>> {
    let postings = if quick { 1_000 } else { 5_000 };
    let seconds = if quick { 2.0 } else { 10.0 };
    let url = dbs.create("unary").await?;
    let service = Recruiting::start(&url, None, &[]).await?;
    let result = measure_both(&service, postings, seconds).await;
    let stopped = service.stop().await;
    let rows = result?;
    stopped?;
    Ok(rows)
}

async fn measure_both(
    service: &Recruiting,
    postings: usize,
    seconds: f64,
) -> anyhow::Result<Vec<Row>> {
    let key = service.platform(PLATFORM).await?;
    service.employers(&key, EMPLOYERS).await?;
    let t = Instant::now();
    push_postings(service, &key, postings).await?;
    eprintln!(
        "bench: scenario 4: {postings} postings pushed in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The echo answers what the service answers for a posting.
    let sample = PostingServiceClient::new(service.channel.clone())
        .get_posting(with_key(
            pb::GetPostingRequest {
                name: posting_name(0),
            },
            &key,
        ))
        .await
        .context("GetPosting")?
        .into_inner();
    let encoded = sample.encode_to_vec();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("get_posting_response.bin");
    std::fs::write(&file, &encoded)?;
    let mut echo = Echo::start(&file).await?;

    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for connections in [1, CONNECTIONS] {
        let echo_channels = connect(echo.addr, connections).await?;
        let echoed = warm_and_measure(&echo_channels, &key, postings, seconds).await?;
        drop(echo_channels);
        let channels = connect(service.addr, connections).await?;
        let served = warm_and_measure(&channels, &key, postings, seconds).await?;
        drop(channels);
        eprintln!(
            "bench: scenario 4, {connections} connection(s): echo {:.0} req/s, GetPosting {:.0} req/s",
            echoed.rps, served.rps
        );
        figures.push((connections, echoed, served));
    }
    echo.stop();

    let size = encoded.len();
    for (connections, echoed, served) in &figures {
        let conn = if *connections == 1 {
            "1 connection".to_owned()
        } else {
            format!("{connections} connections")
        };
        rows.push(Row {
            scenario: 4,
            figure: format!(
                "tonic echo requests/s ({size}-byte GetPostingResponse), {IN_FLIGHT} in flight, {conn}"
            ),
            unit: "req/s".into(),
            value: Some(echoed.rps),
            baseline: None,
            ratio: None,
            target: "-".into(),
            status: Status::Info,
            note: format!(
                "{} calls; echo: this binary as a child process, plain tonic, no database",
                echoed.calls
            ),
        });
        if *connections == 1 {
            let pass = served.rps >= 0.5 * echoed.rps;
            rows.push(rps_row(
                format!("GetPosting requests/s at {IN_FLIGHT} in flight, {conn}"),
                served,
                echoed,
                "≥ 0.5 × tonic echo",
                if pass { Status::Pass } else { Status::Fail },
            ));
        } else {
            rows.push(rps_row(
                format!("GetPosting requests/s at {IN_FLIGHT} in flight, {conn}"),
                served,
                echoed,
                "-",
                Status::Info,
            ));
        }
        rows.push(latency_row(
            format!("GetPosting latency p50 at {IN_FLIGHT} in flight, {conn}"),
            served.p50_ms,
            echoed.p50_ms,
        ));
        rows.push(latency_row(
            format!("GetPosting latency p99 at {IN_FLIGHT} in flight, {conn}"),
            served.p99_ms,
            echoed.p99_ms,
        ));
    }
    Ok(rows)
}
