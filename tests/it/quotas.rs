//! Quotas per key: one key at its caps or its rate is refused
//! `RESOURCE_EXHAUSTED` with `QuotaFailure` and `RetryInfo`, while another
//! key's calls, at the same time, succeed.

use std::time::Duration;

use talent_proto::talent::{metrics::v1 as mpb, recruiting::v1 as pb};
use talent_server::quota::QuotaSettings;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::support::{
    Options, TestApp,
    metrics::{self as m, Metrics, with_key},
    recruiting::{TestPlatform, authed, credit_code, employer, posting},
};

async fn spawn(quotas: QuotaSettings) -> TestApp {
    TestApp::spawn_with(Options {
        quotas: Some(quotas),
        ..Default::default()
    })
    .await
}

/// The quota violation of a refusal: its subject and description, and the
/// retry delay it suggests.
fn quota_refusal(status: &Status) -> (String, String, Duration) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let failure = status.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(failure.violations.len(), 1, "{failure:?}");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    let violation = &failure.violations[0];
    (
        violation.subject.clone(),
        violation.description.clone(),
        retry.retry_delay.expect("a retry delay"),
    )
}

/// An `UpsertPostings` stream of `platform`, open (its response headers
/// came, so the server admitted it), and the sender of its messages.
async fn open_upsert(
    app: &TestApp,
    platform: &TestPlatform,
) -> Result<
    (
        mpsc::Sender<pb::UpsertPostingsRequest>,
        Streaming<pb::UpsertPostingsResponse>,
    ),
    Status,
> {
    let (messages, inbound) = mpsc::channel(4);
    let answers =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await)
            .upsert_postings(authed(ReceiverStream::new(inbound), &platform.key))
            .await?
            .into_inner();
    Ok((messages, answers))
}

#[tokio::test]
async fn a_platform_holding_its_stream_cap_is_refused_one_more_while_another_platform_is_served() {
    let app = spawn(QuotaSettings {
        max_calls: 8,
        max_streams: 2,
        items_per_sec: 1000,
        burst: 1000,
    })
    .await;
    let p1 = app.create_platform("p1").await;
    let p2 = app.create_platform("p2").await;
    let code = credit_code("91110000MA01ABCD0");
    app.push_employers(&p1, vec![employer(&code, "Acme", "110101", "I")])
        .await;

    // p1 holds both its streams.
    let (first, mut first_answers) = open_upsert(&app, &p1).await.expect("stream 1 of 2");
    let (_second, _second_answers) = open_upsert(&app, &p1).await.expect("stream 2 of 2");
    let refused = open_upsert(&app, &p1).await.expect_err("a third stream");
    let (subject, description, retry) = quota_refusal(&refused);
    assert_eq!(subject, "platforms/p1");
    assert_eq!(description, "open streams per key: at most 2");
    assert!(retry > Duration::ZERO, "{retry:?}");
    assert!(
        !format!("{refused:?}").contains(&p1.key),
        "the secret is never named"
    );

    // Meanwhile p2's unary and streaming calls succeed.
    let results = app
        .push_employers(&p2, vec![employer(&code, "Acme", "110101", "I")])
        .await;
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    let (p2_messages, mut p2_answers) = open_upsert(&app, &p2).await.expect("p2's stream opens");
    p2_messages
        .send(pb::UpsertPostingsRequest {
            postings: vec![posting("p2-job", "Welder", &code)],
        })
        .await
        .unwrap();
    let answer = p2_answers.message().await.unwrap().expect("an answer");
    assert_eq!(answer.results.len(), 1);
    assert!(answer.results[0].error.is_none(), "{answer:?}");
    // p1's open streams still work too.
    first
        .send(pb::UpsertPostingsRequest {
            postings: vec![posting("p1-job", "Welder", &code)],
        })
        .await
        .unwrap();
    let answer = first_answers.message().await.unwrap().expect("an answer");
    assert!(answer.results[0].error.is_none(), "{answer:?}");

    // Ending one of p1's streams frees its slot: the stream's end (its
    // trailers) comes after the slot is released.
    drop(first);
    assert!(first_answers.message().await.unwrap().is_none());
    let (_third, _third_answers) = open_upsert(&app, &p1)
        .await
        .expect("a stream in the freed slot");
    app.stop().await;
}

#[tokio::test]
async fn a_platform_over_its_rate_is_refused_with_a_retry_delay_and_another_is_not() {
    let app = spawn(QuotaSettings {
        max_calls: 100,
        max_streams: 16,
        items_per_sec: 1,
        burst: 500,
    })
    .await;
    let p1 = app.create_platform("p1").await;
    let p2 = app.create_platform("p2").await;
    let mut employers = app.recruiting().await.employers;
    let batch = |n: usize| pb::BatchUpsertEmployersRequest {
        employers: (0..n)
            .map(|i| {
                employer(
                    &credit_code(&format!("91110000MA{i:07}")),
                    "Acme",
                    "110101",
                    "I",
                )
            })
            .collect(),
    };

    // More items than the burst could ever cover: the caller's mistake.
    let too_large = employers
        .batch_upsert_employers(authed(batch(501), &p1.key))
        .await
        .expect_err("501 items, a burst of 500");
    assert_eq!(too_large.code(), Code::InvalidArgument, "{too_large:?}");
    let bad = too_large.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad.field_violations[0].field, "employers");
    assert!(
        bad.field_violations[0].description.contains("burst of 500"),
        "{bad:?}"
    );

    // The burst is spent...
    employers
        .batch_upsert_employers(authed(batch(500), &p1.key))
        .await
        .expect("500 items, the whole burst");
    // ...and at one item a second, 500 more are minutes away.
    let refused = employers
        .batch_upsert_employers(authed(batch(500), &p1.key))
        .await
        .expect_err("the bucket is empty");
    let (subject, description, retry) = quota_refusal(&refused);
    assert_eq!(subject, "platforms/p1");
    assert_eq!(
        description,
        "items per second per key: at most 1, bursts of at most 500; this call has 500"
    );
    assert!(
        retry > Duration::from_secs(60) && retry <= Duration::from_secs(500),
        "{retry:?}"
    );

    // p2 has a bucket of its own.
    employers
        .batch_upsert_employers(authed(batch(500), &p2.key))
        .await
        .expect("p2's burst");
    let (messages, mut answers) = open_upsert(&app, &p2).await.expect("p2's stream");
    drop(messages);
    assert!(answers.message().await.unwrap().is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_metrics_key_at_its_calls_cap_leaves_other_keys_of_its_kind_alone() {
    let (app, metrics) = metrics_with_two_calls_a_key().await;
    let other_relay = metrics
        .issue(mpb::KeyKind::Relay, mpb::Protection::Unspecified)
        .await
        .unwrap();
    let relay_name = key_name(&metrics, &metrics.relay_key).await;
    let open = |key: &str| {
        let (messages, inbound) = mpsc::channel::<mpb::PublishEventsRequest>(4);
        let mut client =
            mpb::ingest_service_client::IngestServiceClient::new(metrics.channel.clone());
        let request = with_key(ReceiverStream::new(inbound), key);
        async move {
            let answers = client.publish_events(request).await?.into_inner();
            Ok::<_, Status>((messages, answers))
        }
    };

    // The relay key holds its two calls with two open streams.
    let held = [
        open(&metrics.relay_key).await.expect("call 1 of 2"),
        open(&metrics.relay_key).await.expect("call 2 of 2"),
    ];
    let refused = open(&metrics.relay_key).await.expect_err("a third call");
    let (subject, description, _) = quota_refusal(&refused);
    assert_eq!(subject, relay_name);
    assert_eq!(description, "calls in flight per key: at most 2");

    // Another RELAY key publishes, and READ keys query, at the same time;
    // metrics keys are not rate-limited (a burst of 1 would refuse this).
    let acks = metrics
        .publish_batches_with(
            &other_relay.secret,
            vec![vec![
                m::hired(
                    "e1",
                    &m::person(1),
                    "110101",
                    "I",
                    m::date(2024, 3, 1),
                    "p1",
                ),
                m::hired(
                    "e2",
                    &m::person(2),
                    "110101",
                    "I",
                    m::date(2024, 3, 1),
                    "p1",
                ),
            ]],
        )
        .await
        .expect("the other RELAY key publishes");
    assert_eq!(acks[0].len(), 2);
    for key in [&metrics.read_key, &metrics.exact_key] {
        metrics
            .stats()
            .get_talent_gathered(with_key(
                mpb::GetTalentGatheredRequest {
                    period: m::period(m::date(2024, 1, 1), m::date(2024, 12, 31)),
                    ..Default::default()
                },
                key,
            ))
            .await
            .expect("a READ key queries");
    }
    drop(held);
    app.stop().await;
}

/// Both services, metrics' keys capped at two calls in flight and at a
/// rate of one item a second (which metrics keys are not held to).
async fn metrics_with_two_calls_a_key() -> (TestApp, Metrics) {
    let app = spawn(QuotaSettings {
        max_calls: 2,
        max_streams: 4,
        items_per_sec: 1,
        burst: 1,
    })
    .await;
    let metrics = Metrics::connect(&app).await;
    (app, metrics)
}

/// The resource name (`keys/{id}`) of metrics key `secret`.
async fn key_name(metrics: &Metrics, secret: &str) -> String {
    let keys = metrics
        .admin()
        .list_keys(with_key(mpb::ListKeysRequest::default(), m::ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .keys;
    keys.into_iter()
        .find(|k| k.secret_prefix == secret[..8])
        .expect("the key is listed")
        .name
}

#[tokio::test]
async fn a_read_key_at_its_calls_cap_leaves_other_read_keys_alone() {
    use crate::reflection::RawCodec;

    let (app, metrics) = metrics_with_two_calls_a_key().await;
    let read_name = key_name(&metrics, &metrics.read_key).await;
    let path = "/talent.metrics.v1.StatisticsService/GetTalentGathered";
    // Two queries of the READ key held in flight: their requests' bodies
    // never end, so the server admits each and waits for its message.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut grpc = tonic::client::Grpc::new(metrics.channel.clone());
            let request = with_key(tokio_stream::pending::<Vec<u8>>(), &metrics.read_key);
            tokio::spawn(async move {
                grpc.ready().await.unwrap();
                grpc.client_streaming(request, path.parse().unwrap(), RawCodec)
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    let query = |key: &str| {
        let mut stats = metrics.stats();
        let request = with_key(
            mpb::GetTalentGatheredRequest {
                period: m::period(m::date(2024, 1, 1), m::date(2024, 12, 31)),
                ..Default::default()
            },
            key,
        );
        async move { stats.get_talent_gathered(request).await.map(|_| ()) }
    };
    // Both are admitted once the server counts two calls in flight (a
    // refused call ends at once) while no other call runs; then a third
    // query of the key is refused.
    let mut admitted = false;
    for _ in 0..1000 {
        if let Some(call) = held.iter().find(|c| c.is_finished()) {
            panic!("a held call ended: {call:?}");
        }
        let page = crate::foundation::metrics_page(app.metrics_prometheus_addr).await;
        if page.lines().any(|l| l == "talent_grpc_server_in_flight 2") {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admitted, "the two held calls are in flight");
    let refused = query(&metrics.read_key)
        .await
        .expect_err("the READ key's third call is refused");
    let (subject, description, _) = quota_refusal(&refused);
    assert_eq!(subject, read_name);
    assert_eq!(description, "calls in flight per key: at most 2");

    // Another READ key (and the OPERATOR key) query at the same time.
    for key in [&metrics.exact_key, &metrics.operator_key] {
        query(key).await.expect("another key queries");
    }
    for call in &held {
        assert!(!call.is_finished(), "the held calls are still in flight");
    }
    for call in held {
        call.abort();
    }
    app.stop().await;
}
