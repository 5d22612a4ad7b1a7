use std::sync::Mutex;

use talent_proto::talent::recruiting::v1 as pb;

use super::*;

const ERASE: &str = "/talent.recruiting.v1.ResumeService/ErasePerson";
const TABLE: &[(&str, Audit)] = &[(ERASE, Audit::Recorded)];
const FIELDS: &[Fields] = &[Fields::of(
    "talent.recruiting.v1.ErasePersonRequest",
    &["reason"],
    &["resident_id_number", "person_key"],
)];

fn frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn a_request_is_recorded_without_its_personal_fields() {
    let redactor = Redactor::new(TABLE, FIELDS, talent_proto::FILE_DESCRIPTOR_SET).unwrap();
    let request = pb::ErasePersonRequest {
        person: Some(pb::erase_person_request::Person::ResidentIdNumber(
            "11010519491231002X".into(),
        )),
        reason: "ticket 42".into(),
    };
    let json = redactor.request_json(ERASE, &frame(&request));
    assert_eq!(json, r#"{"reason":"ticket 42"}"#);
    assert_eq!(redactor.request_json(ERASE, &[]), "{}", "nothing read");
    assert_eq!(
        redactor.request_json(ERASE, &[0, 0, 0, 0, 9, 1]),
        "",
        "cut short"
    );
    assert_eq!(
        redactor.request_json(ERASE, &[1, 0, 0, 0, 0]),
        "",
        "compressed"
    );
}

#[test]
fn fields_left_unclassified_are_not_recorded_and_are_named() {
    let unclassified = [Fields::of(
        "talent.recruiting.v1.ErasePersonRequest",
        &["reason"],
        &["person_key"],
    )];
    let redactor = Redactor::new(TABLE, &unclassified, talent_proto::FILE_DESCRIPTOR_SET).unwrap();
    let request = pb::ErasePersonRequest {
        person: Some(pb::erase_person_request::Person::ResidentIdNumber(
            "11010519491231002X".into(),
        )),
        reason: String::new(),
    };
    assert_eq!(redactor.request_json(ERASE, &frame(&request)), "{}");
    let served = crate::methods::Methods::of(
        &["talent.recruiting.v1.ResumeService"],
        &[talent_proto::FILE_DESCRIPTOR_SET],
    )
    .unwrap();
    let found = mismatches(
        TABLE,
        &unclassified,
        &served,
        talent_proto::FILE_DESCRIPTOR_SET,
    );
    assert!(
        found.contains(
            &"talent.recruiting.v1.ErasePersonRequest.resident_id_number is in an audited request but not classified"
                .to_owned()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(
            &"/talent.recruiting.v1.ResumeService/GetResume is served but has no audit entry"
                .to_owned()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(
            &"/talent.recruiting.v1.ResumeService/UpsertResumes is served but has no audit entry"
                .to_owned()
        ),
        "{found:?}"
    );
}

#[test]
fn a_streaming_method_cannot_be_audited() {
    let path = "/talent.recruiting.v1.ResumeService/UpsertResumes";
    let served = crate::methods::Methods::of(
        &["talent.recruiting.v1.ResumeService"],
        &[talent_proto::FILE_DESCRIPTOR_SET],
    )
    .unwrap();
    let found = mismatches(
        &[(path, Audit::Queued)],
        &[],
        &served,
        talent_proto::FILE_DESCRIPTOR_SET,
    );
    assert!(
        found.contains(&format!(
            "{path} streams; only unary methods can be audited"
        )),
        "{found:?}"
    );
}

/// Keeps rows in memory; refuses the first `failures` appends.
#[derive(Default)]
struct Memory {
    rows: Mutex<Vec<AuditRow>>,
    failures: Mutex<u32>,
    /// The number of rows of each append that committed.
    appends: Mutex<Vec<usize>>,
}

impl AuditSink for Memory {
    fn append<'a>(
        &'a self,
        rows: &'a [AuditRow],
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                anyhow::bail!("the disk is full");
            }
            self.rows.lock().unwrap().extend_from_slice(rows);
            self.appends.lock().unwrap().push(rows.len());
            Ok(())
        })
    }

    fn prune(
        &self,
        _now: i64,
        _retention: std::time::Duration,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send + '_>> {
        Box::pin(async { Ok(0) })
    }
}

/// A writer over rows in memory that refuses its first `failures` appends.
fn start(failures: u32) -> (Arc<Memory>, AuditQueue, AuditWriter) {
    let memory = Arc::new(Memory::default());
    *memory.failures.lock().unwrap() = failures;
    let redactor = Redactor::new(TABLE, FIELDS, talent_proto::FILE_DESCRIPTOR_SET).unwrap();
    let (queue, writer) = AuditWriter::start(memory.clone(), redactor, None);
    (memory, queue, writer)
}

fn event(at: i64) -> Event {
    Event {
        at,
        key: "admin".into(),
        method: ERASE.into(),
        request: Bytes::new(),
        code: 0,
        message: String::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_recorded_call_returns_once_its_row_committed_even_after_failures() {
    let (memory, queue, writer) = start(2);
    queue.record(event(1), true).await;
    assert_eq!(memory.rows.lock().unwrap().len(), 1);
    assert_eq!(
        *memory.failures.lock().unwrap(),
        0,
        "both failures were retried"
    );
    writer.finish().await;
}

#[tokio::test]
async fn queued_events_are_written_when_the_writer_finishes() {
    let (memory, queue, writer) = start(0);
    // More than the queue holds: recording waits instead of dropping.
    let n = writer::QUEUE_CAPACITY as i64 * 2;
    for at in 0..n {
        queue.record(event(at), false).await;
    }
    writer.finish().await;
    let rows = memory.rows.lock().unwrap();
    assert_eq!(rows.len(), n as usize);
    assert!(rows.iter().enumerate().all(|(i, r)| r.at == i as i64));
}

#[tokio::test(start_paused = true)]
async fn queued_events_are_appended_together_and_a_recorded_call_does_not_wait_for_them() {
    let (memory, queue, writer) = start(0);
    for at in 0..3 {
        queue.record(event(at), false).await;
        tokio::time::sleep(writer::LINGER / 10).await;
    }
    tokio::time::sleep(writer::LINGER * 2).await;
    assert_eq!(
        *memory.appends.lock().unwrap(),
        [3],
        "one append for the three"
    );

    queue.record(event(3), false).await;
    let started = tokio::time::Instant::now();
    queue.record(event(4), true).await;
    assert!(
        started.elapsed() < writer::LINGER,
        "a recorded call is written at once"
    );
    assert_eq!(*memory.appends.lock().unwrap(), [3, 2]);
    writer.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_worth_of_queued_events_ends_the_gathering() {
    let (memory, queue, writer) = start(0);
    queue.record(event(0), false).await;
    // The writer has taken the first event and gathers.
    tokio::time::sleep(writer::LINGER / 10).await;
    for at in 1..=writer::BATCH as i64 {
        queue.record(event(at), false).await;
    }
    let burst = tokio::time::Instant::now();
    while memory.appends.lock().unwrap().is_empty() {
        tokio::time::sleep(writer::LINGER / 100).await;
    }
    assert!(
        burst.elapsed() < writer::LINGER / 2,
        "a full batch is appended without waiting out the gathering"
    );
    assert_eq!(memory.appends.lock().unwrap()[0], writer::BATCH);
    writer.finish().await;
    assert_eq!(memory.rows.lock().unwrap().len(), writer::BATCH + 1);
}
