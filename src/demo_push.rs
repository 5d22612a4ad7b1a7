//! Pushes a generated demo city through the public APIs, exactly as the
//! platforms, the universities and the bureau would: platform keys from the
//! recruiting AdminService, records over the platforms' streams and calls,
//! the roster with an INGEST key.

use std::{collections::BTreeMap, time::Duration};

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
    demo::DemoCity,
};

/// Unary calls in flight at once.
const CONCURRENCY: usize = 32;
/// Items per stream message.
const BATCH: usize = 500;

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

fn step(what: &str, n: usize) {
    eprintln!("  {what:<28} {n:>9}");
}

/// Pushes everything in `city`, in the order a half-year would have it.
pub async fn push_city(city: &DemoCity, target: &Target<'_>) -> anyhow::Result<Pushed> {
    let recruiting = |key: String| async move {
        client::connect_with_key(target.recruiting_addr, "the recruiting service", &key).await
    };
    let mut pushed = Pushed::default();

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
    step("platforms", keys.len());
    let channel_of = |platform: &str| -> anyhow::Result<String> {
        keys.get(platform)
            .cloned()
            .ok_or_else(|| anyhow!("no key for platform {platform}"))
    };

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
    step("employers", city.employers.len());

    // Fairs and their participations.
    for fair in &city.fairs {
        let mut api = FairServiceClient::new(recruiting(channel_of(&fair.platform)?).await?);
        api.create_fair(fair.request.clone())
            .await
            .map_err(|s| client::explain(&s, "fairs"))?;
        for request in fair.participation_requests() {
            api.register_participation(request)
                .await
                .map_err(|s| client::explain(&s, "fair participations"))?;
        }
        pushed.calls += 1 + fair.participants.len() as u64;
    }
    step("fairs", city.fairs.len());

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
    step("postings", city.postings.len());
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
    step("résumés", city.resumes.len());

    // Applications through their pipeline, many at once.
    let mut channels = BTreeMap::new();
    for id in keys.keys() {
        channels.insert(id.clone(), recruiting(channel_of(id)?).await?);
    }
    let channels = &channels;
    let results: Vec<u64> = futures::stream::iter(&city.applications)
        .map(|a| async move {
            let channel = channels[&a.platform].clone();
            let mut api = ApplicationServiceClient::new(channel.clone());
            let mut application = api
                .create_application(a.request.clone())
                .await
                .map_err(|s| client::explain(&s, "applications"))?
                .into_inner()
                .application
                .ok_or_else(|| anyhow!("no application in the answer"))?;
            for m in &a.moves {
                let mut m = m.clone();
                m.name = application.name.clone();
                application = api
                    .update_application_status(m)
                    .await
                    .map_err(|s| client::explain(&s, "application moves"))?
                    .into_inner()
                    .application
                    .ok_or_else(|| anyhow!("no application in the answer"))?;
            }
            if let (Some(end), false) = (a.hire_end_date, application.employment.is_empty()) {
                separate(channel, &application.employment, end).await?;
            }
            anyhow::Ok(1 + a.moves.len() as u64)
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    pushed.calls += results.iter().sum::<u64>();
    step("applications", city.applications.len());

    // Hires that platforms report directly, and their separations.
    let results: Vec<u64> = futures::stream::iter(&city.hires)
        .map(|h| async move {
            let channel = channels[&h.platform].clone();
            let employment = EmploymentServiceClient::new(channel.clone())
                .record_hire(h.request.clone())
                .await
                .map_err(|s| client::explain(&s, "hires"))?
                .into_inner()
                .employment
                .ok_or_else(|| anyhow!("no employment in the answer"))?;
            if let Some(end) = h.end_date {
                separate(channel, &employment.name, end).await?;
            }
            anyhow::Ok(1)
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    pushed.calls += results.iter().sum::<u64>();
    step("hires", city.hires.len());

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
    step("postings closed", closes.len());

    // The universities' roster.
    let (_, ingest) = commands::issue_metrics_key(
        target.metrics_addr,
        target.metrics_admin_key,
        KeyKind::Ingest,
        "demo universities",
        mpb::Protection::Unspecified,
    )
    .await?;
    let channel =
        client::connect_with_key(target.metrics_addr, "the metrics service", &ingest).await?;
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
    step("graduates on the roster", city.roster.len());
    Ok(pushed)
}

async fn separate(
    channel: Authed,
    employment: &str,
    end: talent_proto::google::r#type::Date,
) -> anyhow::Result<()> {
    EmploymentServiceClient::new(channel)
        .record_separation(rpb::RecordSeparationRequest {
            name: employment.to_owned(),
            end_date: Some(end),
        })
        .await
        .map_err(|s| client::explain(&s, "separations"))?;
    Ok(())
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
