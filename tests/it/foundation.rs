//! The ground every later test stands on: both services start on fresh
//! databases, report health, describe themselves through reflection, honour
//! deadlines and limits, export metrics, and drain on shutdown.

use crate::support;

use std::{collections::BTreeSet, time::Duration};

use support::TestApp;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const RECRUITING_SERVICES: &[&str] = &[
    "talent.recruiting.v1.AdminService",
    "talent.recruiting.v1.EmployerService",
    "talent.recruiting.v1.PostingService",
    "talent.recruiting.v1.ResumeService",
    "talent.recruiting.v1.ApplicationService",
    "talent.recruiting.v1.EmploymentService",
    "talent.recruiting.v1.FairService",
];
const METRICS_SERVICES: &[&str] = &[
    "talent.metrics.v1.AdminService",
    "talent.metrics.v1.IngestService",
    "talent.metrics.v1.StatisticsService",
];
/// Served by both, beside the talent services.
const INFRASTRUCTURE: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

fn expected(talent: &[&str]) -> BTreeSet<String> {
    talent
        .iter()
        .chain(INFRASTRUCTURE)
        .map(|s| s.to_string())
        .collect()
}

#[tokio::test]
async fn every_service_reports_serving() {
    let app = TestApp::spawn().await;
    for (channel, services) in [
        (app.recruiting_channel().await, RECRUITING_SERVICES),
        (app.metrics_channel().await, METRICS_SERVICES),
    ] {
        let mut health = HealthClient::new(channel);
        for service in std::iter::once(&"").chain(services) {
            let status = health
                .check(HealthCheckRequest {
                    service: service.to_string(),
                })
                .await
                .unwrap_or_else(|s| panic!("health of {service:?}: {s}"))
                .into_inner()
                .status();
            assert_eq!(status, ServingStatus::Serving, "{service:?}");
        }
        let unknown = health
            .check(HealthCheckRequest {
                service: "talent.nothing.v1.NoService".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
    }
    app.stop().await;
}

/// Lists the services through one version of the reflection protocol.
macro_rules! reflection_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new($channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        match responses.next().await.unwrap().unwrap().message_response {
            Some(MessageResponse::ListServicesResponse(list)) => list
                .service
                .into_iter()
                .map(|s| s.name)
                .collect::<BTreeSet<String>>(),
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }};
}

#[tokio::test]
async fn reflection_lists_every_talent_service_in_v1_and_v1alpha() {
    let app = TestApp::spawn().await;
    let recruiting = app.recruiting_channel().await;
    let metrics = app.metrics_channel().await;
    assert_eq!(
        reflection_services!(v1, recruiting.clone()),
        expected(RECRUITING_SERVICES)
    );
    assert_eq!(
        reflection_services!(v1alpha, recruiting),
        expected(RECRUITING_SERVICES)
    );
    assert_eq!(
        reflection_services!(v1, metrics.clone()),
        expected(METRICS_SERVICES)
    );
    assert_eq!(
        reflection_services!(v1alpha, metrics),
        expected(METRICS_SERVICES)
    );
    app.stop().await;
}

#[tokio::test]
async fn reflection_describes_the_contracts() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.metrics_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "talent.metrics.v1.StatisticsService".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file that declares StatisticsService");
    };
    use prost::Message as _;
    let packages: BTreeSet<String> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| {
            prost_types::FileDescriptorProto::decode(bytes.as_slice())
                .unwrap()
                .package()
                .to_owned()
        })
        .collect();
    assert!(packages.contains("talent.metrics.v1"), "{packages:?}");
    app.stop().await;
}

/// A unary gRPC call over a raw HTTP/2 connection, so that only the server
/// judges the deadline (a tonic client would also time the call itself).
async fn raw_health_check(addr: std::net::SocketAddr, grpc_timeout: &str) -> Option<String> {
    use http_body_util::{BodyExt, Full};
    use prost::Message as _;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let message = HealthCheckRequest {
        service: String::new(),
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", grpc_timeout)
        .body(Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let header_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let collected = response.into_body().collect().await.unwrap();
    header_status.or_else(|| {
        collected
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .map(|v| v.to_str().unwrap().to_owned())
    })
}

#[tokio::test]
async fn a_call_whose_deadline_has_passed_gets_deadline_exceeded() {
    let app = TestApp::spawn().await;
    // One microsecond: the deadline has passed by the time the call starts.
    assert_eq!(
        raw_health_check(app.recruiting_addr, "1u").await.as_deref(),
        Some("4"),
        "DEADLINE_EXCEEDED"
    );
    // The same call with a generous deadline succeeds.
    assert_eq!(
        raw_health_check(app.recruiting_addr, "30S")
            .await
            .as_deref(),
        Some("0")
    );
    app.stop().await;
}

#[tokio::test]
async fn calls_are_counted_per_method_in_prometheus() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.metrics_channel().await);
    for _ in 0..3 {
        health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap();
    }
    let text = TestApp::prometheus_text(app.metrics_prometheus_addr).await;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("talent_grpc_server_handled_total")
                && l.contains("grpc_method=\"/grpc.health.v1.Health/Check\"")
                && l.contains("grpc_code=\"OK\"")
        })
        .unwrap_or_else(|| panic!("no counter for Health/Check in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(text.contains("talent_grpc_server_handling_seconds_bucket"));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_and_drains_open_streams() {
    let mut app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.recruiting_channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "talent.recruiting.v1.PostingService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    app.begin_shutdown();
    // The open stream is still served while the server drains, and tells
    // the watcher that the service no longer takes work.
    let next = watch.next().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    drop(health);

    tokio::time::timeout(Duration::from_secs(60), app.recruiting_stopped())
        .await
        .expect("the server stops once its last call has ended")
        .expect("a clean stop");
    // No new connections are accepted.
    let refused =
        tonic::transport::Endpoint::from_shared(format!("http://{}", app.recruiting_addr))
            .unwrap()
            .connect()
            .await;
    assert!(refused.is_err());
    app.stop().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_gets_resource_exhausted() {
    use talent_proto::talent::recruiting::v1::{
        CreatePlatformRequest, admin_service_client::AdminServiceClient,
    };
    let app = TestApp::spawn_with(support::Options {
        max_message_bytes: 16 * 1024,
        ..Default::default()
    })
    .await;
    let mut admin = AdminServiceClient::new(app.recruiting_channel().await);
    let status = admin
        .create_platform(CreatePlatformRequest {
            platform_id: "x".repeat(20 * 1024),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    app.stop().await;
}

#[tokio::test]
async fn postgresql_connections_plan_without_parallel_workers_or_jit() {
    let app = TestApp::spawn().await;
    let db = talent_server::Db::connect(
        app.recruiting_database_url(),
        1,
        talent_recruiting::MIGRATIONS,
    )
    .await
    .unwrap();
    // On SQLite there is no parallel query or JIT to turn off.
    if let talent_server::Db::Postgres(pool) = &db {
        let workers: String = sqlx::query_scalar("SHOW max_parallel_workers_per_gather")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(workers, "0");
        let jit: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(jit, "off");
    }
    db.close().await;
    app.stop().await;
}
