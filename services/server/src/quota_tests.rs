use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use talent_proto::talent::recruiting::v1 as pb;

use super::*;

/// A clock the test moves by hand.
#[derive(Clone, Default)]
struct Manual(Arc<AtomicU64>);

impl Manual {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

fn quotas(max_calls: u32, max_streams: u32, items_per_sec: u32, burst: u32) -> (Quotas, Manual) {
    let clock = Manual::default();
    let settings = QuotaSettings {
        max_calls,
        max_streams,
        items_per_sec,
        burst,
    };
    (Quotas::with_clock(settings, clock.clone()), clock)
}

fn platform(name: &str) -> Holder {
    Holder {
        subject: format!("platforms/{name}"),
        rate_limited: true,
    }
}

fn reader(id: &str) -> Holder {
    Holder {
        subject: format!("keys/{id}"),
        rate_limited: false,
    }
}

fn keys_remembered(quotas: &Quotas) -> usize {
    quotas
        .0
        .shards
        .iter()
        .map(|s| s.lock().unwrap().len())
        .sum()
}

#[test]
fn calls_beyond_the_cap_are_refused_and_a_dropped_permit_frees_its_slot() {
    let (quotas, _) = quotas(2, 0, 0, 0);
    let a = reader("a");
    let first = quotas.admit(&a, false).unwrap();
    let _second = quotas.admit(&a, true).unwrap();
    assert_eq!(
        quotas.admit(&a, false).unwrap_err(),
        Refusal::Calls { cap: 2 }
    );
    // Another key is not touched by a's calls.
    let _other = quotas.admit(&reader("b"), false).unwrap();
    drop(first);
    let _third = quotas.admit(&a, false).unwrap();
}

#[test]
fn streams_have_a_cap_of_their_own_within_the_calls() {
    let (quotas, _) = quotas(10, 2, 0, 0);
    let p = platform("p1");
    let s1 = quotas.admit(&p, true).unwrap();
    let _s2 = quotas.admit(&p, true).unwrap();
    assert_eq!(
        quotas.admit(&p, true).unwrap_err(),
        Refusal::Streams { cap: 2 }
    );
    // Unary calls still fit under the calls cap.
    let _unary = quotas.admit(&p, false).unwrap();
    // A second platform opens its streams.
    let _q1 = quotas.admit(&platform("p2"), true).unwrap();
    let _q2 = quotas.admit(&platform("p2"), true).unwrap();
    // Ending one of p1's streams lets another in.
    drop(s1);
    let _s3 = quotas.admit(&p, true).unwrap();
}

#[test]
fn zero_turns_a_cap_off() {
    let (quotas, _) = quotas(0, 0, 0, 0);
    let permits: Vec<_> = (0..1000)
        .map(|_| quotas.admit(&reader("a"), true).unwrap())
        .collect();
    assert_eq!(permits.len(), 1000);
    assert!(!permits[0].rate_limited());
}

#[test]
fn a_key_without_calls_and_with_a_full_bucket_is_forgotten() {
    let (quotas, clock) = quotas(4, 4, 100, 10);
    let permit = quotas.admit(&platform("p"), false).unwrap();
    permit.try_take(5).unwrap();
    drop(permit);
    assert_eq!(keys_remembered(&quotas), 1, "the bucket is not full yet");
    clock.advance(Duration::from_millis(50));
    drop(quotas.admit(&platform("p"), false).unwrap());
    assert_eq!(keys_remembered(&quotas), 0);
    drop(quotas.admit(&reader("r"), false).unwrap());
    assert_eq!(keys_remembered(&quotas), 0, "a key without a bucket");
}

#[test]
fn the_bucket_covers_its_burst_then_refills_at_its_rate() {
    // 10 items a second, bursts of 20.
    let (quotas, clock) = quotas(0, 0, 10, 20);
    let permit = quotas.admit(&platform("p"), false).unwrap();
    assert!(permit.rate_limited());
    permit.try_take(15).unwrap();
    permit.try_take(5).unwrap();
    // Empty: one item is 0.1 s away, eight are 0.8 s away.
    assert_eq!(
        permit.try_take(8).unwrap_err(),
        Refusal::Rate {
            items: 8,
            per_sec: 10,
            burst: 20,
            retry_after: Duration::from_millis(800)
        }
    );
    clock.advance(Duration::from_millis(500));
    // 5 items back: 8 still need 0.3 s more.
    match permit.try_take(8).unwrap_err() {
        Refusal::Rate { retry_after, .. } => {
            assert!(
                retry_after.abs_diff(Duration::from_millis(300)) < Duration::from_micros(1),
                "{retry_after:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    permit.try_take(5).unwrap();
    // A long pause refills the burst and no more.
    clock.advance(Duration::from_secs(3600));
    permit.try_take(20).unwrap();
    assert!(permit.try_take(1).is_err());
}

#[test]
fn a_call_larger_than_the_burst_can_never_be_covered() {
    let (quotas, _) = quotas(0, 0, 10, 20);
    let permit = quotas.admit(&platform("p"), false).unwrap();
    assert_eq!(
        permit.try_take(21).unwrap_err(),
        Refusal::TooLarge {
            items: 21,
            burst: 20
        }
    );
    // Nothing was taken.
    permit.try_take(20).unwrap();
}

#[test]
fn keys_without_a_rate_are_never_counted() {
    let (quotas, _) = quotas(0, 0, 10, 20);
    let permit = quotas.admit(&reader("relay"), true).unwrap();
    assert!(!permit.rate_limited());
    permit.try_take(1_000_000).unwrap();
    assert_eq!(permit.reserve(1_000_000), Duration::ZERO);
}

#[test]
fn each_platform_has_its_own_bucket() {
    let (quotas, _) = quotas(0, 0, 10, 20);
    let p1 = quotas.admit(&platform("p1"), false).unwrap();
    let p2 = quotas.admit(&platform("p2"), false).unwrap();
    p1.try_take(20).unwrap();
    assert!(p1.try_take(1).is_err());
    p2.try_take(20).unwrap();
}

#[test]
fn a_paced_stream_takes_into_debt_and_waits_until_it_is_paid() {
    let (quotas, clock) = quotas(0, 0, 100, 200);
    let stream = quotas.admit(&platform("p"), true).unwrap();
    // 200 in the bucket: the first message goes at once.
    assert_eq!(stream.reserve(150), Duration::ZERO);
    // 50 left: 150 more put the key 100 in debt, paid in 1 s.
    assert_eq!(stream.reserve(150), Duration::from_secs(1));
    // A message larger than the burst waits for what it lacks.
    clock.advance(Duration::from_secs(1));
    assert_eq!(stream.reserve(500), Duration::from_secs(5));
    // Meanwhile a unary call of the same key finds the bucket in debt.
    let unary = quotas.admit(&platform("p"), false).unwrap();
    assert_eq!(
        unary.try_take(100).unwrap_err(),
        Refusal::Rate {
            items: 100,
            per_sec: 100,
            burst: 200,
            retry_after: Duration::from_secs(6)
        }
    );
}

#[test]
fn refusals_carry_quota_failure_and_retry_info() {
    let status = Refusal::Streams { cap: 16 }.status("platforms/p1", Some("postings"));
    assert_eq!(status.code(), Code::ResourceExhausted);
    let failure = status.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(failure.violations.len(), 1);
    assert_eq!(failure.violations[0].subject, "platforms/p1");
    assert_eq!(
        failure.violations[0].description,
        "open streams per key: at most 16"
    );
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(CAP_RETRY_DELAY));

    let status = Refusal::Rate {
        items: 8,
        per_sec: 10,
        burst: 20,
        retry_after: Duration::from_millis(800),
    }
    .status("platforms/p1", Some("postings"));
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.get_details_retry_info().unwrap().retry_delay,
        Some(Duration::from_millis(800))
    );
    assert_eq!(
        status.get_details_quota_failure().unwrap().violations[0].description,
        "items per second per key: at most 10, bursts of at most 20; this call has 8"
    );

    let status = Refusal::TooLarge {
        items: 21,
        burst: 20,
    }
    .status("platforms/p1", Some("postings"));
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("BadRequest");
    assert_eq!(bad.field_violations[0].field, "postings");
}

/// A gRPC frame (uncompressed) of `message`.
fn frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut framed = vec![0];
    framed.extend((body.len() as u32).to_be_bytes());
    framed.extend(body);
    framed
}

fn postings(n: usize) -> pb::UpsertPostingsRequest {
    pb::UpsertPostingsRequest {
        postings: (0..n)
            .map(|i| pb::Posting {
                external_id: format!("job-{i}"),
                // Long enough for a two-byte length.
                title: "数据分析师".repeat(i * 3),
                headcount: i as i32,
                ..Default::default()
            })
            .collect(),
    }
}

#[test]
fn items_are_the_elements_of_the_items_field_whatever_the_chunks() {
    let mut body = frame(&postings(3));
    body.extend(frame(&postings(1)));
    body.extend(frame(&postings(0)));
    body.extend(frame(&postings(40)));
    // 3 + 1 + 1 (a message counts at least one) + 40.
    let expected = 45;
    assert_eq!(ItemCounter::new(Some(1)).feed(&body), expected);
    for chunk in [1, 2, 3, 5, 7, 64, 1000] {
        let mut counter = ItemCounter::new(Some(1));
        let counted: u64 = body.chunks(chunk).map(|c| counter.feed(c)).sum();
        assert_eq!(counted, expected, "chunks of {chunk}");
    }
    // Without an items field, one a message.
    assert_eq!(ItemCounter::new(None).feed(&body), 4);
}

#[test]
fn a_compressed_or_malformed_message_counts_one() {
    let mut compressed = frame(&postings(3));
    compressed[0] = 1;
    compressed.extend(frame(&postings(2)));
    assert_eq!(ItemCounter::new(Some(1)).feed(&compressed), 1 + 2);

    // A group wire type (3) and an endless varint: opaque to the end of
    // the message, and the next message is counted again.
    let mut malformed = vec![0, 0, 0, 0, 4, 0x0b, 0xff, 0xff, 0xff];
    malformed.extend(frame(&postings(2)));
    assert_eq!(ItemCounter::new(Some(1)).feed(&malformed), 1 + 2);
    let mut endless = vec![0, 0, 0, 0, 12, 0x0a];
    endless.extend([0xff; 11]);
    endless.extend(frame(&postings(2)));
    assert_eq!(ItemCounter::new(Some(1)).feed(&endless), 1 + 2);
}

#[test]
fn shapes_name_streams_and_items_from_the_descriptors() {
    let shapes = Shapes::of(&[talent_proto::FILE_DESCRIPTOR_SET]).unwrap();
    let upsert = shapes.get("/talent.recruiting.v1.PostingService/UpsertPostings");
    assert!(upsert.client_streaming && upsert.server_streaming && upsert.streams());
    assert_eq!(upsert.items, Some((1, "postings".to_owned())));
    let batch = shapes.get("/talent.recruiting.v1.ApplicationService/BatchCreateApplications");
    assert!(!batch.streams());
    assert_eq!(
        batch.items.as_ref().map(|(_, name)| name.as_str()),
        Some("requests")
    );
    let get = shapes.get("/talent.recruiting.v1.PostingService/GetPosting");
    assert_eq!(get, &Shape::default());
    let publish = shapes.get("/talent.metrics.v1.IngestService/PublishEvents");
    assert!(publish.client_streaming);
    assert_eq!(shapes.get("/made.Up/Method"), &Shape::default());
}

/// A request body fed by a channel: chunks arrive when the test says.
struct Fed(tokio::sync::mpsc::UnboundedReceiver<Bytes>);

impl HttpBody for Fed {
    type Data = Bytes;
    type Error = Status;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_over_its_rate_is_paced_not_refused() {
    // One item a second, bursts of five.
    let quotas = Quotas::new(QuotaSettings {
        max_calls: 0,
        max_streams: 0,
        items_per_sec: 1,
        burst: 5,
    });
    let permit = quotas.admit(&platform("p"), true).unwrap();
    let (feed, fed) = tokio::sync::mpsc::unbounded_channel();
    for n in [3, 4, 1] {
        feed.send(Bytes::from(frame(&postings(n)))).unwrap();
    }
    drop(feed);
    let mut body = Box::pin(Paced::new(
        Body::new(Fed(fed)),
        ItemCounter::new(Some(1)),
        permit.bucket(),
    ));
    let started = tokio::time::Instant::now();
    let mut delivered = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.unwrap();
        assert!(frame.is_data());
        delivered.push(started.elapsed());
    }
    // 3 of 5 at once; 4 more leave the key 2 in debt, paid in 2 s; then
    // 1 more, 1 s later.
    assert_eq!(
        delivered,
        [
            Duration::ZERO,
            Duration::from_secs(2),
            Duration::from_secs(3)
        ]
    );
}

#[test]
fn the_platforms_facts_are_counted_in_exactly_these_fields() {
    let shapes = Shapes::of(&[talent_proto::FILE_DESCRIPTOR_SET]).unwrap();
    let mut counted: Vec<String> = shapes
        .0
        .iter()
        .filter(|(path, _)| path.starts_with("/talent.recruiting.v1."))
        .filter_map(|(path, shape)| {
            let (_, name) = shape.items.as_ref()?;
            Some(format!("{} {name}", path.rsplit('/').next().unwrap()))
        })
        .collect();
    counted.sort();
    assert_eq!(
        counted,
        [
            "BatchCreateApplications requests",
            "BatchCreateFairs requests",
            "BatchRecordHires requests",
            "BatchRecordSeparations requests",
            "BatchRegisterParticipations requests",
            "BatchUpdateApplicationStatus requests",
            "BatchUpsertEmployers employers",
            "BatchUpsertPostings postings",
            "UpsertPostings postings",
            "UpsertResumes resumes",
        ]
    );
}
