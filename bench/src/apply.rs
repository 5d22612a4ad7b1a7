//! Scenario 3, the metrics half: how many events per second `PublishEvents`
//! applies, with no recruiting service and no relay in front of it. One
//! stream (as the relay uses) sends hires and separations of distinct
//! synthetic persons (`data::person`) in messages of 1,000; the clock runs
//! from the call until the last ack, and every ack must say APPLIED.

use std::time::Instant;

use anyhow::{Context, bail};
use talent_proto::talent::events::v1::{self as ev, event::Payload};
use talent_proto::talent::metrics::v1::{self as pb, ingest_service_client::IngestServiceClient};

use crate::data;
use crate::service::{Databases, Service};
use crate::table::{Row, Status};

/// Events per request message (the service's maximum).
const PER_MESSAGE: usize = 1_000;

/// Hire and separation events of persons 0, 1, … until `n` events, each
/// person's events next to each other (as recruiting writes them).
fn events(n: usize) -> Vec<ev::Event> {
    let mut out = Vec::with_capacity(n + 3);
    let mut seq = 0_u64;
    let mut event = |platform: &str, recorded: i64, payload: Payload| {
        seq += 1;
        let at = talent_codes::timestamp_of_micros(recorded);
        ev::Event {
            event_id: format!("00000000-0000-4000-8000-{seq:012x}"),
            source: "bench-apply".into(),
            sequence: seq,
            occurred_at: Some(at),
            recorded_at: Some(at),
            platform_id: platform.into(),
            traceparent: String::new(),
            payload: Some(payload),
        }
    };
    let mut i = 0_u64;
    while out.len() < n {
        let p = data::person(i);
        crate::service::employment_events(
            &p,
            &crate::recruiting::employer_code(i % 1000),
            &mut event,
            &mut out,
        );
        i += 1;
    }
    out.truncate(n);
    out
}

/// Runs the scenario on a fresh database: one INFO row.
pub async fn run(dbs: &mut Databases, quick: bool) -> anyhow::Result<Vec<Row>> {
    let n = if quick { 5_000 } else { 200_000 };
    let events = events(n);
    let url = dbs.create("apply").await?;
    let service = Service::start(&url).await?;
    let key = service.issue(pb::KeyKind::Relay).await?;
    let requests: Vec<pb::PublishEventsRequest> = events
        .chunks(PER_MESSAGE)
        .map(|c| pb::PublishEventsRequest { events: c.to_vec() })
        .collect();
    let messages = requests.len();
    let mut client = IngestServiceClient::new(service.channel());
    let began = Instant::now();
    let mut responses = client
        .publish_events(crate::service::with_key(tokio_stream::iter(requests), &key))
        .await
        .context("PublishEvents")?
        .into_inner();
    let mut acked = 0;
    for _ in 0..messages {
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
        acked += r.acks.len();
    }
    let seconds = began.elapsed().as_secs_f64();
    if acked != n {
        bail!("{acked} acks for {n} events");
    }
    let rss = service.rss_note();
    service.stop().await?;
    Ok(vec![Row {
        scenario: 3,
        figure: "metrics alone: PublishEvents events applied/s".into(),
        unit: "events/s".into(),
        value: Some(n as f64 / seconds),
        baseline: None,
        ratio: None,
        target: "(≥ 20,000 events/s end to end)".into(),
        status: Status::Info,
        note: format!(
            "{n} hire/separation events of distinct persons, {messages} messages of \
             {PER_MESSAGE} on one stream, {seconds:.1} s to the last ack; the service: {rss}"
        ),
    }])
}
