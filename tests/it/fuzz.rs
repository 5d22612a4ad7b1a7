//! The fuzz harness through the running services: hostile, boundary,
//! mutated and random requests (`talent-testkit`'s generators) sent to
//! every method of both services with a key that may call it. Each call
//! must end OK or with a client error, never `INTERNAL` or `UNKNOWN`; every
//! field violation, of the call or of a batch item, must name a field of
//! the request; an error must fit in 8 KiB of trailers; and both servers
//! must still answer afterwards.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor, ReflectMessage, Value};
use talent_testkit as testkit;
use tonic::{Code, transport::Channel};

use crate::reflection::{Answer, Ask, RawCodec, ask_v1};
use crate::support::{
    TestApp, metrics,
    recruiting::{self, authed, credit_code, employer, posting},
};

/// Cases of the end-to-end property; each sends one request (or stream)
/// to every method of both services.
const CASES: u32 = 24;

/// What a hostile request may end with: success or a client's mistake.
const CLIENT_CODES: &[Code] = &[
    Code::Ok,
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::AlreadyExists,
    Code::Unauthenticated,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::OutOfRange,
];

/// Where the field paths of a batch item's error start, when the contract
/// says they start at the item and not at the request root.
const ITEM_ROOTS: &[(&str, &str)] = &[
    (
        "/talent.metrics.v1.IngestService/PublishEvents",
        "talent.events.v1.Event",
    ),
    (
        "/talent.metrics.v1.IngestService/ImportGraduateRoster",
        "talent.metrics.v1.GraduateRosterRow",
    ),
];

/// Every method of both public packages.
fn fuzzed() -> Vec<MethodDescriptor> {
    let mut methods = testkit::methods(testkit::RECRUITING);
    methods.extend(testkit::methods(testkit::METRICS));
    methods
}

#[tokio::test]
async fn the_fuzzed_methods_are_exactly_the_served_ones() {
    let app = TestApp::spawn().await;
    let mut served = BTreeSet::new();
    for channel in [app.recruiting_channel().await, app.metrics_channel().await] {
        let Answer::Services(services) = ask_v1(channel, Ask::ListServices).await else {
            panic!("ListServices failed");
        };
        for service in services.iter().filter(|s| !s.starts_with("grpc.")) {
            let descriptor = testkit::pool()
                .get_service_by_name(service)
                .unwrap_or_else(|| panic!("{service} is in talent-proto"));
            served.extend(descriptor.methods().map(|m| testkit::path(&m)));
        }
    }
    let fuzzed: BTreeSet<String> = fuzzed().iter().map(testkit::path).collect();
    assert_eq!(fuzzed, served);
    app.stop().await;
}

/// One method's call: its path, its request type, whether requests stream,
/// and the key it is made with.
struct Target {
    method: MethodDescriptor,
    key: String,
}

#[test]
fn hostile_requests_get_ok_or_a_client_error_from_every_method() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, targets, channels) = runtime.block_on(setup());
    // One request (a stream of one to three for streaming methods) per
    // method and case.
    let strategy: Vec<_> = targets
        .iter()
        .map(|t| {
            let count = if t.method.is_client_streaming() {
                1..4
            } else {
                1..2
            };
            proptest::collection::vec(testkit::request_bytes(t.method.input()), count)
        })
        .collect();
    let mut config = testkit::config(CASES);
    config.source_file = Some(file!());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |requests| {
        runtime.block_on(async {
            for (target, messages) in targets.iter().zip(requests) {
                let channel = if testkit::path(&target.method).starts_with("/talent.metrics.") {
                    channels.1.clone()
                } else {
                    channels.0.clone()
                };
                check_call(channel, target, messages).await?;
            }
            Ok(())
        })
    });
    runtime.block_on(async {
        // Both servers still answer a well-formed call.
        let platform = app.create_platform("after").await;
        assert!(!platform.key.is_empty());
        metrics::Metrics::connect(&app).await;
        app.stop().await;
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// Both services, a platform with data behind a few of the names the
/// generators use, and a key for every method.
async fn setup() -> (TestApp, Vec<Target>, (Channel, Channel)) {
    let app = TestApp::spawn().await;
    let fz = app.create_platform("fz").await;
    app.create_platform("other").await;
    let code = credit_code("91370212MA3C00001");
    app.push_employers(&fz, vec![employer(&code, "Employer", "370212", "I")])
        .await;
    app.push_postings(&fz, vec![posting("job-1", "Engineer", &code)])
        .await;
    let keys = metrics::Metrics::connect(&app).await;
    let targets = fuzzed()
        .into_iter()
        .map(|method| {
            let path = testkit::path(&method);
            let key = match path.as_str() {
                p if p.starts_with("/talent.recruiting.v1.AdminService/") => {
                    recruiting::ADMIN_KEY.to_owned()
                }
                p if p.starts_with("/talent.recruiting.") => fz.key.clone(),
                p if p.starts_with("/talent.metrics.v1.AdminService/") => {
                    metrics::ADMIN_KEY.to_owned()
                }
                "/talent.metrics.v1.IngestService/PublishEvents" => keys.relay_key.clone(),
                "/talent.metrics.v1.IngestService/ImportGraduateRoster" => keys.roster_key.clone(),
                _ => keys.read_key.clone(),
            };
            Target { method, key }
        })
        .collect();
    let channels = (app.recruiting_channel().await, app.metrics_channel().await);
    (app, targets, channels)
}

/// Sends `messages` to the target's method and checks the answer.
async fn check_call(
    channel: Channel,
    target: &Target,
    messages: Vec<Vec<u8>>,
) -> Result<(), TestCaseError> {
    let method = &target.method;
    let path = testkit::path(method);
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let uri = http::uri::PathAndQuery::try_from(path.clone()).expect("a valid path");
    let answers: Vec<Result<Vec<u8>, tonic::Status>> =
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => {
                let first = messages.into_iter().next().unwrap_or_default();
                vec![
                    grpc.unary(authed(first, &target.key), uri, RawCodec)
                        .await
                        .map(|r| r.into_inner()),
                ]
            }
            (true, false) => {
                let stream = tokio_stream::iter(messages);
                vec![
                    grpc.client_streaming(authed(stream, &target.key), uri, RawCodec)
                        .await
                        .map(|r| r.into_inner()),
                ]
            }
            (_, true) => {
                let stream = tokio_stream::iter(messages);
                match grpc
                    .streaming(authed(stream, &target.key), uri, RawCodec)
                    .await
                {
                    Err(status) => vec![Err(status)],
                    Ok(response) => {
                        let mut answers = Vec::new();
                        let mut stream = response.into_inner();
                        loop {
                            match stream.message().await {
                                Ok(Some(answer)) => answers.push(Ok(answer)),
                                Ok(None) => break,
                                Err(status) => {
                                    answers.push(Err(status));
                                    break;
                                }
                            }
                        }
                        answers
                    }
                }
            }
        };
    for answer in answers {
        match answer {
            Ok(bytes) => {
                let response = DynamicMessage::decode(method.output(), bytes.as_slice())
                    .map_err(|e| TestCaseError::fail(format!("{path}: answer undecodable: {e}")))?;
                let item_root = ITEM_ROOTS
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or_else(|| method.input(), |(_, root)| testkit::descriptor(root));
                check_item_statuses(&path, &item_root, &response)?;
            }
            Err(status) => {
                // Trailers past a client's cap (8 KiB in several gRPC
                // implementations, 16 KiB here) drop the whole connection.
                let trailers = talent_server::error::trailers_size(&status);
                prop_assert!(
                    trailers < 8 * 1024,
                    "{path} answered {:?} in {trailers} bytes of trailers",
                    status.code()
                );
                check_status(
                    &path,
                    &method.input(),
                    status.code() as i32,
                    status.message(),
                    &tonic_types_details(&status),
                )?;
            }
        }
    }
    Ok(())
}

/// The `google.rpc.Status` a server put in a status's details, if any.
fn tonic_types_details(status: &tonic::Status) -> Vec<prost_types::Any> {
    tonic_types::pb::Status::decode(status.details())
        .map(|s| {
            s.details
                .into_iter()
                .map(|d| prost_types::Any {
                    type_url: d.type_url,
                    value: d.value,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A call's or an item's code and details: a client code, and field
/// violations that name fields of the request.
fn check_status(
    path: &str,
    input: &MessageDescriptor,
    code: i32,
    message: &str,
    details: &[prost_types::Any],
) -> Result<(), TestCaseError> {
    let code = Code::from(code);
    prop_assert!(
        CLIENT_CODES.contains(&code),
        "{path} answered {code:?}: {message}"
    );
    for detail in details {
        if !detail.type_url.ends_with("/google.rpc.BadRequest") {
            continue;
        }
        let bad = tonic_types::pb::BadRequest::decode(detail.value.as_slice())
            .map_err(|e| TestCaseError::fail(format!("{path}: BadRequest undecodable: {e}")))?;
        for violation in bad.field_violations {
            prop_assert!(
                testkit::names_a_field(input, &violation.field),
                "{path}: the violation {:?} ({}) names no field of {}",
                violation.field,
                violation.description,
                input.full_name()
            );
        }
    }
    Ok(())
}

/// Checks every `google.rpc.Status` inside an answer (a batch item's
/// error) like a call's status, its field paths from `input`.
fn check_item_statuses(
    path: &str,
    input: &MessageDescriptor,
    message: &DynamicMessage,
) -> Result<(), TestCaseError> {
    if message.descriptor().full_name() == "google.rpc.Status" {
        let status = tonic_types::pb::Status::decode(message.encode_to_vec().as_slice())
            .map_err(|e| TestCaseError::fail(format!("{path}: item status: {e}")))?;
        let details: Vec<prost_types::Any> = status
            .details
            .into_iter()
            .map(|d| prost_types::Any {
                type_url: d.type_url,
                value: d.value,
            })
            .collect();
        if status.code != 0 || !details.is_empty() {
            check_status(path, input, status.code, &status.message, &details)?;
        }
        return Ok(());
    }
    for (_, value) in message.fields() {
        let nested: Vec<&DynamicMessage> = match value {
            Value::Message(m) => vec![m],
            Value::List(items) => items.iter().filter_map(Value::as_message).collect(),
            _ => Vec::new(),
        };
        for m in nested {
            check_item_statuses(path, input, m)?;
        }
    }
    Ok(())
}
