//! Pushes a generated demo city through the public APIs, exactly as the
//! platforms, the universities and the bureau would: platform keys from the
//! recruiting AdminService, records over the platforms' streams and calls,
//! the roster with a ROSTER key.

use std::{collections::BTreeMap, io::IsTerminal, time::Duration};

use anyhow::{Context, anyhow};
use futures::{StreamExt, TryStreamExt};
use talent_proto::talent::{
    metrics::v1::{self as mpb, KeyKind},
    recruiting::v1::{
        self as rpb, application_service_client::ApplicationServiceClient,
        employer_service_client::EmployerServiceClient,
        employment_service_client::EmploymentServiceClient, fair_service_client::FairServiceClient,
        posting_service_client::PostingServiceClient, resume_service_client::ResumeServiceClient,
    },
};
use tokio_stream::wrappers::ReceiverStream;

use crate::{
    client::{self, Authed},
    commands,
    demo::{DemoApplication, DemoCity, DemoFair, DemoHire},
};

/// Unary calls in flight at once.
const CONCURRENCY: usize = 32;
/// Batch calls in flight at once: enough to keep the service busy while
/// the demo prepares the next ones.
const CLIENTS: usize = 4;
/// Items per stream message or batch call.
const BATCH: usize = 500;
/// Applications per batch, so that their moves fit in one or two calls.
const APPLICATIONS_PER_BATCH: usize = 250;

/// Where to push, and with which admin keys.
pub struct Target<'a> {
    pub recruiting_addr: &'a str,
    pub metrics_addr: &'a str,
    pub recruiting_admin_key: &'a str,
    pub metrics_admin_key: &'a str,
}

/// How much was pushed.
#[derive(Debug, Default)]
pub struct Pushed {
    pub calls: u64,
    pub rejected: u64,
}

impl Pushed {
    fn merge(&mut self, other: Pushed) {
        self.calls += other.calls;
        self.rejected += other.rejected;
    }

    fn add(&mut self, others: Vec<Pushed>) {
        for other in others {
            self.merge(other);
        }
    }
}

/// A progress bar for one kind of fact, shown when standard error is a
/// terminal.
fn progress_of(total: usize, what: &str) -> indicatif::ProgressBar {
    commands::bar_if(std::io::stderr().is_terminal(), total, what)
}

/// Prints each kind of fact as it is done, with the time it took (where
/// the demo's time goes, at a glance).
struct Steps(std::time::Instant);

impl Steps {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    fn done(&mut self, what: &str, n: usize) {
        let took = self.0.elapsed().as_secs_f64();
        eprintln!("  {what:<28} {n:>9}  {took:>6.1} s");
        self.0 = std::time::Instant::now();
    }
}

/// Pushes everything in `city`, in the order a half-year would have it.
pub async fn push_city(city: &DemoCity, target: &Target<'_>) -> anyhow::Result<Pushed> {
    let recruiting = |key: String| async move {
        client::connect_with_key(target.recruiting_addr, "the recruiting service", &key).await
    };
    let mut pushed = Pushed::default();
    let mut steps = Steps::start();

    let mut keys = BTreeMap::new();
    for request in &city.platforms {
        let (id, key) = commands::add_platform(
            target.recruiting_addr,
            target.recruiting_admin_key,
            &request.platform_id,
            request
                .platform
                .as_ref()
                .map_or(request.platform_id.as_str(), |p| p.display_name.as_str()),
        )
        .await?;
        keys.insert(id, key);
    }
    steps.done("platforms", keys.len());
    let channel_of = |platform: &str| -> anyhow::Result<String> {
        keys.get(platform)
            .cloned()
            .ok_or_else(|| anyhow!("no key for platform {platform}"))
    };

    // The universities' roster first: metrics then counts each graduate's
    // hire as it arrives, beside recruiting's work, instead of revisiting
    // every graduate at the end.
    let (_, roster_key) = commands::issue_metrics_key(
        target.metrics_addr,
        target.metrics_admin_key,
        KeyKind::Roster,
        "demo universities",
        mpb::Protection::Unspecified,
    )
    .await?;
    let channel =
        client::connect_with_key(target.metrics_addr, "the metrics service", &roster_key).await?;
    let requests: Vec<mpb::ImportGraduateRosterRequest> = city
        .roster
        .chunks(1000)
        .map(|rows| mpb::ImportGraduateRosterRequest {
            rows: rows.to_vec(),
        })
        .collect();
    let response = mpb::ingest_service_client::IngestServiceClient::new(channel)
        .import_graduate_roster(tokio_stream::iter(requests))
        .await
        .map_err(|s| client::explain(&s, "the roster"))?
        .into_inner();
    pushed.rejected += response.rejected_count as u64;
    steps.done("graduates on the roster", city.roster.len());

    // Employers, per platform, in batches.
    let mut by_platform: BTreeMap<&str, Vec<rpb::Employer>> = BTreeMap::new();
    for e in &city.employers {
        by_platform
            .entry(&e.platform)
            .or_default()
            .push(e.item.clone());
    }
    for (platform, employers) in by_platform {
        let mut api = EmployerServiceClient::new(recruiting(channel_of(platform)?).await?);
        for chunk in employers.chunks(BATCH) {
            let results = api
                .batch_upsert_employers(rpb::BatchUpsertEmployersRequest {
                    employers: chunk.to_vec(),
                })
                .await
                .map_err(|s| client::explain(&s, "employers"))?
                .into_inner()
                .results;
            pushed.rejected += results.iter().filter(|r| r.error.is_some()).count() as u64;
            pushed.calls += 1;
        }
    }
    steps.done("employers", city.employers.len());

    // Fairs and their participations, in batches per platform.
    let mut fairs: BTreeMap<&str, Vec<&DemoFair>> = BTreeMap::new();
    for fair in &city.fairs {
        fairs.entry(&fair.platform).or_default().push(fair);
    }
    for (platform, fairs) in fairs {
        let mut api = FairServiceClient::new(recruiting(channel_of(platform)?).await?);
        for chunk in fairs.chunks(BATCH) {
            let results = api
                .batch_create_fairs(rpb::BatchCreateFairsRequest {
                    parent: String::new(),
                    requests: chunk.iter().map(|f| f.request.clone()).collect(),
                })
                .await
                .map_err(|s| client::explain(&s, "fairs"))?
                .into_inner()
                .results;
            pushed.calls += 1;
            pushed.rejected += results.iter().filter(|r| r.error.is_some()).count() as u64;
        }
        let participations: Vec<_> = fairs
            .iter()
            .flat_map(|f| f.participation_requests())
            .collect();
        for chunk in participations.chunks(BATCH) {
            let results = api
                .batch_register_participations(rpb::BatchRegisterParticipationsRequest {
                    requests: chunk.to_vec(),
                })
                .await
                .map_err(|s| client::explain(&s, "fair participations"))?
                .into_inner()
                .results;
            pushed.calls += 1;
            pushed.rejected += results.iter().filter(|r| r.error.is_some()).count() as u64;
        }
    }
    steps.done("fairs", city.fairs.len());

    // Postings and résumés over the platforms' streams.
    let mut postings: BTreeMap<&str, Vec<rpb::Posting>> = BTreeMap::new();
    for p in &city.postings {
        postings
            .entry(&p.platform)
            .or_default()
            .push(p.posting.clone());
    }
    for (platform, items) in postings {
        let api = PostingServiceClient::new(recruiting(channel_of(platform)?).await?);
        pushed.rejected +=
            stream(
                items,
                |postings| rpb::UpsertPostingsRequest { postings },
                |rx| {
                    let mut api = api.clone();
                    async move {
                        let responses = api.upsert_postings(rx).await?.into_inner();
                        Ok(responses
                            .map_ok(|m| m.results.iter().filter(|r| r.error.is_some()).count()))
                    }
                },
            )
            .await
            .context("pushing postings")?;
    }
    steps.done("postings", city.postings.len());
    let mut resumes: BTreeMap<&str, Vec<rpb::Resume>> = BTreeMap::new();
    for r in &city.resumes {
        resumes.entry(&r.platform).or_default().push(r.item.clone());
    }
    for (platform, items) in resumes {
        let api = ResumeServiceClient::new(recruiting(channel_of(platform)?).await?);
        pushed.rejected +=
            stream(
                items,
                |resumes| rpb::UpsertResumesRequest { resumes },
                |rx| {
                    let mut api = api.clone();
                    async move {
                        let responses = api.upsert_resumes(rx).await?.into_inner();
                        Ok(responses
                            .map_ok(|m| m.results.iter().filter(|r| r.error.is_some()).count()))
                    }
                },
            )
            .await
            .context("pushing résumés")?;
    }
    steps.done("résumés", city.resumes.len());

    // Applications through their pipeline, in batches, a few at once: each
    // batch is created, then moved along (every move of an application in
    // request order), then the hires it led to that ended are separated.
    let mut channels = BTreeMap::new();
    for id in keys.keys() {
        channels.insert(id.clone(), recruiting(channel_of(id)?).await?);
    }
    let channels = &channels;
    let bar = progress_of(city.applications.len(), "applications");
    let mut by_platform: BTreeMap<&str, Vec<&DemoApplication>> = BTreeMap::new();
    for a in &city.applications {
        by_platform.entry(&a.platform).or_default().push(a);
    }
    let batches: Vec<(&str, &[&DemoApplication])> = by_platform
        .iter()
        .flat_map(|(platform, apps)| apps.chunks(APPLICATIONS_PER_BATCH).map(|c| (*platform, c)))
        .collect();
    let results: Vec<Pushed> = futures::stream::iter(batches)
        .map(|(platform, apps)| {
            let bar = &bar;
            async move {
                let pushed = push_applications(channels[platform].clone(), apps).await?;
                bar.inc(apps.len() as u64);
                anyhow::Ok(pushed)
            }
        })
        .buffer_unordered(CLIENTS)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    pushed.add(results);
    steps.done("applications", city.applications.len());

    // Hires that platforms report directly, and their separations.
    let bar = progress_of(city.hires.len(), "hires");
    let mut by_platform: BTreeMap<&str, Vec<&DemoHire>> = BTreeMap::new();
    for h in &city.hires {
        by_platform.entry(&h.platform).or_default().push(h);
    }
    let batches: Vec<(&str, &[&DemoHire])> = by_platform
        .iter()
        .flat_map(|(platform, hires)| hires.chunks(BATCH).map(|c| (*platform, c)))
        .collect();
    let results: Vec<Pushed> = futures::stream::iter(batches)
        .map(|(platform, hires)| {
            let bar = &bar;
            async move {
                let pushed = push_hires(channels[platform].clone(), hires).await?;
                bar.inc(hires.len() as u64);
                anyhow::Ok(pushed)
            }
        })
        .buffer_unordered(CLIENTS)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    pushed.add(results);
    steps.done("hires", city.hires.len());

    // Postings the platforms close before they expire.
    let closes: Vec<_> = city
        .postings
        .iter()
        .filter_map(|p| p.close_time.map(|t| (p, t)))
        .collect();
    futures::stream::iter(&closes)
        .map(|(p, t)| async move {
            PostingServiceClient::new(channels[&p.platform].clone())
                .close_posting(rpb::ClosePostingRequest {
                    name: p.name(),
                    close_time: Some(*t),
                })
                .await
                .map_err(|s| client::explain(&s, "closing postings"))?;
            anyhow::Ok(())
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    steps.done("postings closed", closes.len());

    Ok(pushed)
}

/// Creates one batch of applications of a platform, moves them along and
/// separates the hires they led to that ended.
async fn push_applications(channel: Authed, apps: &[&DemoApplication]) -> anyhow::Result<Pushed> {
    let mut api = ApplicationServiceClient::new(channel.clone());
    let mut pushed = Pushed::default();
    let created = api
        .batch_create_applications(rpb::BatchCreateApplicationsRequest {
            parent: String::new(),
            requests: apps.iter().map(|a| a.request.clone()).collect(),
        })
        .await
        .map_err(|s| client::explain(&s, "applications"))?
        .into_inner()
        .results;
    pushed.calls += 1;
    pushed.rejected += created.iter().filter(|r| r.error.is_some()).count() as u64;
    // Each application's moves, in order, named by the application created.
    let mut moves = Vec::new();
    let mut mover = Vec::new();
    for (a, result) in apps.iter().zip(&created) {
        let Some(application) = &result.application else {
            continue;
        };
        for m in &a.moves {
            let mut m = m.clone();
            m.name = application.name.clone();
            moves.push(m);
            mover.push(*a);
        }
    }
    let mut separations = Vec::new();
    for (chunk, movers) in moves.chunks(BATCH).zip(mover.chunks(BATCH)) {
        let results = api
            .batch_update_application_status(rpb::BatchUpdateApplicationStatusRequest {
                requests: chunk.to_vec(),
            })
            .await
            .map_err(|s| client::explain(&s, "application moves"))?
            .into_inner()
            .results;
        pushed.calls += 1;
        pushed.rejected += results.iter().filter(|r| r.error.is_some()).count() as u64;
        for (result, a) in results.iter().zip(movers) {
            let employment = result
                .application
                .as_ref()
                .map(|a| a.employment.clone())
                .unwrap_or_default();
            if let (Some(end), false) = (a.hire_end_date, employment.is_empty()) {
                separations.push(separation(employment, end));
            }
        }
    }
    pushed.merge(separate(channel, separations).await?);
    Ok(pushed)
}

/// Records one batch of hires of a platform, and separates those that
/// ended.
async fn push_hires(channel: Authed, hires: &[&DemoHire]) -> anyhow::Result<Pushed> {
    let results = EmploymentServiceClient::new(channel.clone())
        .batch_record_hires(rpb::BatchRecordHiresRequest {
            parent: String::new(),
            requests: hires.iter().map(|h| h.request.clone()).collect(),
        })
        .await
        .map_err(|s| client::explain(&s, "hires"))?
        .into_inner()
        .results;
    let mut pushed = Pushed {
        calls: 1,
        rejected: results.iter().filter(|r| r.error.is_some()).count() as u64,
    };
    let separations = hires
        .iter()
        .zip(&results)
        .filter_map(|(h, r)| Some(separation(r.employment.as_ref()?.name.clone(), h.end_date?)))
        .collect();
    pushed.merge(separate(channel, separations).await?);
    Ok(pushed)
}

fn separation(
    employment: String,
    end: talent_proto::google::r#type::Date,
) -> rpb::RecordSeparationRequest {
    rpb::RecordSeparationRequest {
        name: employment,
        end_date: Some(end),
    }
}

/// Records separations in batches.
async fn separate(
    channel: Authed,
    separations: Vec<rpb::RecordSeparationRequest>,
) -> anyhow::Result<Pushed> {
    let mut api = EmploymentServiceClient::new(channel);
    let mut pushed = Pushed::default();
    for chunk in separations.chunks(BATCH) {
        let results = api
            .batch_record_separations(rpb::BatchRecordSeparationsRequest {
                requests: chunk.to_vec(),
            })
            .await
            .map_err(|s| client::explain(&s, "separations"))?
            .into_inner()
            .results;
        pushed.calls += 1;
        pushed.rejected += results.iter().filter(|r| r.error.is_some()).count() as u64;
    }
    Ok(pushed)
}

/// Sends `items` over a bidirectional stream in batches; returns the number
/// of items the service rejected.
async fn stream<T, Req, Open, Fut, S>(
    items: Vec<T>,
    make: impl Fn(Vec<T>) -> Req,
    open: Open,
) -> anyhow::Result<u64>
where
    T: Clone,
    Req: Send + 'static,
    Open: FnOnce(ReceiverStream<Req>) -> Fut,
    Fut: std::future::Future<Output = Result<S, tonic::Status>>,
    S: futures::Stream<Item = Result<usize, tonic::Status>> + Unpin,
{
    let requests: Vec<Req> = items.chunks(BATCH).map(|c| make(c.to_vec())).collect();
    let expected = requests.len();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sender = tokio::spawn(async move {
        for r in requests {
            if tx.send(r).await.is_err() {
                break;
            }
        }
    });
    let mut responses = open(ReceiverStream::new(rx))
        .await
        .map_err(|s| client::explain(&s, "the recruiting service"))?;
    let mut rejected = 0u64;
    for _ in 0..expected {
        let n = responses
            .next()
            .await
            .ok_or_else(|| anyhow!("the stream ended early"))?
            .map_err(|s| client::explain(&s, "the recruiting service"))?;
        rejected += n as u64;
    }
    sender.abort();
    Ok(rejected)
}

/// Waits for the relay, then asks for the report as the bureau would, with
/// its own READ key (EXACT: the true figures, which the demo city's
/// expected figures check; other holders' keys see perturbed counts of
/// persons).
pub async fn demo_report(
    city: &DemoCity,
    target: &Target<'_>,
    recruiting_prometheus: &str,
) -> anyhow::Result<commands::Report> {
    commands::wait_for_relay(recruiting_prometheus, Duration::from_secs(1800)).await?;
    let (_, key) = commands::issue_metrics_key(
        target.metrics_addr,
        target.metrics_admin_key,
        KeyKind::Read,
        "demo bureau",
        mpb::Protection::Exact,
    )
    .await?;
    let period = talent_proto::talent::r#type::v1::Period {
        start_date: Some(city.period_start),
        end_date: Some(city.period_end),
    };
    commands::period_report(
        period,
        city.cohort_year,
        Some(city.as_of),
        target.metrics_addr,
        &key,
    )
    .await
}
