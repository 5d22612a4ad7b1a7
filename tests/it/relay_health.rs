//! The relay's own health (`talent.recruiting.v1.Relay`): NOT_SERVING
//! while events wait and nothing was delivered for longer than
//! `relay_max_lag_secs`, SERVING again once delivery resumes, and never
//! taking the recruiting service itself out of rotation.

use std::time::Duration;

use talent_proto::talent::{metrics::v1 as mpb, recruiting::v1 as rpb};
use talent_recruiting::relay::HEALTH_SERVICE as RELAY;
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{
    Options, TestApp,
    metrics::{self as m, Metrics},
    recruiting::{credit_code, employer, posting, ts},
};

/// The health of `service` on recruiting, as a Check answers it now.
async fn health_of(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.recruiting_channel().await)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status()
}

/// Waits (a minute at most) until recruiting's health of `service`
/// reports `want`, through a Watch stream.
async fn until_health(app: &TestApp, service: &str, want: ServingStatus) {
    let mut watch = HealthClient::new(app.recruiting_channel().await)
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(update) = watch.next().await {
            if update.expect("a health update").status() == want {
                return;
            }
        }
        panic!("the health stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("{service} never became {want:?}"));
}

/// Recruiting's `/health` answer: the HTTP status line and the JSON detail.
async fn health_detail(app: &TestApp) -> (String, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.recruiting_prometheus_addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, serde_json::from_str(body).expect("a JSON detail"))
}

/// Postings of 2020 metrics counts, as the bureau's OPERATOR key reads them.
async fn postings_counted(metrics: &Metrics) -> i64 {
    let response = metrics
        .stats()
        .get_recruitment_activity(m::with_key(
            mpb::GetRecruitmentActivityRequest {
                period: m::period(m::date(2020, 1, 1), m::date(2021, 1, 1)),
                ..Default::default()
            },
            &metrics.operator_key,
        ))
        .await
        .expect("GetRecruitmentActivity")
        .into_inner();
    m::value(&response.total.expect("a total").postings)
}

#[tokio::test]
async fn a_stalled_relay_is_not_serving_apart_from_the_service_and_recovers() {
    let mut app = TestApp::spawn_with(Options {
        relay: true,
        relay_max_lag_secs: Some(1),
        ..Default::default()
    })
    .await;
    until_health(&app, RELAY, ServingStatus::Serving).await;
    let platform = app.create_platform("p1").await;
    let code = credit_code("91110000MA01ABCD0");
    app.push_employers(&platform, vec![employer(&code, "Acme", "110101", "I")])
        .await;
    app.relay_drained().await;

    // Metrics goes away while events wait.
    app.stop_metrics().await;
    let postings: Vec<rpb::Posting> = (0..5)
        .map(|i| rpb::Posting {
            // 2020-05-01, noon in the city.
            publish_time: Some(ts(1_588_305_600)),
            ..posting(&format!("p-{i}"), "Welder", &code)
        })
        .collect();
    for result in app.push_postings(&platform, postings).await {
        assert!(result.error.is_none(), "{result:?}");
    }
    until_health(&app, RELAY, ServingStatus::NotServing).await;
    // The service itself stays in rotation, and says why in `/health`.
    assert_eq!(health_of(&app, "").await, ServingStatus::Serving);
    assert_eq!(
        health_of(&app, "talent.recruiting.v1.PostingService").await,
        ServingStatus::Serving
    );
    let (status, detail) = health_detail(&app).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {detail}");
    assert_eq!(detail["relay"]["state"], "stalled", "{detail}");
    assert_eq!(detail["relay"]["health"], "NOT_SERVING", "{detail}");
    // Writes are still taken.
    let late = rpb::Posting {
        publish_time: Some(ts(1_588_305_600)),
        ..posting("p-late", "Welder", &code)
    };
    for result in app.push_postings(&platform, vec![late]).await {
        assert!(result.error.is_none(), "{result:?}");
    }

    // Metrics is back: the relay delivers and recovers by itself.
    app.start_metrics().await;
    until_health(&app, RELAY, ServingStatus::Serving).await;
    app.relay_drained().await;
    let metrics = Metrics::connect(&app).await;
    assert_eq!(postings_counted(&metrics).await, 6);
    let (_, detail) = health_detail(&app).await;
    assert_eq!(detail["relay"]["health"], "SERVING", "{detail}");
    app.stop().await;
}

#[tokio::test]
async fn a_replica_without_a_relay_reports_no_relay_health() {
    let app = TestApp::spawn().await;
    let status = HealthClient::new(app.recruiting_channel().await)
        .check(HealthCheckRequest {
            service: RELAY.into(),
        })
        .await
        .expect_err("no relay, no relay health");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    app.stop().await;
}
