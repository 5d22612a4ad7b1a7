//! The ground every later test stands on: both services start on fresh
//! databases, report health, describe themselves through reflection, honour
//! deadlines and limits, export metrics with bounded labels, answer
//! undecodable requests with INVALID_ARGUMENT, end silent request streams,
//! keep their files private, and drain on shutdown.

use crate::support;
use talent_server::binary::Service as _;

use std::{collections::BTreeSet, time::Duration};

use support::{TestApp, sample};
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

/// gRPC calls over a raw HTTP/2 connection: the tests choose every byte
/// (corrupt messages, made-up methods), and only the server judges
/// deadlines (a tonic client would also time the call itself).
struct Raw {
    sender: hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    addr: std::net::SocketAddr,
    /// Ends when the server closes the connection.
    connection: tokio::task::JoinHandle<Result<(), hyper::Error>>,
}

impl Raw {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        let connection = tokio::spawn(connection);
        Self {
            sender,
            addr,
            connection,
        }
    }

    /// Sends `body` (gRPC frames, see [`frame`]) to `path`; the status the
    /// server ended the call with, from its headers or trailers.
    async fn call(&mut self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> tonic::Status {
        use http_body_util::BodyExt;
        let mut request = http::Request::post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        if let Some(status) = tonic::Status::from_header_map(response.headers()) {
            return status;
        }
        let collected = response.into_body().collect().await.unwrap();
        collected
            .trailers()
            .and_then(tonic::Status::from_header_map)
            .expect("a grpc-status in the headers or the trailers")
    }
}

/// One uncompressed gRPC frame holding `message`.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Health/Check with `grpc-timeout` set; the status code it ends with.
async fn raw_health_check(addr: std::net::SocketAddr, grpc_timeout: &str) -> Option<String> {
    use prost::Message as _;
    let message = HealthCheckRequest {
        service: String::new(),
    }
    .encode_to_vec();
    let status = Raw::connect(addr)
        .await
        .call(
            "/grpc.health.v1.Health/Check",
            frame(&message),
            &[("grpc-timeout", grpc_timeout)],
        )
        .await;
    Some((status.code() as i32).to_string())
}

#[tokio::test]
async fn a_connection_without_calls_is_closed_by_the_server() {
    let app = TestApp::spawn_with(support::Options {
        connection_idle_timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    for addr in [app.recruiting_addr, app.metrics_addr] {
        let mut raw = Raw::connect(addr).await;
        assert_eq!(
            raw.call("/grpc.health.v1.Health/Check", frame(&[]), &[])
                .await
                .code(),
            Code::Ok
        );
        // The server says GOAWAY once the connection has had no call for
        // a second; the client's side of the connection then ends cleanly.
        tokio::time::timeout(Duration::from_secs(60), raw.connection)
            .await
            .expect("the idle connection is closed")
            .unwrap()
            .expect("a graceful close");
    }
    app.stop().await;
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
        .create_platform(support::recruiting::authed(
            CreatePlatformRequest {
                platform_id: "x".repeat(20 * 1024),
                ..Default::default()
            },
            support::recruiting::ADMIN_KEY,
        ))
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

/// Every service of both apps, with a key-free unary method whose request
/// has a string field (to be corrupted) and the path prost names for it.
#[tokio::test]
async fn undecodable_requests_are_invalid_argument_on_both_services() {
    use prost::Message as _;
    use talent_proto::talent::{metrics::v1 as metrics_pb, recruiting::v1 as recruiting_pb};
    use tonic_types::StatusExt;
    let app = TestApp::spawn().await;
    /// A message with `AAAA` in one string field, that field made invalid
    /// UTF-8.
    fn invalid_utf8(valid: Vec<u8>) -> Vec<u8> {
        let at = valid
            .windows(4)
            .position(|w| w == b"AAAA")
            .expect("the marker");
        let mut message = valid;
        message[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
        message
    }
    let cases = [
        (
            app.recruiting_addr,
            "/talent.recruiting.v1.AdminService/CreatePlatform",
            invalid_utf8(
                recruiting_pb::CreatePlatformRequest {
                    platform_id: "AAAA".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            "platform_id",
        ),
        (
            app.recruiting_addr,
            "/talent.recruiting.v1.AdminService/CreatePlatform",
            invalid_utf8(
                recruiting_pb::CreatePlatformRequest {
                    platform_id: "p".into(),
                    platform: Some(recruiting_pb::Platform {
                        display_name: "AAAA".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            "platform.display_name",
        ),
        (
            app.metrics_addr,
            "/talent.metrics.v1.AdminService/IssueKey",
            invalid_utf8(
                metrics_pb::IssueKeyRequest {
                    display_name: "AAAA".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            "display_name",
        ),
        // Field 1 with wire type 7, which does not exist.
        (
            app.recruiting_addr,
            "/talent.recruiting.v1.AdminService/CreatePlatform",
            vec![0x0f, 0x00],
            "",
        ),
        // A length-delimited field longer than the message.
        (
            app.metrics_addr,
            "/talent.metrics.v1.AdminService/IssueKey",
            vec![0x12, 0x20, b'x'],
            "display_name",
        ),
    ];
    for (addr, path, message, field) in cases {
        // Calls are authenticated before their messages are decoded.
        let key = if addr == app.metrics_addr {
            support::metrics::ADMIN_KEY
        } else {
            support::recruiting::ADMIN_KEY
        };
        let status = Raw::connect(addr)
            .await
            .call(
                path,
                frame(&message),
                &[("authorization", &format!("Bearer {key}"))],
            )
            .await;
        assert_eq!(status.code(), Code::InvalidArgument, "{path} {status:?}");
        let bad = status
            .get_details_bad_request()
            .unwrap_or_else(|| panic!("a BadRequest detail: {status:?}"));
        assert_eq!(bad.field_violations.len(), 1, "{status:?}");
        assert_eq!(bad.field_violations[0].field, field, "{status:?}");
    }

    // A malformed frame: compressed, with no grpc-encoding to decode it.
    for addr in [app.recruiting_addr, app.metrics_addr] {
        let mut compressed = frame(b"x");
        compressed[0] = 1;
        let status = Raw::connect(addr)
            .await
            .call("/grpc.health.v1.Health/Check", compressed, &[])
            .await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }

    // On a client stream the error arrives in the trailers.
    let ingest_key = support::metrics::Metrics::connect(&app).await.relay_key;
    let status = Raw::connect(app.metrics_addr)
        .await
        .call(
            "/talent.metrics.v1.IngestService/PublishEvents",
            frame(&[0x0f, 0x00]),
            &[("authorization", &format!("Bearer {ingest_key}"))],
        )
        .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    app.stop().await;
}

/// The paths of every method of `services`, from the contracts.
fn served_methods(services: &[&str]) -> Vec<String> {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(talent_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut paths = Vec::new();
    for file in &set.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            if services.contains(&name.as_str()) {
                paths.extend(
                    service
                        .method
                        .iter()
                        .map(|m| format!("/{name}/{}", m.name())),
                );
            }
        }
    }
    assert!(!paths.is_empty());
    paths
}

/// `/metrics` of a service, without the HTTP head.
pub(crate) async fn metrics_page(addr: std::net::SocketAddr) -> String {
    let response = TestApp::prometheus_text(addr).await;
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    body.to_owned()
}

#[tokio::test]
async fn calls_to_made_up_methods_do_not_grow_the_metrics_page() {
    use rand::{Rng, SeedableRng, distr::Alphanumeric};
    let app = TestApp::spawn().await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
    fn name(rng: &mut rand_chacha::ChaCha8Rng) -> String {
        (0..12).map(|_| rng.sample(Alphanumeric) as char).collect()
    }
    for (addr, prometheus, services) in [
        (
            app.recruiting_addr,
            app.recruiting_prometheus_addr,
            RECRUITING_SERVICES,
        ),
        (
            app.metrics_addr,
            app.metrics_prometheus_addr,
            METRICS_SERVICES,
        ),
    ] {
        let real_service = services[0];
        let mut raw = Raw::connect(addr).await;
        // A page of a service in use: every method it serves called once.
        for method in served_methods(services) {
            raw.call(&method, frame(b""), &[]).await;
        }
        let made_up = |rng: &mut rand_chacha::ChaCha8Rng| {
            // Half under a service that exists, half under none.
            if rng.random_bool(0.5) {
                format!("/{real_service}/{}", name(rng))
            } else {
                format!("/{}.{}/{}", name(rng), name(rng), name(rng))
            }
        };
        // The first unknown call creates the `unknown` series; the page's
        // size is measured after it.
        let first = made_up(&mut rng);
        assert_eq!(
            raw.call(&first, frame(b""), &[]).await.code(),
            Code::Unimplemented
        );
        let before = metrics_page(prometheus).await;
        let mut paths = Vec::new();
        for _ in 0..1000 {
            let path = made_up(&mut rng);
            assert_eq!(
                raw.call(&path, frame(b""), &[]).await.code(),
                Code::Unimplemented
            );
            paths.push(path);
        }
        let after = metrics_page(prometheus).await;
        let growth = after.len().abs_diff(before.len());
        assert!(
            growth * 100 <= before.len(),
            "/metrics went from {} to {} bytes",
            before.len(),
            after.len()
        );

        let unknown = after
            .lines()
            .find(|l| {
                l.starts_with("talent_grpc_server_handled_total")
                    && l.contains("grpc_method=\"unknown\"")
            })
            .unwrap_or_else(|| panic!("no unknown counter in:\n{after}"));
        assert!(unknown.ends_with(" 1001"), "{unknown}");
        for path in &paths {
            let method = path.rsplit('/').next().unwrap();
            assert!(!after.contains(method), "{path} became a label");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_metrics_page_shows_the_build_and_the_process() {
    let app = TestApp::spawn().await;
    for (service, prometheus) in [
        ("recruiting", app.recruiting_prometheus_addr),
        ("metrics", app.metrics_prometheus_addr),
    ] {
        let page = metrics_page(prometheus).await;
        let build = format!(
            "talent_build_info{{service=\"{service}\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(page.lines().any(|l| l == build), "{build} not in:\n{page}");
        let resident = page
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap_or_else(|| panic!("no process metrics in:\n{page}"));
        assert!(resident.parse::<f64>().unwrap() > 0.0);
    }
    app.stop().await;
}

/// The code a client stream that sends nothing ends with.
async fn silent_stream_code<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>>,
) -> Code {
    match call.await {
        Err(status) => status.code(),
        Ok(response) => match response.into_inner().message().await {
            Err(status) => status.code(),
            Ok(message) => panic!("a silent stream was answered: {}", message.is_some()),
        },
    }
}

#[tokio::test]
async fn a_client_stream_that_sends_nothing_is_ended_with_deadline_exceeded() {
    use support::{metrics::with_key, recruiting::authed};
    use talent_proto::talent::{metrics::v1 as metrics_pb, recruiting::v1 as recruiting_pb};
    let app = TestApp::spawn_with(support::Options {
        stream_idle_timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    let platform = app.create_platform("silent").await;
    let clients = app.recruiting().await;
    fn silent<T>() -> futures::stream::Pending<T> {
        futures::stream::pending()
    }
    assert_eq!(
        silent_stream_code(
            clients
                .postings
                .clone()
                .upsert_postings(authed(silent(), &platform.key))
        )
        .await,
        Code::DeadlineExceeded
    );
    assert_eq!(
        silent_stream_code(
            recruiting_pb::resume_service_client::ResumeServiceClient::new(
                app.recruiting_channel().await
            )
            .upsert_resumes(authed(silent(), &platform.key))
        )
        .await,
        Code::DeadlineExceeded
    );
    let ingest_key = support::metrics::Metrics::connect(&app).await.relay_key;
    assert_eq!(
        silent_stream_code(
            metrics_pb::ingest_service_client::IngestServiceClient::new(
                app.metrics_channel().await
            )
            .publish_events(with_key(silent(), &ingest_key))
        )
        .await,
        Code::DeadlineExceeded
    );
    app.stop().await;
}

#[tokio::test]
async fn the_relay_reopens_a_stream_metrics_ended_for_silence_without_a_retry() {
    let app = TestApp::spawn_with(support::Options {
        relay: true,
        stream_idle_timeout_secs: Some(1),
        ..Default::default()
    })
    .await;
    // The relay's stream, silent over an empty outbox, is ended by metrics.
    let ended = "talent_grpc_server_handled_total{grpc_code=\"DEADLINE_EXCEEDED\",\
                 grpc_method=\"/talent.metrics.v1.IngestService/PublishEvents\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sample(&metrics_page(app.metrics_prometheus_addr).await, ended).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never ended the silent stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = app.relay_a_posting("after-silence").await;
    assert_eq!(
        sample(&page, "talent_relay_retries_total"),
        Some(0.0),
        "a stream ended for silence is no failed delivery"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("data").join("recruiting");
    let file = folder.join("recruiting.db");
    let mut config = talent_recruiting::Config::default();
    support::recruiting::configure(&mut config);
    config.server.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.server.prometheus_addr = None;
    config.server.database_url = format!("sqlite://{}", file.display());
    // Built: the database is open and migrated, its WAL in use.
    let app = talent_recruiting::Application::build(config).await.unwrap();
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&folder), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let stop = talent_server::CancellationToken::new();
    stop.cancel();
    app.run_until_stopped(stop).await.unwrap();
}
