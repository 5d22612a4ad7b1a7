//! PostingService: upserts (batch and stream), openings, field-mask
//! updates, closing, expiry, listing, isolation, and the outbox events each
//! change writes.

use std::collections::BTreeMap;

use crate::support;

use support::{
    TestApp,
    recruiting::{
        DAY, TestPlatform, authed, credit_code, employer, item_error, now_secs, posting, ts,
        violated_fields,
    },
};
use talent_proto::talent::{events::v1 as ev, recruiting::v1 as pb, r#type::v1 as types};
use tonic::Code;

/// Two platforms and two employers (one in 370212 / C39, one in 370203 / I).
async fn setup(app: &TestApp) -> (TestPlatform, TestPlatform, String, String) {
    let a = app.create_platform("a").await;
    let b = app.create_platform("b").await;
    let e1 = credit_code("91370200MA3C20001");
    let e2 = credit_code("91370200MA3C20002");
    let results = app
        .push_employers(
            &a,
            vec![
                employer(&e1, "海尔", "370212", "C39"),
                employer(&e2, "软件园", "370203", "I"),
            ],
        )
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.outcome() == pb::UpsertOutcome::Created)
    );
    (a, b, e1, e2)
}

fn outcomes(results: &[pb::PostingResult]) -> Vec<pb::UpsertOutcome> {
    results.iter().map(|r| r.outcome()).collect()
}

fn facts(payload: &ev::event::Payload) -> (&'static str, Option<&ev::PostingFacts>) {
    match payload {
        ev::event::Payload::PostingPublished(p) => ("published", p.facts.as_ref()),
        ev::event::Payload::PostingUpdated(p) => ("updated", p.facts.as_ref()),
        ev::event::Payload::PostingClosed(_) => ("closed", None),
        _ => ("other", None),
    }
}

#[tokio::test]
async fn a_posting_is_created_then_unchanged_then_updated() {
    let app = TestApp::spawn().await;
    let (a, _, e1, _) = setup(&app).await;
    let publish = now_secs() - DAY;

    let first = pb::Posting {
        publish_time: Some(ts(publish)),
        description: "line one\n\tline two".into(),
        tags: vec!["java".into(), "remote".into(), "java".into()],
        salary: Some(pb::MonthlySalaryRange {
            min_cny: 8000,
            max_cny: 12000,
        }),
        ..posting("job-1", " Java 开发工程师 ", &e1)
    };
    let results = app.push_postings(&a, vec![first.clone()]).await;
    assert_eq!(outcomes(&results), [pb::UpsertOutcome::Created]);
    assert_eq!(results[0].name, "platforms/a/postings/job-1");
    assert_eq!(results[0].external_id, "job-1");
    let opening = results[0].opening_id.clone();
    assert_eq!(opening.len(), 36);

    let stored = app.get_posting(&a, "job-1").await;
    assert_eq!(stored.title, "Java 开发工程师");
    assert_eq!(stored.description, "line one\n\tline two");
    // Defaults: the employer's district and industry, full time, 30 days.
    assert_eq!(stored.workplace_district, "370212");
    assert_eq!(stored.industry, "C39");
    assert_eq!(stored.employment_type(), types::EmploymentType::FullTime);
    assert_eq!(stored.publish_time, Some(ts(publish)));
    assert_eq!(stored.expire_time, Some(ts(publish + 30 * DAY)));
    assert_eq!(stored.tags, ["java", "remote"]);
    assert_eq!(stored.state(), pb::posting::State::Open);
    assert_eq!(stored.opening_id, opening);
    assert!(stored.close_time.is_none());

    // The identical posting again: UNCHANGED, no event.
    let again = app.push_postings(&a, vec![first.clone()]).await;
    assert_eq!(outcomes(&again), [pb::UpsertOutcome::Unchanged]);
    assert_eq!(app.outbox().await.len(), 1);
    // Without publish_time, the stored one stays: still UNCHANGED.
    let no_publish = pb::Posting {
        publish_time: None,
        ..first.clone()
    };
    let again = app.push_postings(&a, vec![no_publish]).await;
    assert_eq!(outcomes(&again), [pb::UpsertOutcome::Unchanged]);

    // A change outside the statistical facts: UPDATED, no event.
    let described = pb::Posting {
        description: "new text".into(),
        ..first.clone()
    };
    let updated = app.push_postings(&a, vec![described.clone()]).await;
    assert_eq!(outcomes(&updated), [pb::UpsertOutcome::Updated]);
    assert_eq!(app.outbox().await.len(), 1);

    // A headcount change: UPDATED with a PostingUpdated at revision 2.
    let bigger = pb::Posting {
        headcount: 3,
        ..described
    };
    let updated = app.push_postings(&a, vec![bigger]).await;
    assert_eq!(outcomes(&updated), [pb::UpsertOutcome::Updated]);
    assert_eq!(updated[0].opening_id, opening);

    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 2);
    for (seq, event) in &outbox {
        assert_eq!(event.sequence, *seq as u64);
        assert_eq!(event.source, "recruiting");
        assert_eq!(event.platform_id, "a");
        assert_eq!(event.event_id.len(), 36);
    }
    assert!(outbox[0].0 < outbox[1].0);
    let (kind, published) = facts(outbox[0].1.payload.as_ref().unwrap());
    assert_eq!(kind, "published");
    let published = published.unwrap();
    assert_eq!(published.posting, "platforms/a/postings/job-1");
    assert_eq!(published.revision, 1);
    assert_eq!(published.opening_id, opening);
    assert_eq!(published.employer_credit_code, e1);
    assert_eq!(published.workplace_district, "370212");
    assert_eq!(published.industry, "C39");
    assert_eq!(published.headcount, 1);
    assert_eq!(published.publish_time, Some(ts(publish)));
    assert_eq!(published.expire_time, Some(ts(publish + 30 * DAY)));
    assert_eq!(published.fair, "");
    let (kind, changed) = facts(outbox[1].1.payload.as_ref().unwrap());
    assert_eq!(kind, "updated");
    assert_eq!(changed.unwrap().revision, 2);
    assert_eq!(changed.unwrap().headcount, 3);

    // publish_time is immutable.
    let moved = pb::Posting {
        publish_time: Some(ts(publish - 60)),
        ..first
    };
    let rejected = app.push_postings(&a, vec![moved]).await;
    assert_eq!(outcomes(&rejected), [pb::UpsertOutcome::Rejected]);
    assert_eq!(
        item_error!(rejected[0]),
        (
            Code::InvalidArgument,
            vec!["postings[0].publish_time".to_owned()]
        )
    );
    assert_eq!(app.outbox().await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn one_bad_posting_never_fails_the_others() {
    let app = TestApp::spawn().await;
    let (a, _, e1, _) = setup(&app).await;
    let now = now_secs();
    let unknown_employer = credit_code("91370200MA3C29999");
    let batch = vec![
        posting("ok-1", "Good", &e1),
        pb::Posting {
            salary: Some(pb::MonthlySalaryRange {
                min_cny: 9000,
                max_cny: 8000,
            }),
            headcount: 0,
            ..posting("bad-1", "Bad", &e1)
        },
        posting("bad-2", "No employer", &unknown_employer),
        pb::Posting {
            title: "a\u{0}b".into(),
            minimum_degree_level: 42,
            employment_type: -1,
            ..posting("bad 3", "x", &e1)
        },
        pb::Posting {
            publish_time: Some(ts(now + 3600)),
            ..posting("bad-4", "Future", &e1)
        },
        pb::Posting {
            publish_time: Some(ts(now - DAY)),
            expire_time: Some(ts(now - 2 * DAY)),
            ..posting("bad-5", "Backwards", &e1)
        },
        pb::Posting {
            tags: (0..21).map(|i| format!("t{i}")).collect(),
            workplace_district: "3702".into(),
            industry: "A39".into(),
            experience_years: 51,
            ..posting("bad-6", "Tags", &e1)
        },
        pb::Posting {
            fair: "platforms/b/fairs/f1".into(),
            publish_time: Some(ts(1)),
            ..posting("bad-7", "Fair", &e1)
        },
        pb::Posting {
            fair: "platforms/a/fairs/none".into(),
            ..posting("bad-8", "No fair", &e1)
        },
        posting("ok-2", "Good too", &e1),
    ];
    let results = app.push_postings(&a, batch).await;
    use pb::UpsertOutcome::{Created, Rejected};
    assert_eq!(
        outcomes(&results),
        [
            Created, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected,
            Rejected, Created
        ]
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.index, i as i32);
    }
    let fields = |i: usize| item_error!(results[i]).1;
    assert_eq!(
        fields(1),
        ["postings[1].salary.max_cny", "postings[1].headcount"]
    );
    assert_eq!(fields(2), ["postings[2].employer_credit_code"]);
    assert_eq!(
        fields(3),
        [
            "postings[3].external_id",
            "postings[3].title",
            "postings[3].minimum_degree_level",
            "postings[3].employment_type"
        ]
    );
    assert_eq!(fields(4), ["postings[4].publish_time"]);
    assert_eq!(fields(5), ["postings[5].expire_time"]);
    assert_eq!(
        fields(6),
        [
            "postings[6].workplace_district",
            "postings[6].industry",
            "postings[6].experience_years",
            "postings[6].tags"
        ]
    );
    assert_eq!(fields(7), ["postings[7].publish_time", "postings[7].fair"]);
    assert_eq!(fields(8), ["postings[8].fair"]);
    // Only the two good postings wrote events.
    let published: Vec<String> = app
        .outbox_payloads()
        .await
        .iter()
        .map(|p| facts(p).1.unwrap().posting.clone())
        .collect();
    assert_eq!(
        published,
        ["platforms/a/postings/ok-1", "platforms/a/postings/ok-2"]
    );

    let mut client = app.recruiting().await.postings;
    let empty = client
        .batch_upsert_postings(authed(
            pb::BatchUpsertPostingsRequest { postings: vec![] },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["postings"]);
    let too_many = client
        .batch_upsert_postings(authed(
            pb::BatchUpsertPostingsRequest {
                postings: vec![posting("x", "x", &e1); 1001],
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["postings"]);
    app.stop().await;
}

#[tokio::test]
async fn the_stream_answers_each_message_in_order_and_replays_are_unchanged() {
    let app = TestApp::spawn().await;
    let (a, _, e1, e2) = setup(&app).await;
    let mut client = app.recruiting().await.postings;
    let messages = vec![
        pb::UpsertPostingsRequest {
            postings: (0..3)
                .map(|i| posting(&format!("s-{i}"), &format!("Job {i}"), &e1))
                .collect(),
        },
        pb::UpsertPostingsRequest {
            postings: vec![
                posting("s-3", "Job 3", &e2),
                pb::Posting {
                    headcount: 0,
                    ..posting("s-4", "Bad", &e2)
                },
                posting("s-5", "Job 5", &e2),
            ],
        },
    ];
    let responses = client
        .upsert_postings(authed(tokio_stream::iter(messages.clone()), &a.key))
        .await
        .unwrap()
        .into_inner();
    let responses: Vec<pb::UpsertPostingsResponse> =
        tokio_stream::StreamExt::collect::<Result<Vec<_>, _>>(responses)
            .await
            .unwrap();
    assert_eq!(responses.len(), 2);
    let ids: Vec<Vec<&str>> = responses
        .iter()
        .map(|r| r.results.iter().map(|x| x.external_id.as_str()).collect())
        .collect();
    assert_eq!(ids, [["s-0", "s-1", "s-2"], ["s-3", "s-4", "s-5"]]);
    use pb::UpsertOutcome::{Created, Rejected, Unchanged};
    assert_eq!(outcomes(&responses[0].results), [Created, Created, Created]);
    assert_eq!(
        outcomes(&responses[1].results),
        [Created, Rejected, Created]
    );
    assert_eq!(
        item_error!(responses[1].results[1]).1,
        ["postings[1].headcount"]
    );
    assert_eq!(app.outbox().await.len(), 5);

    // Resending the same stream is safe: UNCHANGED, no new events.
    let replay = client
        .upsert_postings(authed(tokio_stream::iter(messages), &a.key))
        .await
        .unwrap()
        .into_inner();
    let replay: Vec<pb::UpsertPostingsResponse> =
        tokio_stream::StreamExt::collect::<Result<Vec<_>, _>>(replay)
            .await
            .unwrap();
    assert_eq!(
        outcomes(&replay[0].results),
        [Unchanged, Unchanged, Unchanged]
    );
    assert_eq!(
        outcomes(&replay[1].results),
        [Unchanged, Rejected, Unchanged]
    );
    assert_eq!(app.outbox().await.len(), 5);

    // An empty message fails the stream after the messages before it were
    // acknowledged and committed.
    let with_empty = vec![
        pb::UpsertPostingsRequest {
            postings: vec![posting("s-6", "Job 6", &e1)],
        },
        pb::UpsertPostingsRequest { postings: vec![] },
        pb::UpsertPostingsRequest {
            postings: vec![posting("s-7", "Job 7", &e1)],
        },
    ];
    let mut stream = client
        .upsert_postings(authed(tokio_stream::iter(with_empty), &a.key))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(outcomes(&first.results), [Created]);
    let err = stream.message().await.unwrap_err();
    assert_eq!(violated_fields(&err), ["postings"]);
    app.get_posting(&a, "s-6").await;
    let mut postings = app.recruiting().await.postings;
    let missing = postings
        .get_posting(authed(
            pb::GetPostingRequest {
                name: a.posting_name("s-7"),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Without a key the stream is refused.
    let refused = client
        .upsert_postings(tokio_stream::iter(Vec::<pb::UpsertPostingsRequest>::new()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn copies_of_one_job_on_several_platforms_are_one_opening() {
    let app = TestApp::spawn().await;
    let (a, b, e1, e2) = setup(&app).await;
    app.push_employers(&b, vec![employer(&e1, "", "", "")])
        .await;
    let now = now_secs();
    let at = |p: pb::Posting, publish: i64, expire: i64| pb::Posting {
        publish_time: Some(ts(publish)),
        expire_time: Some(ts(expire)),
        ..p
    };

    let on_a = app
        .push_postings(
            &a,
            vec![at(
                posting("a-1", "Java 开发工程师", &e1),
                now - 10 * DAY,
                now + 20 * DAY,
            )],
        )
        .await;
    let on_b = app
        .push_postings(
            &b,
            vec![
                // Same job, title written differently: the same opening.
                at(
                    posting("b-1", "ｊａｖａ  开发工程师", &e1),
                    now - 5 * DAY,
                    now + 25 * DAY,
                ),
                // Another district: another opening.
                pb::Posting {
                    workplace_district: "370203".into(),
                    ..at(
                        posting("b-2", "Java 开发工程师", &e1),
                        now - 5 * DAY,
                        now + 25 * DAY,
                    )
                },
                // Another employer: another opening.
                at(
                    posting("b-3", "Java 开发工程师", &e2),
                    now - 5 * DAY,
                    now + 25 * DAY,
                ),
                // Published after a-1 expired: another opening.
                at(
                    posting("b-4", "Java 开发工程师", &e1),
                    now - 60 * DAY,
                    now - 50 * DAY,
                ),
            ],
        )
        .await;
    let opening = &on_a[0].opening_id;
    assert_eq!(&on_b[0].opening_id, opening);
    for other in &on_b[1..] {
        assert_ne!(&other.opening_id, opening);
    }
    // The same platform pushing a second copy joins it too.
    let second = app
        .push_postings(
            &a,
            vec![at(
                posting("a-2", "JAVA 开发工程师", &e1),
                now - DAY,
                now + DAY,
            )],
        )
        .await;
    assert_eq!(&second[0].opening_id, opening);

    // A copy changed to another title leaves the opening; its event says so.
    let mut b_client = app.recruiting().await.postings;
    let moved = b_client
        .update_posting(authed(
            pb::UpdatePostingRequest {
                posting: Some(pb::Posting {
                    name: b.posting_name("b-1"),
                    title: "Rust 开发工程师".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
            },
            &b.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_ne!(&moved.opening_id, opening);
    let last = app.outbox_payloads().await.pop().unwrap();
    let (kind, f) = facts(&last);
    assert_eq!(kind, "updated");
    assert_eq!(f.unwrap().opening_id, moved.opening_id);
    assert_eq!(f.unwrap().revision, 2);

    // A copy published after the first one was closed is a new opening.
    let mut a_client = app.recruiting().await.postings;
    a_client
        .close_posting(authed(
            pb::ClosePostingRequest {
                name: a.posting_name("a-1"),
                close_time: None,
            },
            &a.key,
        ))
        .await
        .unwrap();
    a_client
        .close_posting(authed(
            pb::ClosePostingRequest {
                name: a.posting_name("a-2"),
                close_time: None,
            },
            &a.key,
        ))
        .await
        .unwrap();
    let later = app
        .push_postings(
            &b,
            vec![at(
                posting("b-5", "Java 开发工程师", &e1),
                now + 120,
                now + 30 * DAY,
            )],
        )
        .await;
    assert_ne!(&later[0].opening_id, opening);
    app.stop().await;
}

#[tokio::test]
async fn update_posting_changes_only_the_fields_in_the_mask() {
    let app = TestApp::spawn().await;
    let (a, b, e1, _) = setup(&app).await;
    let now = now_secs();
    let original = pb::Posting {
        publish_time: Some(ts(now - DAY)),
        description: "keep me".into(),
        headcount: 2,
        salary: Some(pb::MonthlySalaryRange {
            min_cny: 5000,
            max_cny: 6000,
        }),
        tags: vec!["x".into()],
        ..posting("u-1", "Welder", &e1)
    };
    app.push_postings(&a, vec![original]).await;
    let mut client = app.recruiting().await.postings;
    let update = |posting: pb::Posting, paths: &[&str]| pb::UpdatePostingRequest {
        posting: Some(posting),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };

    let changed = client
        .update_posting(authed(
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    headcount: 5,
                    // Not in the mask: ignored, even though invalid.
                    title: String::new(),
                    salary: None,
                    expire_time: Some(ts(now + 10 * DAY)),
                    ..Default::default()
                },
                &["headcount", "expire_time", "salary"],
            ),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_eq!(changed.headcount, 5);
    assert_eq!(changed.expire_time, Some(ts(now + 10 * DAY)));
    assert_eq!(changed.salary, None);
    assert_eq!(changed.title, "Welder");
    assert_eq!(changed.description, "keep me");
    assert_eq!(changed.tags, ["x"]);
    assert_eq!(changed.publish_time, Some(ts(now - DAY)));
    let stored = app.get_posting(&a, "u-1").await;
    assert_eq!(stored, changed);

    // A named field left empty takes its default.
    let defaulted = client
        .update_posting(authed(
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    ..Default::default()
                },
                &["expire_time", "tags", "description"],
            ),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_eq!(defaulted.expire_time, Some(ts(now - DAY + 30 * DAY)));
    assert!(defaulted.tags.is_empty());
    assert_eq!(defaulted.description, "");

    for (request, fields) in [
        (
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    ..Default::default()
                },
                &[],
            ),
            vec!["update_mask"],
        ),
        (
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    headcount: 0,
                    ..Default::default()
                },
                &["headcount", "external_id", "state"],
            ),
            vec![
                "posting.headcount",
                "update_mask.paths[1]",
                "update_mask.paths[2]",
            ],
        ),
        (
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    expire_time: Some(ts(now - 2 * DAY)),
                    ..Default::default()
                },
                &["expire_time"],
            ),
            vec!["posting.expire_time"],
        ),
    ] {
        let status = client
            .update_posting(authed(request, &a.key))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), fields);
    }

    // Another platform's posting does not exist for b.
    let hidden = client
        .update_posting(authed(
            update(
                pb::Posting {
                    name: a.posting_name("u-1"),
                    headcount: 1,
                    ..Default::default()
                },
                &["headcount"],
            ),
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let missing = client
        .update_posting(authed(
            update(
                pb::Posting {
                    name: a.posting_name("nope"),
                    headcount: 1,
                    ..Default::default()
                },
                &["headcount"],
            ),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn closing_and_expiry() {
    let app = TestApp::spawn().await;
    let (a, b, e1, _) = setup(&app).await;
    let now = now_secs();
    let open = pb::Posting {
        publish_time: Some(ts(now - DAY)),
        ..posting("c-1", "Driver", &e1)
    };
    let expired = pb::Posting {
        publish_time: Some(ts(now - 40 * DAY)),
        expire_time: Some(ts(now - 10 * DAY)),
        ..posting("c-2", "Cook", &e1)
    };
    app.push_postings(&a, vec![open.clone(), expired.clone()])
        .await;
    let mut client = app.recruiting().await.postings;
    let close = |name: String, close_time| pb::ClosePostingRequest { name, close_time };

    // Another platform cannot close it.
    let hidden = client
        .close_posting(authed(close(a.posting_name("c-1"), None), &b.key))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let too_early = client
        .close_posting(authed(
            close(a.posting_name("c-1"), Some(ts(now - 2 * DAY))),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_early), ["close_time"]);
    let future = client
        .close_posting(authed(
            close(a.posting_name("c-1"), Some(ts(now + DAY))),
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&future), ["close_time"]);

    let closed = client
        .close_posting(authed(
            close(a.posting_name("c-1"), Some(ts(now - 60))),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_eq!(closed.state(), pb::posting::State::Closed);
    assert_eq!(closed.close_time, Some(ts(now - 60)));
    let events = app.outbox_payloads().await;
    assert_eq!(events.len(), 3);
    let ev::event::Payload::PostingClosed(event) = &events[2] else {
        panic!("expected PostingClosed, got {:?}", events[2]);
    };
    assert_eq!(event.posting, "platforms/a/postings/c-1");
    assert_eq!(event.revision, 2);
    assert_eq!(event.reason(), ev::posting_closed::Reason::Closed);
    assert_eq!(event.close_time, Some(ts(now - 60)));

    // Closing again: unchanged, no event.
    let twice = client
        .close_posting(authed(close(a.posting_name("c-1"), None), &a.key))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_eq!(twice, closed);
    assert_eq!(app.outbox().await.len(), 3);

    // A closed posting: identical push UNCHANGED, a change refused.
    let same = app.push_postings(&a, vec![open.clone()]).await;
    assert_eq!(outcomes(&same), [pb::UpsertOutcome::Unchanged]);
    let changed = app
        .push_postings(
            &a,
            vec![pb::Posting {
                headcount: 9,
                ..open
            }],
        )
        .await;
    assert_eq!(item_error!(changed[0]).0, Code::FailedPrecondition);
    let update = client
        .update_posting(authed(
            pb::UpdatePostingRequest {
                posting: Some(pb::Posting {
                    name: a.posting_name("c-1"),
                    headcount: 2,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["headcount".into()],
                }),
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::FailedPrecondition);

    // Expiry is seen without anyone calling.
    let c2 = app.get_posting(&a, "c-2").await;
    assert_eq!(c2.state(), pb::posting::State::Expired);
    assert_eq!(c2.close_time, Some(ts(now - 10 * DAY)));
    // Closing an expired posting returns it unchanged.
    let still = client
        .close_posting(authed(close(a.posting_name("c-2"), None), &a.key))
        .await
        .unwrap()
        .into_inner()
        .posting
        .unwrap();
    assert_eq!(still.state(), pb::posting::State::Expired);
    assert_eq!(app.outbox().await.len(), 3);
    // Moving the expiry into the future reopens it.
    let reopened = app
        .push_postings(
            &a,
            vec![pb::Posting {
                expire_time: Some(ts(now + 10 * DAY)),
                ..expired
            }],
        )
        .await;
    assert_eq!(outcomes(&reopened), [pb::UpsertOutcome::Updated]);
    assert_eq!(
        app.get_posting(&a, "c-2").await.state(),
        pb::posting::State::Open
    );
    app.stop().await;
}

#[tokio::test]
async fn list_postings_filters_pages_and_isolates_platforms() {
    let app = TestApp::spawn().await;
    let (a, b, e1, e2) = setup(&app).await;
    let now = now_secs();
    let mut batch: Vec<pb::Posting> = (0..5)
        .map(|i| posting(&format!("l-{i}"), &format!("Job {i}"), &e1))
        .collect();
    batch.extend((5..8).map(|i| posting(&format!("l-{i}"), &format!("Job {i}"), &e2)));
    batch.push(pb::Posting {
        publish_time: Some(ts(now - 40 * DAY)),
        expire_time: Some(ts(now - 10 * DAY)),
        ..posting("l-8", "Old", &e1)
    });
    app.push_postings(&a, batch).await;
    app.push_postings(&b, vec![posting("b-0", "Other", &e1)])
        .await;
    let mut client = app.recruiting().await.postings;
    let list = |parent: &str, page_size, page_token: String| pb::ListPostingsRequest {
        parent: parent.to_owned(),
        page_size,
        page_token,
        ..Default::default()
    };

    // Pages of 4 cover every posting once, in (update_time, name) order.
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_postings(authed(list("platforms/-", 4, token), &a.key))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        names.extend(page.postings.into_iter().map(|p| p.external_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..9).map(|i| format!("l-{i}")).collect();
    assert_eq!(names, expected, "one batch shares one update time");

    let filtered = |req: pb::ListPostingsRequest| {
        let mut client = client.clone();
        let key = a.key.clone();
        async move {
            client
                .list_postings(authed(req, &key))
                .await
                .unwrap()
                .into_inner()
                .postings
                .into_iter()
                .map(|p| p.external_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        filtered(pb::ListPostingsRequest {
            workplace_district: "370203".into(),
            ..Default::default()
        })
        .await,
        ["l-5", "l-6", "l-7"]
    );
    assert_eq!(
        filtered(pb::ListPostingsRequest {
            industry: "C".into(),
            state: pb::posting::State::Open as i32,
            ..Default::default()
        })
        .await,
        ["l-0", "l-1", "l-2", "l-3", "l-4"]
    );
    assert_eq!(
        filtered(pb::ListPostingsRequest {
            state: pb::posting::State::Expired as i32,
            ..Default::default()
        })
        .await,
        ["l-8"]
    );
    assert_eq!(
        filtered(pb::ListPostingsRequest {
            employer_credit_code: e2.clone(),
            parent: "platforms/a".into(),
            ..Default::default()
        })
        .await,
        ["l-5", "l-6", "l-7"]
    );
    assert!(
        filtered(pb::ListPostingsRequest {
            updated_since: Some(ts(now + DAY)),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // A token belongs to its filters.
    let first = client
        .list_postings(authed(list("", 2, String::new()), &a.key))
        .await
        .unwrap()
        .into_inner();
    let changed = client
        .list_postings(authed(
            pb::ListPostingsRequest {
                page_size: 2,
                page_token: first.next_page_token,
                industry: "C".into(),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);
    let bad = client
        .list_postings(authed(
            pb::ListPostingsRequest {
                page_size: -1,
                state: 9,
                workplace_district: "x".into(),
                ..Default::default()
            },
            &a.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        ["page_size", "state", "workplace_district"]
    );

    // Isolation: b sees only its own posting; a's are NOT_FOUND to it.
    let of_b: Vec<String> = client
        .list_postings(authed(list("", 0, String::new()), &b.key))
        .await
        .unwrap()
        .into_inner()
        .postings
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(of_b, ["platforms/b/postings/b-0"]);
    let other_parent = client
        .list_postings(authed(list("platforms/a", 0, String::new()), &b.key))
        .await
        .unwrap_err();
    assert_eq!(other_parent.code(), Code::PermissionDenied);
    let hidden = client
        .get_posting(authed(
            pb::GetPostingRequest {
                name: a.posting_name("l-0"),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let malformed = client
        .get_posting(authed(
            pb::GetPostingRequest {
                name: "postings/l-0".into(),
            },
            &b.key,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&malformed), ["name"]);
    app.stop().await;
}

/// `GetPosting` calls in flight together are answered by shared batch
/// reads: each must still get its own platform's posting, `NOT_FOUND` for
/// an id its platform does not have, and what the last write stored.
#[tokio::test]
async fn concurrent_reads_each_get_their_own_platforms_posting() {
    let app = TestApp::spawn().await;
    let (a, b, e1, _) = setup(&app).await;
    app.push_employers(&b, vec![employer(&e1, "", "", "")])
        .await;
    let of = |prefix: &str, n: usize| -> Vec<pb::Posting> {
        (0..n)
            .map(|i| posting(&format!("x-{i}"), &format!("{prefix} {i}"), &e1))
            .collect()
    };
    app.push_postings(&a, of("a", 40)).await;
    app.push_postings(&b, of("b", 10)).await;

    let channel = app.recruiting_channel().await;
    let mut calls = Vec::new();
    // 100 calls of each platform in flight: its key's cap of calls in
    // flight (`max_calls_per_key`), not beyond it.
    for _ in 0..2 {
        for (platform, prefix) in [(&a, "a"), (&b, "b")] {
            for i in 0..50 {
                let mut client =
                    pb::posting_service_client::PostingServiceClient::new(channel.clone());
                let (name, key) = (
                    platform.posting_name(&format!("x-{i}")),
                    platform.key.clone(),
                );
                let expected = format!("{prefix} {i}");
                calls.push(tokio::spawn(async move {
                    let answer = client
                        .get_posting(authed(pb::GetPostingRequest { name: name.clone() }, &key))
                        .await;
                    (name, expected, answer)
                }));
            }
        }
    }
    let (mut found, mut missing) = (0, 0);
    for call in calls {
        let (name, expected, answer) = call.await.unwrap();
        match answer {
            Ok(response) => {
                let posting = response.into_inner().posting.unwrap();
                assert_eq!(posting.name, name);
                assert_eq!(posting.title, expected, "{name}");
                found += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::NotFound, "{name}: {status:?}");
                missing += 1;
            }
        }
    }
    assert_eq!((found, missing), (2 * (40 + 10), 2 * (10 + 40)));

    // A read asked for after a write returns what it wrote.
    app.push_postings(&b, vec![posting("x-3", "b 3 renamed", &e1)])
        .await;
    assert_eq!(app.get_posting(&b, "x-3").await.title, "b 3 renamed");
    assert_eq!(app.get_posting(&a, "x-3").await.title, "a 3");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_copies_from_several_platforms_still_form_one_opening() {
    let app = TestApp::spawn().await;
    let (a, b, e1, e2) = setup(&app).await;
    app.push_employers(&b, vec![employer(&e1, "", "", "")])
        .await;
    let mut tasks = Vec::new();
    for round in 0..6 {
        for platform in [a.clone(), b.clone()] {
            let channel = app.recruiting_channel().await;
            let (e1, e2) = (e1.clone(), e2.clone());
            tasks.push(tokio::spawn(async move {
                let mut client = pb::posting_service_client::PostingServiceClient::new(channel);
                client
                    .batch_upsert_postings(authed(
                        pb::BatchUpsertPostingsRequest {
                            postings: vec![
                                posting(&format!("copy-{round}"), "Java 开发", &e1),
                                posting(&format!("other-{round}"), "Java 开发", &e2),
                            ],
                        },
                        &platform.key,
                    ))
                    .await
                    .unwrap()
                    .into_inner()
                    .results
            }));
        }
    }
    for task in tasks {
        let results = task.await.unwrap();
        assert_eq!(outcomes(&results), [pb::UpsertOutcome::Created; 2]);
    }
    // A result names the opening as of its own write; a copy committed
    // later may regroup it. What is stored, and what metrics last heard,
    // is one opening per job.
    let last = last_facts(&app.outbox_payloads().await);
    let mut openings_e1 = std::collections::BTreeSet::new();
    let mut openings_e2 = std::collections::BTreeSet::new();
    for round in 0..6 {
        for platform in [&a, &b] {
            for (id, openings) in [
                (format!("copy-{round}"), &mut openings_e1),
                (format!("other-{round}"), &mut openings_e2),
            ] {
                let stored = app.get_posting(platform, &id).await;
                assert_eq!(last[&stored.name].opening_id, stored.opening_id, "{id}");
                openings.insert(stored.opening_id);
            }
        }
    }
    assert_eq!(openings_e1.len(), 1, "{openings_e1:?}");
    assert_eq!(openings_e2.len(), 1, "{openings_e2:?}");
    assert_ne!(openings_e1, openings_e2);
    // One PostingPublished per copy (and a PostingUpdated for each copy a
    // later one moved), with strictly increasing sequences.
    let events = app.outbox().await;
    let published = events
        .iter()
        .filter(|(_, e)| matches!(e.payload, Some(ev::event::Payload::PostingPublished(_))))
        .count();
    assert_eq!(published, 24);
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0));
    app.stop().await;
}

/// The stream validates a message while the one before it is in the
/// store; each message must still see what the messages before it stored.
#[tokio::test]
async fn each_stream_message_sees_what_the_messages_before_it_stored() {
    let app = TestApp::spawn().await;
    let (a, _, e1, _) = setup(&app).await;
    let mut client = app.recruiting().await.postings;
    let versions: Vec<pb::Posting> = (1..=3)
        .map(|heads| pb::Posting {
            headcount: heads.min(2),
            ..posting("p-1", "Job", &e1)
        })
        .collect();
    let messages: Vec<pb::UpsertPostingsRequest> = versions
        .iter()
        .cycle()
        .take(12)
        .map(|p| pb::UpsertPostingsRequest {
            postings: vec![p.clone()],
        })
        .collect();
    let responses = client
        .upsert_postings(authed(tokio_stream::iter(messages), &a.key))
        .await
        .unwrap()
        .into_inner();
    let responses: Vec<pb::UpsertPostingsResponse> =
        tokio_stream::StreamExt::collect::<Result<Vec<_>, _>>(responses)
            .await
            .unwrap();
    let seen: Vec<pb::UpsertOutcome> = responses
        .iter()
        .flat_map(|r| outcomes(&r.results))
        .collect();
    use pb::UpsertOutcome::{Created, Unchanged, Updated};
    let mut expected = vec![Created, Updated, Unchanged];
    for _ in 0..3 {
        expected.extend([Updated, Updated, Unchanged]);
    }
    assert_eq!(seen, expected);
    // Headcount 1 → 2 → (2) → 1 → 2 → ...: at most one event per change
    // (messages stored in one transaction write one, with their end
    // state), and the last carries what is stored.
    let payloads = app.outbox_payloads().await;
    assert!((3..=8).contains(&payloads.len()), "{}", payloads.len());
    let stored = app.get_posting(&a, "p-1").await;
    assert_eq!(stored.headcount, 2);
    assert_eq!(last_facts(&payloads)[&stored.name].headcount, 2);
    app.stop().await;
}

/// Full messages sent without waiting for answers: the service may store
/// the ones waiting together (up to 4,000 postings in one transaction);
/// whatever it groups, each message's results are those of the messages
/// applied one after the other.
#[tokio::test]
async fn full_messages_in_flight_decide_as_if_stored_one_by_one() {
    let app = TestApp::spawn().await;
    let (a, _, e1, e2) = setup(&app).await;
    let mut client = app.recruiting().await.postings;
    let job = |i: usize, headcount: i32| pb::Posting {
        headcount,
        ..posting(
            &format!("g-{i}"),
            &format!("Job {}", i % 37),
            if i.is_multiple_of(2) { &e1 } else { &e2 },
        )
    };
    // 1: g-0..999 new. 2: g-500..1499, the first half with a new
    // headcount. 3: message 1 again: g-0..499 as stored, g-500..999 back
    // to headcount 1. 4: message 3 again, all as stored.
    let first: Vec<pb::Posting> = (0..1000).map(|i| job(i, 1)).collect();
    let messages = vec![
        first.clone(),
        (500..1500).map(|i| job(i, 2)).collect(),
        first.clone(),
        first,
    ];
    let responses = client
        .upsert_postings(authed(
            tokio_stream::iter(
                messages
                    .into_iter()
                    .map(|postings| pb::UpsertPostingsRequest { postings }),
            ),
            &a.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let responses: Vec<pb::UpsertPostingsResponse> =
        tokio_stream::StreamExt::collect::<Result<Vec<_>, _>>(responses)
            .await
            .unwrap();
    use pb::UpsertOutcome::{Created, Unchanged, Updated};
    let expected = [
        vec![Created; 1000],
        [vec![Updated; 500], vec![Created; 500]].concat(),
        [vec![Unchanged; 500], vec![Updated; 500]].concat(),
        vec![Unchanged; 1000],
    ];
    assert_eq!(responses.len(), expected.len());
    for (n, (response, expected)) in responses.iter().zip(&expected).enumerate() {
        assert_eq!(&outcomes(&response.results), expected, "message {n}");
        let indexes: Vec<i32> = response.results.iter().map(|r| r.index).collect();
        assert_eq!(indexes, (0..1000).collect::<Vec<i32>>(), "message {n}");
    }
    assert_eq!(responses[1].results[0].external_id, "g-500");
    // 1,500 published; 500 headcount changes and 500 changed back, one
    // event each unless both were stored in one transaction; the last
    // facts of each posting are what is stored.
    let payloads = app.outbox_payloads().await;
    let kinds = payloads.iter().map(|p| facts(p).0);
    assert_eq!(kinds.clone().filter(|k| *k == "published").count(), 1500);
    let updated = kinds.filter(|k| *k == "updated").count();
    assert!((500..=1000).contains(&updated), "{updated}");
    let last = last_facts(&payloads);
    assert_eq!(last.len(), 1500);
    for (name, f) in &last {
        let i: usize = name.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(f.headcount, if i < 1000 { 1 } else { 2 }, "{name}");
    }
    assert_eq!(app.get_posting(&a, "g-700").await.headcount, 1);
    assert_eq!(app.get_posting(&a, "g-1200").await.headcount, 2);
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_stream_message_is_resource_exhausted_after_earlier_ones_commit() {
    let app = TestApp::spawn_with(support::Options {
        max_message_bytes: 16 * 1024,
        ..Default::default()
    })
    .await;
    let (a, _, e1, _) = setup(&app).await;
    let mut client =
        pb::posting_service_client::PostingServiceClient::new(app.recruiting_channel().await);
    let messages = vec![
        pb::UpsertPostingsRequest {
            postings: vec![posting("small", "Small", &e1)],
        },
        pb::UpsertPostingsRequest {
            postings: vec![pb::Posting {
                description: "x".repeat(20 * 1024),
                ..posting("big", "Big", &e1)
            }],
        },
    ];
    let mut stream = client
        .upsert_postings(authed(tokio_stream::iter(messages), &a.key))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(outcomes(&first.results), [pb::UpsertOutcome::Created]);
    let err = stream.message().await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    app.get_posting(&a, "small").await;
    app.stop().await;
}

// ----- one batch decides like its items pushed one at a time -----

/// Opening ids relabelled by first appearance, so that two databases'
/// (random) ids can be compared as a partition.
#[derive(Default)]
struct Labels(std::collections::HashMap<String, usize>);

impl Labels {
    fn of(&mut self, opening: &str) -> Option<usize> {
        if opening.is_empty() {
            return None;
        }
        let next = self.0.len();
        Some(*self.0.entry(opening.to_owned()).or_insert(next))
    }
}

/// What a test compares of a result: outcome, opening label, error code
/// and field paths.
fn summary(labels: &mut Labels, r: &pb::PostingResult) -> String {
    // Paths start with the item's index in its own request.
    let prefix = format!("postings[{}].", r.index);
    let error = r.error.as_ref().map(|e| {
        let fields: Vec<String> = support::recruiting::violations_in(&e.details)
            .iter()
            .map(|f| f.strip_prefix(&prefix).unwrap_or(f).to_owned())
            .collect();
        (e.code, fields)
    });
    format!(
        "{} {:?} {:?} {:?}",
        r.external_id,
        r.outcome(),
        labels.of(&r.opening_id),
        error
    )
}

/// The outbox as comparable lines (event ids, times the server chose and
/// opening ids are left out or relabelled).
/// The last facts relayed of each posting, by posting name.
fn last_facts(payloads: &[ev::event::Payload]) -> BTreeMap<String, ev::PostingFacts> {
    payloads
        .iter()
        .filter_map(|p| facts(p).1)
        .map(|f| (f.posting.clone(), f.clone()))
        .collect()
}

/// What the relay carried, as it leaves metrics: the last facts of each
/// posting (without the revision, which counts intermediate writes), in
/// posting order, then the other events in their order. A batch writes a
/// posting's event once, with its state after the whole batch; items pushed
/// one at a time write one per step, and must end at the same facts.
fn final_event_lines(labels: &mut Labels, payloads: &[ev::event::Payload]) -> Vec<String> {
    let mut last: BTreeMap<&str, &ev::PostingFacts> = BTreeMap::new();
    let mut others = Vec::new();
    for p in payloads {
        match (facts(p), p) {
            ((_, Some(f)), _) => {
                last.insert(f.posting.as_str(), f);
            }
            (_, ev::event::Payload::FairParticipation(fp)) => {
                others.push(format!(
                    "participation {} {}",
                    fp.fair, fp.employer_credit_code
                ));
            }
            ((kind, None), _) => others.push(kind.to_owned()),
        }
    }
    let mut lines: Vec<String> = last
        .into_values()
        .map(|f| {
            format!(
                "{} o{:?} {} {} {} h{} {:?} {:?} {}",
                f.posting,
                labels.of(&f.opening_id),
                f.employer_credit_code,
                f.workplace_district,
                f.industry,
                f.headcount,
                f.publish_time,
                f.expire_time,
                f.fair
            )
        })
        .collect();
    lines.extend(others);
    lines
}

const MIXED_START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Two platforms' employers, a fair, and stored postings the mixed batch
/// then meets: returns platform a, the employers' codes.
async fn mixed_setup(app: &TestApp) -> (TestPlatform, String, String) {
    let (a, _, e1, e2) = setup(app).await;
    let mut fairs = pb::fair_service_client::FairServiceClient::new(app.recruiting_channel().await);
    fairs
        .create_fair(authed(
            pb::CreateFairRequest {
                parent: String::new(),
                fair: Some(pb::Fair {
                    display_name: "春季招聘会".into(),
                    start_time: Some(ts(MIXED_START)),
                    end_time: Some(ts(MIXED_START + 2 * DAY)),
                    ..Default::default()
                }),
                fair_id: "spring".into(),
                request_id: String::new(),
            },
            &a.key,
        ))
        .await
        .unwrap();
    let stored = vec![
        timed(posting("old-same", "Java 开发", &e1), 0),
        timed(posting("old-change", "测试工程师", &e2), 0),
        timed(posting("old-move", "产品经理", &e1), 0),
        // A copy of old-move: they share an opening.
        timed(posting("old-twin", "产品经理", &e1), 1),
        timed(posting("old-closed", "会计", &e2), 0),
    ];
    let results = app.push_postings(&a, stored).await;
    assert_eq!(results[2].opening_id, results[3].opening_id);
    let mut client = app.recruiting().await.postings;
    client
        .close_posting(authed(
            pb::ClosePostingRequest {
                name: a.posting_name("old-closed"),
                close_time: None,
            },
            &a.key,
        ))
        .await
        .unwrap();
    (a, e1, e2)
}

/// `p` published `days` days after an instant fixed for the test run
/// (both databases must see the same times), open 60 days.
fn timed(p: pb::Posting, days: i64) -> pb::Posting {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let publish = *BASE.get_or_init(|| now_secs() - 10 * DAY) + days * DAY;
    pb::Posting {
        publish_time: Some(ts(publish)),
        expire_time: Some(ts(publish + 60 * DAY)),
        ..p
    }
}

/// New, unchanged, changed, rejected items, copies of one job, repeats of
/// one external id and fair registrations, in one batch.
fn mixed_batch(a: &TestPlatform, e1: &str, e2: &str) -> Vec<pb::Posting> {
    let unknown = credit_code("91370200MA3C29999");
    let fair = format!("platforms/{}/fairs/spring", a.id);
    vec![
        timed(posting("n-1", "Java 开发", e1), 2),
        timed(posting("old-same", "Java 开发", e1), 0),
        pb::Posting {
            headcount: 3,
            ..timed(posting("old-change", "测试工程师", e2), 0)
        },
        // A copy of n-1 written differently: n-1's opening.
        timed(posting("n-2", "JAVA  开发", e1), 3),
        // No such employer: rejected by the store.
        timed(posting("bad-1", "Java 开发", &unknown), 0),
        // n-1 again, changed: updated, in its opening.
        pb::Posting {
            headcount: 2,
            ..timed(posting("n-1", "Java 开发", e1), 2)
        },
        // Leaves the opening it shares with old-twin: a new one.
        timed(posting("old-move", "Rust 开发", e1), 0),
        // Invalid: rejected before the store.
        timed(posting("bad-2", "", e1), 0),
        // Closed: cannot change.
        pb::Posting {
            headcount: 5,
            ..timed(posting("old-closed", "会计", e2), 0)
        },
        pb::Posting {
            fair: fair.clone(),
            ..timed(posting("n-3", "出纳", e1), 1)
        },
        // Same employer and fair: registered once.
        pb::Posting {
            fair,
            ..timed(posting("n-4", "厨师", e1), 1)
        },
        // Follows old-move: joins its new opening.
        timed(posting("old-twin", "Rust 开发", e1), 1),
        // n-1 as the batch left it: unchanged.
        pb::Posting {
            headcount: 2,
            ..timed(posting("n-1", "Java 开发", e1), 2)
        },
        // Publish time changed: immutable, rejected.
        timed(posting("n-2", "JAVA  开发", e1), 4),
    ]
}

/// Everything a test compares after the batch: per-item results, the
/// outbox, the stored postings.
async fn mixed_state(
    app: &TestApp,
    a: &TestPlatform,
    results: &[pb::PostingResult],
) -> Vec<String> {
    let mut labels = Labels::default();
    let mut lines: Vec<String> = results.iter().map(|r| summary(&mut labels, r)).collect();
    lines.extend(final_event_lines(&mut labels, &app.outbox_payloads().await));
    for id in [
        "n-1",
        "n-2",
        "n-3",
        "n-4",
        "old-same",
        "old-change",
        "old-move",
        "old-twin",
        "old-closed",
    ] {
        let p = app.get_posting(a, id).await;
        lines.push(format!(
            "{id} {} h{} {:?} {:?} o{:?} {:?}",
            p.title,
            p.headcount,
            p.publish_time,
            p.state(),
            labels.of(&p.opening_id),
            p.fair
        ));
    }
    lines
}

#[tokio::test]
async fn a_mixed_batch_decides_as_its_items_one_at_a_time() {
    let batched = TestApp::spawn().await;
    let (a, e1, e2) = mixed_setup(&batched).await;
    let items = mixed_batch(&a, &e1, &e2);
    let results = batched.push_postings(&a, items.clone()).await;
    assert_eq!(
        outcomes(&results),
        [
            pb::UpsertOutcome::Created,
            pb::UpsertOutcome::Unchanged,
            pb::UpsertOutcome::Updated,
            pb::UpsertOutcome::Created,
            pb::UpsertOutcome::Rejected,
            pb::UpsertOutcome::Updated,
            pb::UpsertOutcome::Updated,
            pb::UpsertOutcome::Rejected,
            pb::UpsertOutcome::Rejected,
            pb::UpsertOutcome::Created,
            pb::UpsertOutcome::Created,
            pb::UpsertOutcome::Updated,
            pb::UpsertOutcome::Unchanged,
            pb::UpsertOutcome::Rejected,
        ]
    );
    // Copies in one batch are one opening; repeats keep theirs; a copy
    // that leaves a shared opening gets a new one, which its twin joins.
    assert_eq!(results[3].opening_id, results[0].opening_id);
    assert_eq!(results[5].opening_id, results[0].opening_id);
    assert_eq!(results[11].opening_id, results[6].opening_id);
    assert_ne!(results[6].opening_id, results[0].opening_id);
    let batch_state = mixed_state(&batched, &a, &results).await;
    batched.stop().await;

    let single = TestApp::spawn().await;
    let (a, _, _) = mixed_setup(&single).await;
    let mut results = Vec::new();
    for item in items {
        results.push(single.push_postings(&a, vec![item]).await.remove(0));
    }
    let single_state = mixed_state(&single, &a, &results).await;
    single.stop().await;
    assert_eq!(batch_state, single_state);
}
