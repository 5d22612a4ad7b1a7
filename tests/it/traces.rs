//! Traces and request ids.
//!
//! The tests that read spans or log lines install the subscriber the
//! services install, process-wide, so they run in a process of their own
//! ([`in_own_process`]): a subscriber set for one thread only
//! (`set_default`) misses what the services do on other threads. SQLite's
//! connection threads enter the caller's span for each statement, and when
//! such a thread leaves it, tracing tells that thread's subscriber (none),
//! so the span is never closed and never exported.

use std::{
    io::Write,
    process::Command,
    sync::{Arc, Mutex},
};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use talent_proto::{
    google::r#type::Date,
    talent::{
        metrics::v1 as mpb,
        recruiting::v1 as rpb,
        r#type::v1::{DegreeLevel, Discipline},
    },
};
use talent_server::{
    LogFormat,
    telemetry::{self, REQUEST_ID, Settings, Traces},
};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::support::{
    TestApp,
    metrics::{self as m, Metrics},
    recruiting::{TestPlatform, authed, credit_code, employer},
};

/// The caller's trace, as its `traceparent` names it.
const UPSTREAM_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UPSTREAM_SPAN: &str = "00f067aa0ba902b7";

/// Log output caught in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The subscriber the services install, logging to `logs` and exporting
/// through `traces`: for the whole process (a test run alone by
/// [`in_own_process`]), else for this thread until the guard is dropped.
fn install(
    format: LogFormat,
    logs: &Captured,
    traces: Option<&Traces>,
    scope: Scope,
) -> Option<tracing::subscriber::DefaultGuard> {
    let subscriber =
        telemetry::subscriber(format, EnvFilter::new("info"), logs.clone(), false, traces);
    match scope {
        Scope::Process => {
            tracing::subscriber::set_global_default(subscriber)
                .expect("the test runs alone in its process (see in_own_process)");
            None
        }
        Scope::Thread => Some(tracing::subscriber::set_default(subscriber)),
    }
}

/// Where a test's subscriber applies.
enum Scope {
    Process,
    Thread,
}

/// Runs `test`, an ignored test of this module, alone in a new process of
/// this test binary, and fails with its output if it fails.
fn in_own_process(test: &str) {
    let name = format!("traces::{test}");
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([&name, "--exact", "--ignored", "--test-threads=1"])
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name} failed in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name} did not run:\n{stdout}"
    );
}

/// A platform with one employer, ready to hire; returns the employer's
/// credit code.
async fn hiring_platform(app: &TestApp) -> (TestPlatform, String) {
    let platform = app.create_platform("pa").await;
    let code = credit_code("91370212MA3C00001");
    app.push_employers(
        &platform,
        vec![employer(&code, "Laoshan Software", "370212", "I")],
    )
    .await;
    (platform, code)
}

/// Records a hire for a caller whose own trace is [`UPSTREAM_TRACE`];
/// returns the response's request id.
async fn record_hire(app: &TestApp, platform: &TestPlatform, employer: &str) -> String {
    let mut request = authed(
        rpb::RecordHireRequest {
            parent: format!("platforms/{}", platform.id),
            person: Some(rpb::record_hire_request::Person::ResidentIdNumber(
                talent_codes::resident_id::make(
                    "370202",
                    time::Date::from_calendar_date(1998, time::Month::March, 1).unwrap(),
                    7,
                ),
            )),
            employer_credit_code: employer.into(),
            start_date: Some(Date {
                year: 2020,
                month: 4,
                day: 1,
            }),
            ..Default::default()
        },
        &platform.key,
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01")
            .parse()
            .unwrap(),
    );
    request
        .metadata_mut()
        .insert(REQUEST_ID, "hire-1".parse().unwrap());
    let response = rpb::employment_service_client::EmploymentServiceClient::new(
        app.recruiting_channel().await,
    )
    .record_hire(request)
    .await
    .expect("RecordHire");
    echoed_request_id(response.metadata())
}

/// The request id a response names.
fn echoed_request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get(REQUEST_ID)
        .expect("the response names the request id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn links_to(span: &SpanData, target: &SpanData) -> bool {
    span.links.iter().any(|link| {
        link.span_context.trace_id() == target.span_context.trace_id()
            && link.span_context.span_id() == target.span_context.span_id()
    })
}

#[test]
fn a_hire_is_followed_from_its_call_through_the_relay_to_metrics() {
    in_own_process("hire_followed_alone");
}

#[test]
fn every_log_line_of_a_call_names_its_request_id() {
    in_own_process("request_ids_alone_human");
    in_own_process("request_ids_alone_json");
}

#[tokio::test]
#[ignore = "run in a process of its own by a_hire_is_followed_from_its_call_through_the_relay_to_metrics"]
async fn hire_followed_alone() {
    let exporter = InMemorySpanExporter::default();
    let traces = Traces::with_exporter("talent-test", exporter.clone());
    let logs = Captured::default();
    install(LogFormat::Json, &logs, Some(&traces), Scope::Process);
    let app = TestApp::spawn_with_relay().await;
    let (platform, employer) = hiring_platform(&app).await;

    let request_id = record_hire(&app, &platform, &employer).await;
    assert_eq!(request_id, "hire-1", "the client's id is echoed");
    app.relay_drained().await;

    let upstream = TraceId::from_hex(UPSTREAM_TRACE).unwrap();
    // Spans end after what the test can observe (the relay's batch after
    // it marks the rows delivered, metrics' application after its answer):
    // wait, bounded, until spans linking to the transaction are there.
    let complete = |spans: &[SpanData]| {
        let linked = |name: &str| {
            spans.iter().any(|s| {
                s.name == name
                    && s.links
                        .iter()
                        .any(|l| l.span_context.trace_id() == upstream)
            })
        };
        let call = spans
            .iter()
            .any(|s| s.name == "rpc" && s.span_context.trace_id() == upstream);
        call && linked("relay.batch") && linked("metrics.apply")
    };
    let mut spans = exporter.get_finished_spans().unwrap();
    for _ in 0..1000 {
        if complete(&spans) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        spans = exporter.get_finished_spans().unwrap();
    }
    for s in &spans {
        eprintln!(
            "SPAN {} {} parent {} attrs {:?}",
            s.name,
            s.span_context.trace_id(),
            s.parent_span_id,
            s.attributes
                .iter()
                .map(|kv| kv.key.as_str().to_owned())
                .collect::<Vec<_>>()
        );
    }
    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == upstream)
        .collect();

    // The call: a child of the caller's span, with its method, id, peer
    // and code.
    let call = in_trace
        .iter()
        .find(|s| s.name == "rpc")
        .expect("the RecordHire call's span is in the caller's trace");
    assert_eq!(
        call.parent_span_id,
        SpanId::from_hex(UPSTREAM_SPAN).unwrap()
    );
    assert_eq!(attribute(call, "rpc.method").as_deref(), Some("RecordHire"));
    assert_eq!(
        attribute(call, "rpc.service").as_deref(),
        Some("talent.recruiting.v1.EmploymentService")
    );
    assert_eq!(attribute(call, "request_id").as_deref(), Some("hire-1"));
    assert_eq!(attribute(call, "talent.peer").as_deref(), Some("pa"));
    assert_eq!(
        attribute(call, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );

    // The store's transaction, inside the call.
    let transaction = in_trace
        .iter()
        .find(|s| s.name == "store.transaction")
        .expect("the hire's transaction is in the caller's trace");
    let mut ancestor = transaction.parent_span_id;
    let mut chain = Vec::new();
    while let Some(parent) = in_trace
        .iter()
        .find(|s| s.span_context.span_id() == ancestor)
    {
        chain.push(parent.name.to_string());
        ancestor = parent.parent_span_id;
    }
    assert!(chain.contains(&"rpc".to_owned()), "{chain:?}");

    // The relay's batch and metrics' application each link to the
    // transaction that wrote the event: one span covers many events.
    assert!(
        spans
            .iter()
            .any(|s| s.name == "relay.batch" && links_to(s, transaction)),
        "a relay batch links to the hire's transaction"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "metrics.apply" && links_to(s, transaction)),
        "metrics' application links to the hire's transaction"
    );
    app.stop().await;
}

#[tokio::test]
async fn no_span_is_exported_when_traces_are_off() {
    assert!(
        Settings::from_env("talent-test", |_| None)
            .unwrap()
            .is_none(),
        "no endpoint, no export"
    );
    // An exporter exists, but the subscriber is built without it, as
    // `telemetry::init` builds it when no endpoint is set.
    let exporter = InMemorySpanExporter::default();
    let _unused = Traces::with_exporter("talent-test", exporter.clone());
    let logs = Captured::default();
    let _subscriber = install(LogFormat::Human, &logs, None, Scope::Thread);
    let app = TestApp::spawn_with_relay().await;
    let (platform, employer) = hiring_platform(&app).await;
    assert_eq!(record_hire(&app, &platform, &employer).await, "hire-1");
    app.relay_drained().await;
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    app.stop().await;
}

/// Imports one roster row, with `request_id` when given; returns the id
/// the response names.
async fn import_roster(metrics: &Metrics, request_id: Option<&str>) -> String {
    let row = m::roster_row(
        &m::person(1),
        "4137010423",
        DegreeLevel::Bachelor as i32,
        Discipline::Engineering as i32,
        m::date(2020, 6, 30),
    );
    let mut request = m::with_key(
        tokio_stream::iter([mpb::ImportGraduateRosterRequest { rows: vec![row] }]),
        &metrics.roster_key,
    );
    if let Some(id) = request_id {
        request
            .metadata_mut()
            .insert(REQUEST_ID, id.parse().unwrap());
    }
    let response = mpb::ingest_service_client::IngestServiceClient::new(metrics.channel.clone())
        .import_graduate_roster(request)
        .await
        .expect("ImportGraduateRoster");
    echoed_request_id(response.metadata())
}

#[tokio::test]
#[ignore = "run in a process of its own by every_log_line_of_a_call_names_its_request_id"]
async fn request_ids_alone_human() {
    request_ids_in_log_lines(LogFormat::Human).await;
}

#[tokio::test]
#[ignore = "run in a process of its own by every_log_line_of_a_call_names_its_request_id"]
async fn request_ids_alone_json() {
    request_ids_in_log_lines(LogFormat::Json).await;
}

async fn request_ids_in_log_lines(format: LogFormat) {
    let logs = Captured::default();
    install(format, &logs, None, Scope::Process);
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;

    let sent = import_roster(&metrics, Some("roster-7")).await;
    assert_eq!(sent, "roster-7");
    // A client that sends none (or one that is not sane) gets one.
    let made = import_roster(&metrics, None).await;
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let replaced = import_roster(&metrics, Some("two words")).await;
    assert_ne!(replaced, "two words");
    assert_ne!(replaced, made);
    app.stop().await;

    let lines: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("roster imported"))
        .collect();
    assert_eq!(lines.len(), 3, "{format:?}: {lines:#?}");
    for (line, id) in lines.iter().zip([&sent, &made, &replaced]) {
        match format {
            LogFormat::Human => {
                assert!(line.contains(&format!("request_id={id}")), "{line}");
            }
            LogFormat::Json => {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let ids: Vec<&str> = value["spans"]
                    .as_array()
                    .expect("the spans of the line")
                    .iter()
                    .filter_map(|s| s["request_id"].as_str())
                    .collect();
                assert_eq!(ids, [id.as_str()], "{line}");
            }
        }
    }
}
