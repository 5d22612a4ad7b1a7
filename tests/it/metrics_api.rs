//! The metrics service's API contract: keys and their permissions,
//! exactly-once event ingestion, event rejection with field paths, and the
//! graduate roster import.

use crate::support;

use support::{
    TestApp,
    metrics::{self as m, Metrics, date, person, roster_row, with_key},
};
use talent_proto::talent::events::v1 as ev;
use talent_proto::talent::metrics::v1 as pb;
use tonic::Code;

fn outcomes_request(
    year: i32,
    as_of: talent_proto::google::r#type::Date,
) -> pb::GetGraduateOutcomesRequest {
    pb::GetGraduateOutcomesRequest {
        cohort_year: year,
        as_of: Some(as_of),
        ..Default::default()
    }
}

#[tokio::test]
async fn each_key_kind_may_do_only_its_own_work() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let hire = || {
        vec![m::hired(
            "e1",
            &person(1),
            "370212",
            "I",
            date(2024, 7, 1),
            "pa",
        )]
    };

    let roster = || {
        vec![vec![roster_row(
            &person(1),
            "4137010001",
            3,
            8,
            date(2024, 6, 30),
        )]]
    };

    // Relay key: publishes events; cannot import rosters, cannot read.
    let acks = metrics.publish(hire()).await;
    assert_eq!(acks[0].outcome(), pb::EventOutcome::Applied);
    let err = metrics
        .import_roster_with(&metrics.relay_key, roster())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // Roster key: imports rosters; cannot publish events, cannot read.
    let imported = metrics
        .import_roster_with(&metrics.roster_key, roster())
        .await
        .expect("a roster key imports");
    assert_eq!(imported.rejected_count, 0, "{imported:?}");
    let err = metrics
        .publish_batches_with(&metrics.roster_key, vec![hire()])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    for key in [&metrics.relay_key, &metrics.roster_key] {
        let denied = metrics
            .stats()
            .get_graduate_outcomes(with_key(outcomes_request(2024, date(2024, 8, 1)), key))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    // Read and operator keys: read, cannot ingest.
    for key in [&metrics.read_key, &metrics.exact_key, &metrics.operator_key] {
        metrics
            .stats()
            .get_graduate_outcomes(with_key(outcomes_request(2024, date(2024, 8, 1)), key))
            .await
            .expect("a read key reads");
        let err = metrics
            .publish_batches_with(key, vec![hire()])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
        let err = metrics.import_roster_with(key, roster()).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    // Unknown, missing and revoked keys.
    let unknown = metrics
        .stats()
        .get_graduate_outcomes(with_key(
            outcomes_request(2024, date(2024, 8, 1)),
            "tlm_nope",
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let missing = metrics
        .stats()
        .get_graduate_outcomes(outcomes_request(2024, date(2024, 8, 1)))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let err = metrics
        .publish_batches_with("tlm_nope", vec![hire()])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let issued = metrics
        .issue(pb::KeyKind::Read, pb::Protection::Exact)
        .await
        .unwrap();
    let key = issued.key.unwrap();
    assert_eq!(key.protection(), pb::Protection::Exact);
    assert!(issued.secret.starts_with("tlm_") && issued.secret.len() == 47);
    assert_eq!(key.secret_prefix, issued.secret[..8]);
    // Used once, so that this replica remembers it: revoking through the
    // replica still holds at once.
    metrics
        .stats()
        .get_graduate_outcomes(with_key(
            outcomes_request(2024, date(2024, 8, 1)),
            &issued.secret,
        ))
        .await
        .unwrap();
    let revoked = metrics
        .admin()
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                name: key.name.clone(),
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert_eq!(revoked.state(), pb::key::State::Revoked);
    let err = metrics
        .stats()
        .get_graduate_outcomes(with_key(
            outcomes_request(2024, date(2024, 8, 1)),
            &issued.secret,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn the_admin_service_needs_the_admin_key_and_checks_its_input() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let mut admin = metrics.admin();
    let request = |kind: pb::KeyKind, protection: i32| pb::IssueKeyRequest {
        kind: kind as i32,
        display_name: "HR bureau dashboard".into(),
        protection,
        ..Default::default()
    };
    let (unset, exact, perturbed) = (
        pb::Protection::Unspecified as i32,
        pb::Protection::Exact as i32,
        pb::Protection::Perturbed as i32,
    );
    for (key, code) in [
        ("wrong", Code::Unauthenticated),
        (metrics.read_key.as_str(), Code::PermissionDenied),
    ] {
        let err = admin
            .issue_key(with_key(request(pb::KeyKind::Read, unset), key))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    for (req, field) in [
        (request(pb::KeyKind::Unspecified, unset), "kind"),
        (request(pb::KeyKind::Relay, exact), "protection"),
        (request(pb::KeyKind::Roster, perturbed), "protection"),
        (request(pb::KeyKind::Operator, perturbed), "protection"),
        (request(pb::KeyKind::Read, 7), "protection"),
    ] {
        let err = admin
            .issue_key(with_key(req, m::ADMIN_KEY))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(m::status_fields(&err), [field]);
    }
    // INGEST keys are no longer issued: the kind names what to ask for.
    #[allow(deprecated)]
    let ingest = request(pb::KeyKind::Ingest, unset);
    let err = admin
        .issue_key(with_key(ingest, m::ADMIN_KEY))
        .await
        .unwrap_err();
    assert_eq!(m::status_fields(&err), ["kind"]);
    assert!(
        err.message().contains("RELAY") && err.message().contains("ROSTER"),
        "{err:?}"
    );
    // The protection of each kind, by default and as asked.
    for (kind, asked, given) in [
        (pb::KeyKind::Read, exact, pb::Protection::Exact),
        (pb::KeyKind::Read, perturbed, pb::Protection::Perturbed),
        (pb::KeyKind::Operator, unset, pb::Protection::Exact),
        (pb::KeyKind::Relay, unset, pb::Protection::Unspecified),
        (pb::KeyKind::Roster, unset, pb::Protection::Unspecified),
    ] {
        let key = admin
            .issue_key(with_key(request(kind, asked), m::ADMIN_KEY))
            .await
            .unwrap()
            .into_inner()
            .key
            .unwrap();
        assert_eq!(key.protection(), given, "{kind:?}");
        admin
            .revoke_key(with_key(
                pb::RevokeKeyRequest { name: key.name },
                m::ADMIN_KEY,
            ))
            .await
            .unwrap();
    }
    // A client that still sends a suppression threshold gets a PERTURBED
    // key: the deprecated field is ignored.
    #[allow(deprecated)]
    let read = admin
        .issue_key(with_key(
            pb::IssueKeyRequest {
                disclosure_threshold: Some(10),
                ..request(pb::KeyKind::Read, unset)
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert_eq!(read.protection(), pb::Protection::Perturbed, "the default");

    // Listing: newest first, pages, revoked keys only on request (the
    // harness issued five keys before).
    let page = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                page_size: 3,
                ..Default::default()
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.keys.len(), 3);
    assert_eq!(page.keys[0].name, read.name);
    let rest = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                page_size: 3,
                page_token: page.next_page_token.clone(),
                ..Default::default()
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.keys.len(), 3, "six active keys in all");
    assert!(rest.next_page_token.is_empty());
    // A token belongs to the filters it was issued for (AIP-158), and a
    // page larger than the largest is served the largest.
    let other_filters = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                page_size: 3,
                page_token: page.next_page_token.clone(),
                show_revoked: true,
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(other_filters.code(), Code::InvalidArgument);
    assert_eq!(
        support::recruiting::violated_fields(&other_filters),
        ["page_token"]
    );
    let large = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                page_size: 5000,
                ..Default::default()
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(large.keys.len(), 6);
    admin
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                name: read.name.clone(),
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap();
    let active = admin
        .list_keys(with_key(pb::ListKeysRequest::default(), m::ADMIN_KEY))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.keys.len(), 5);
    let all = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                show_revoked: true,
                ..Default::default()
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.keys.len(), 11);
    let missing = admin
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                name: "keys/00000000-0000-4000-8000-000000000000".into(),
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn an_event_is_applied_once_and_invalid_events_are_rejected_with_paths() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    metrics
        .import_roster(vec![roster_row(
            &person(1),
            "4137010001",
            3,
            8,
            date(2024, 6, 30),
        )])
        .await;
    let hire = m::hired("e1", &person(1), "370212", "I", date(2024, 7, 1), "pa");
    let mut bad_district = m::hired("e2", &person(2), "3702", "I", date(2024, 7, 1), "pa");
    let mut no_payload = m::hired("e3", &person(3), "370212", "I", date(2024, 7, 1), "pa");
    no_payload.payload = None;
    if let Some(ev::event::Payload::Hired(h)) = &mut bad_district.payload {
        h.industry = "A39".into();
    }

    // The same event twice in one message, then again in a later message.
    let acks = metrics
        .publish_batches_with(
            &metrics.relay_key,
            vec![
                vec![
                    hire.clone(),
                    hire.clone(),
                    bad_district.clone(),
                    no_payload.clone(),
                ],
                vec![hire.clone(), bad_district.clone()],
            ],
        )
        .await
        .unwrap();
    let outcomes: Vec<Vec<pb::EventOutcome>> = acks
        .iter()
        .map(|batch| batch.iter().map(|a| a.outcome()).collect())
        .collect();
    use pb::EventOutcome::{Applied, Duplicate, Rejected};
    assert_eq!(
        outcomes,
        vec![
            vec![Applied, Duplicate, Rejected, Rejected],
            vec![Duplicate, Duplicate]
        ]
    );
    assert_eq!(acks[0][0].event_id, hire.event_id);
    assert_eq!(acks[0][0].sequence, hire.sequence);

    let error = acks[0][2].error.as_ref().unwrap();
    assert_eq!(error.code, Code::InvalidArgument as i32);
    assert_eq!(
        m::violated_fields(&error.details),
        ["hired.workplace_district", "hired.industry"]
    );
    assert_eq!(
        m::violated_fields(&acks[0][3].error.as_ref().unwrap().details),
        ["payload"]
    );
    assert!(acks[0][0].error.is_none());

    // The hire counted once.
    let o = metrics
        .outcomes(outcomes_request(2024, date(2024, 8, 1)))
        .await;
    let total = o.total.unwrap();
    assert_eq!(m::value(&total.cohort_size), 1);
    assert_eq!(m::value(&total.employed), 1);
    assert_eq!(m::value(&total.retained), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_roster_import_is_idempotent_and_reports_rejected_rows() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let id_row = pb::GraduateRosterRow {
        row_id: "line-2".into(),
        person: Some(pb::graduate_roster_row::Person::ResidentIdNumber(
            "11010519491231002x".into(),
        )),
        ..roster_row("", "4137010001", 4, 8, date(2024, 6, 30))
    };
    let mut bad_check = id_row.clone();
    bad_check.row_id = "line-3".into();
    bad_check.person = Some(pb::graduate_roster_row::Person::ResidentIdNumber(
        "110105194912310021".into(),
    ));
    let mut bad_fields = roster_row(&person(9), "41370", 0, 8, date(2024, 2, 30));
    bad_fields.row_id = String::new();
    let rows = vec![
        roster_row(&person(1), "4137010001", 3, 8, date(2024, 6, 30)),
        id_row.clone(),
        bad_check,
        bad_fields,
    ];
    let first = metrics.import_roster(rows.clone()).await;
    assert_eq!(
        (
            first.accepted_count,
            first.unchanged_count,
            first.rejected_count
        ),
        (2, 0, 2)
    );
    let rejected: Vec<(String, Vec<String>)> = first
        .rejected_rows
        .iter()
        .map(|r| {
            let error = r.error.as_ref().unwrap();
            assert_eq!(error.code, Code::InvalidArgument as i32);
            (r.row_id.clone(), m::violated_fields(&error.details))
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            ("line-3".to_string(), vec!["resident_id_number".to_string()]),
            (
                "3".to_string(),
                vec![
                    "university_code".into(),
                    "degree_level".into(),
                    "graduation_date".into()
                ]
            ),
        ]
    );

    // Again: nothing changes.
    let again = metrics.import_roster(rows[..2].to_vec()).await;
    assert_eq!(
        (
            again.accepted_count,
            again.unchanged_count,
            again.rejected_count
        ),
        (0, 2, 0)
    );
    // A changed discipline is an update.
    let mut changed = rows[0].clone();
    changed.discipline = 7;
    let update = metrics.import_roster(vec![changed]).await;
    assert_eq!((update.accepted_count, update.unchanged_count), (1, 0));

    // The ID number was hashed with the city secret into the same key the
    // recruiting service sends (HMAC-SHA256 computed independently).
    let key = "56fd8414879f2a9ce0f80b11a7447496d3e8a8dffb0bc072538d207a60c54c12";
    metrics
        .publish(vec![m::hired(
            "e1",
            key,
            "370212",
            "I",
            date(2024, 7, 1),
            "pa",
        )])
        .await;
    let o = metrics
        .outcomes(outcomes_request(2024, date(2024, 8, 1)))
        .await;
    let total = o.total.unwrap();
    assert_eq!(m::value(&total.cohort_size), 2);
    assert_eq!(m::value(&total.retained), 1);
    app.stop().await;
}

#[tokio::test]
async fn statistics_requests_are_checked_with_field_paths() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let mut stats = metrics.stats();
    let key = &metrics.read_key;

    let err = stats
        .get_talent_gathered(with_key(pb::GetTalentGatheredRequest::default(), key))
        .await
        .unwrap_err();
    assert_eq!(m::status_fields(&err), ["period"]);

    let err = stats
        .get_talent_gathered(with_key(
            pb::GetTalentGatheredRequest {
                period: m::period(date(2024, 2, 30), date(2040, 1, 1)),
                group_by: vec![
                    pb::Dimension::University as i32,
                    pb::Dimension::Month as i32,
                    pb::Dimension::Month as i32,
                ],
                filter: Some(pb::Filter {
                    university_codes: vec!["4137010001".into()],
                    tiers: vec![talent_proto::talent::r#type::v1::TalentTier::None as i32],
                    ..Default::default()
                }),
                as_known_at: None,
            },
            key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        m::status_fields(&err),
        [
            "period.start_date",
            "group_by",
            "group_by[0]",
            "group_by[2]",
            "filter.university_codes",
            "filter.tiers[0]",
        ]
    );

    let err = stats
        .get_graduate_outcomes(with_key(
            pb::GetGraduateOutcomesRequest {
                cohort_year: 1900,
                group_by: vec![pb::Dimension::Tier as i32],
                filter: Some(pb::Filter {
                    platform_ids: vec!["pa".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            key,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        m::status_fields(&err),
        ["cohort_year", "group_by[0]", "filter.platform_ids"]
    );

    let err = stats
        .get_recruitment_activity(with_key(
            pb::GetRecruitmentActivityRequest {
                period: m::period(date(2024, 5, 1), date(2024, 5, 1)),
                ..Default::default()
            },
            key,
        ))
        .await
        .unwrap_err();
    assert_eq!(m::status_fields(&err), ["period.end_date"]);

    // A valid request on an empty database: totals present, all zero.
    let r = stats
        .get_period_report(with_key(
            pb::GetPeriodReportRequest {
                period: m::period(date(2024, 1, 1), date(2024, 7, 1)),
                ..Default::default()
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.cohort_year, 2024);
    assert_eq!(r.definition_version, "2025.1");
    // Zero is published as zero, perturbed or not (this key is PERTURBED).
    let gathered = r.talent_gathered.unwrap().talents_gathered.unwrap();
    assert_eq!((gathered.value, gathered.perturbed), (0, true));
    assert!(!r.text_zh.is_empty() && !r.text_en.is_empty());
    app.stop().await;
}

/// A key issued as INGEST before RELAY and ROSTER existed: the migration
/// makes it a RELAY key, so the relay it was issued for keeps publishing,
/// and it can no longer import rosters.
#[tokio::test]
async fn an_ingest_key_from_before_the_split_works_as_a_relay_key() {
    const SECRET: &str = "tlm_issued-as-ingest-before-the-split";
    let app = TestApp::spawn_with(support::Options {
        // Migration 0004 is the last that knew INGEST keys.
        metrics_before: Some((
            4,
            "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
             disclosure_threshold, created_at, protection) VALUES \
             ('0e5a7c1e-0000-4000-8000-000000000001', 'INGEST', 'old relay', \
             '60ce53b9d7a868bdaa4e8ec2eb5f788b592dbef723ae5ab203e5a37134e61ad8', \
             'tlm_issu', 0, 1, '')",
        )),
        ..Default::default()
    })
    .await;
    let metrics = Metrics::connect(&app).await;
    let hire = m::hired("e1", &person(1), "370212", "I", date(2024, 7, 1), "pa");
    let acks = metrics
        .publish_batches_with(SECRET, vec![vec![hire]])
        .await
        .expect("the migrated key publishes");
    assert_eq!(acks[0][0].outcome(), pb::EventOutcome::Applied);
    let row = roster_row(&person(1), "4137010001", 3, 8, date(2024, 6, 30));
    let err = metrics
        .import_roster_with(SECRET, vec![vec![row]])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let keys = metrics
        .admin()
        .list_keys(with_key(pb::ListKeysRequest::default(), m::ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let old = keys
        .iter()
        .find(|k| k.display_name == "old relay")
        .expect("listed");
    assert_eq!(old.kind(), pb::KeyKind::Relay);
    app.stop().await;
}

/// A key of any kind may be issued with an expiry: ListKeys shows it, and
/// once it has passed the key is refused exactly like a revoked one and
/// listed only with `show_revoked`, as EXPIRED. The expiry is moved into
/// the past in the database: no waiting.
#[tokio::test]
async fn a_key_issued_with_an_expiry_stops_working_when_it_passes() {
    let app = TestApp::spawn().await;
    let metrics = Metrics::connect(&app).await;
    let mut admin = metrics.admin();
    let now = talent_codes::now_micros();
    let issue = |kind: pb::KeyKind, expire_at: i64| {
        with_key(
            pb::IssueKeyRequest {
                kind: kind as i32,
                display_name: format!("expiring {kind:?}"),
                expire_time: Some(talent_codes::timestamp_of_micros(expire_at)),
                ..Default::default()
            },
            m::ADMIN_KEY,
        )
    };
    for past in [now - 1_000_000, 1] {
        let err = admin
            .issue_key(issue(pb::KeyKind::Read, past))
            .await
            .unwrap_err();
        assert_eq!(m::status_fields(&err), ["expire_time"]);
    }

    let in_an_hour = now + 3_600_000_000;
    let mut issued = Vec::new();
    for kind in [
        pb::KeyKind::Relay,
        pb::KeyKind::Roster,
        pb::KeyKind::Read,
        pb::KeyKind::Operator,
    ] {
        let r = admin
            .issue_key(issue(kind, in_an_hour))
            .await
            .unwrap()
            .into_inner();
        let key = r.key.unwrap();
        assert_eq!(
            key.expire_time,
            Some(talent_codes::timestamp_of_micros(in_an_hour))
        );
        assert_eq!(key.state(), pb::key::State::Active);
        issued.push((kind, key.name, r.secret));
    }
    let listed = admin
        .list_keys(with_key(pb::ListKeysRequest::default(), m::ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .keys;
    for (_, name, _) in &issued {
        let key = listed.iter().find(|k| &k.name == name).expect("listed");
        assert!(key.expire_time.is_some(), "{key:?}");
    }

    // Each works before its expiry...
    let hire = || {
        vec![m::hired(
            "e1",
            &person(1),
            "370212",
            "I",
            date(2024, 7, 1),
            "pa",
        )]
    };
    let roster = || {
        vec![vec![roster_row(
            &person(1),
            "4137010001",
            3,
            8,
            date(2024, 6, 30),
        )]]
    };
    let outcomes = |key: &str| with_key(outcomes_request(2024, date(2024, 8, 1)), key);
    let use_key = |kind: pb::KeyKind, secret: String| {
        let metrics = &metrics;
        async move {
            match kind {
                pb::KeyKind::Relay => metrics
                    .publish_batches_with(&secret, vec![hire()])
                    .await
                    .map(|_| ()),
                pb::KeyKind::Roster => metrics
                    .import_roster_with(&secret, roster())
                    .await
                    .map(|_| ()),
                _ => metrics
                    .stats()
                    .get_graduate_outcomes(outcomes(&secret))
                    .await
                    .map(|_| ()),
            }
        }
    };
    for (kind, _, secret) in &issued {
        use_key(*kind, secret.clone())
            .await
            .expect("works until it expires");
    }

    // ...and is refused after it, with the revoked key's answer.
    support::execute_sql(
        app.backend,
        app.metrics_database_url(),
        &format!(
            "UPDATE api_keys SET expire_at = {} WHERE display_name LIKE 'expiring %'",
            now - 1
        ),
    )
    .await;
    let revoked = metrics
        .issue(pb::KeyKind::Read, pb::Protection::Unspecified)
        .await
        .unwrap();
    admin
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                name: revoked.key.unwrap().name,
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap();
    let refused = metrics
        .stats()
        .get_graduate_outcomes(outcomes(&revoked.secret))
        .await
        .unwrap_err();
    for (kind, _, secret) in &issued {
        let err = use_key(*kind, secret.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{kind:?}: {err:?}");
        assert_eq!(err.message(), refused.message(), "{kind:?}");
    }
    let active = admin
        .list_keys(with_key(pb::ListKeysRequest::default(), m::ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert!(
        issued
            .iter()
            .all(|(_, name, _)| active.iter().all(|k| &k.name != name)),
        "expired keys are not listed by default"
    );
    let all = admin
        .list_keys(with_key(
            pb::ListKeysRequest {
                show_revoked: true,
                ..Default::default()
            },
            m::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .keys;
    for (_, name, _) in &issued {
        let key = all.iter().find(|k| &k.name == name).expect("listed");
        assert_eq!(key.state(), pb::key::State::Expired);
    }
    app.stop().await;
}
