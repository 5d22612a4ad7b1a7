//! Shutdown as clients see it: health turns NOT_SERVING while the
//! service still serves (for `shutdown_delay_ms`, so load balancers move
//! traffic away first), then the service drains: an open upsert stream
//! ends with UNAVAILABLE (retry elsewhere), and the listener closes.

use std::time::Duration;

use talent_proto::talent::recruiting::v1 as pb;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{
    Options, TestApp,
    recruiting::{authed, credit_code, employer, posting},
};

/// Long enough that the checks made during the delay, a few round trips
/// on this machine, all fall inside it; the test waits on events, never
/// on this time.
const SHUTDOWN_DELAY_MS: u64 = 10_000;

#[tokio::test]
async fn shutdown_is_not_serving_through_the_delay_then_ends_open_streams_unavailable() {
    let mut app = TestApp::spawn_with(Options {
        recruiting_shutdown_delay_ms: Some(SHUTDOWN_DELAY_MS),
        ..Default::default()
    })
    .await;
    let platform = app.create_platform("p1").await;
    let code = credit_code("91110000MA01ABCD0");
    app.push_employers(&platform, vec![employer(&code, "Acme", "110101", "I")])
        .await;

    // An UpsertPostings stream, open: one message stored and answered.
    let (messages, inbound) = tokio::sync::mpsc::channel(4);
    let message = |id: &str| pb::UpsertPostingsRequest {
        postings: vec![posting(id, "Welder", &code)],
    };
    let mut answers =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await)
            .upsert_postings(authed(ReceiverStream::new(inbound), &platform.key))
            .await
            .expect("the stream opens")
            .into_inner();
    messages.send(message("before")).await.unwrap();
    let first = answers.message().await.unwrap().expect("an answer");
    assert!(first.results.iter().all(|r| r.error.is_none()), "{first:?}");

    let mut watch = HealthClient::new(app.recruiting_channel().await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = watch.next().await.unwrap().unwrap();
    assert_eq!(serving.status(), ServingStatus::Serving);

    app.begin_shutdown();
    let next = watch.next().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    // During the delay the listener still accepts: a new client learns
    // NOT_SERVING, and the open stream still stores messages.
    let checked = HealthClient::new(app.recruiting_channel().await)
        .check(HealthCheckRequest {
            service: "talent.recruiting.v1.PostingService".into(),
        })
        .await
        .expect("health answers during the delay")
        .into_inner();
    assert_eq!(checked.status(), ServingStatus::NotServing);
    messages.send(message("during")).await.unwrap();
    let during = answers.message().await.unwrap().expect("an answer");
    assert!(
        during.results.iter().all(|r| r.error.is_none()),
        "{during:?}"
    );

    // Then the drain: the stream, still open, ends with UNAVAILABLE.
    let ended = tokio::time::timeout(Duration::from_secs(120), answers.message())
        .await
        .expect("the drain ends the open stream");
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shutting down"), "{status:?}");
    drop(messages);
    drop(watch);

    tokio::time::timeout(Duration::from_secs(120), app.recruiting_stopped())
        .await
        .expect("the server stops once its calls have ended")
        .expect("a clean stop");
    let refused =
        tonic::transport::Endpoint::from_shared(format!("http://{}", app.recruiting_addr))
            .unwrap()
            .connect()
            .await;
    assert!(refused.is_err(), "the listener is closed");
    app.stop().await;
}
