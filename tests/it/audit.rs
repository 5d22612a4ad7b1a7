//! The audit log of both services: every audited call once, with its key,
//! method and outcome and a request free of personal data (read raw from
//! the database); statistics queries; refused calls; filters by time and
//! key; pages; retention; and a rotated key's own expiry.

use std::time::Duration;

use sqlx::Row;
use talent_proto::talent::{metrics::v1 as mpb, recruiting::v1 as pb, r#type::v1::AuditEvent};
use talent_server::{
    Backend, Db,
    audit::{AuditLog, AuditRow},
};
use tonic::{Code, transport::Channel};

use crate::support::{
    TestApp,
    metrics::{self, Metrics, date, period, with_key},
    recruiting::{ADMIN_KEY, authed, now_secs, ts},
};

/// A valid resident ID number that must appear nowhere in the log.
const RESIDENT_ID: &str = "37020219980315108X";

type RecruitingAdmin = pb::admin_service_client::AdminServiceClient<Channel>;
type MetricsAdmin = mpb::admin_service_client::AdminServiceClient<Channel>;

/// Every event of recruiting's log the filters select, all pages.
async fn recruiting_events(
    admin: &mut RecruitingAdmin,
    mut req: pb::ListAuditEventsRequest,
) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let page = admin
            .list_audit_events(authed(req.clone(), ADMIN_KEY))
            .await
            .expect("listing the audit log")
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        req.page_token = page.next_page_token;
    }
}

/// Every event of metrics' log the filters select, all pages.
async fn metrics_events(
    admin: &mut MetricsAdmin,
    mut req: mpb::ListAuditEventsRequest,
) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let page = admin
            .list_audit_events(with_key(req.clone(), metrics::ADMIN_KEY))
            .await
            .expect("listing the audit log")
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        req.page_token = page.next_page_token;
    }
}

/// The events of `method` (its name after the last `/`).
fn of<'a>(events: &'a [AuditEvent], method: &str) -> Vec<&'a AuditEvent> {
    events
        .iter()
        .filter(|e| e.method.rsplit('/').next() == Some(method))
        .collect()
}

/// The one event of `method`.
fn once<'a>(events: &'a [AuditEvent], method: &str) -> &'a AuditEvent {
    let found = of(events, method);
    assert_eq!(found.len(), 1, "{method} once in {events:#?}");
    found[0]
}

/// Every column of every row of `audit_events`, as text, read raw.
async fn raw_rows(backend: Backend, url: &str) -> Vec<String> {
    let sql = "SELECT id, at, key_name, method, request_json, code, message FROM audit_events";
    let text = |row: &dyn Fn(&str) -> String| {
        ["key_name", "method", "request_json", "message"]
            .iter()
            .map(|c| row(c))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter()
                .map(|r| text(&|c| r.get::<String, _>(c)))
                .collect()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter()
                .map(|r| text(&|c| r.get::<String, _>(c)))
                .collect()
        }
    }
}

#[tokio::test]
async fn every_recruiting_admin_action_erasure_and_export_is_recorded_once_without_personal_data() {
    let app = TestApp::spawn().await;
    let channel = app.recruiting_channel().await;
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel.clone());
    let mut resumes = pb::resume_service_client::ResumeServiceClient::new(channel.clone());
    let mut employers = pb::employer_service_client::EmployerServiceClient::new(channel);

    admin
        .create_platform(authed(
            pb::CreatePlatformRequest {
                platform_id: "alpha".into(),
                platform: Some(pb::Platform {
                    display_name: "Alpha jobs".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap();
    let issued = admin
        .issue_api_key(authed(
            pb::IssueApiKeyRequest {
                parent: "platforms/alpha".into(),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    let platform_key = issued.secret;
    let key_name = issued.api_key.unwrap().name;
    admin
        .list_platforms(authed(pb::ListPlatformsRequest::default(), ADMIN_KEY))
        .await
        .unwrap();
    // The platform exports, the admin erases.
    resumes
        .export_person(authed(
            pb::ExportPersonRequest {
                person: Some(pb::export_person_request::Person::ResidentIdNumber(
                    RESIDENT_ID.into(),
                )),
            },
            &platform_key,
        ))
        .await
        .unwrap();
    let erased = resumes
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::ResidentIdNumber(
                    RESIDENT_ID.into(),
                )),
                reason: "ticket 25".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    // An erasure that fails on its ID is recorded without it too.
    let bad_id = "37020219980315108Y";
    let refused = resumes
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::ResidentIdNumber(
                    bad_id.into(),
                )),
                reason: String::new(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // The admin reads employers (recorded); the platform does (not).
    employers
        .list_employers(authed(pb::ListEmployersRequest::default(), ADMIN_KEY))
        .await
        .unwrap();
    employers
        .list_employers(authed(pb::ListEmployersRequest::default(), &platform_key))
        .await
        .unwrap();
    // The platform's key on an admin method, and no key at all: refused,
    // and recorded.
    let denied = admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/alpha".into(),
            },
            &platform_key,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unauthenticated = admin
        .list_platforms(pb::ListPlatformsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    // Rotation, its new key expiring in a day.
    let expire = ts(now_secs() + 86_400);
    let rotated = admin
        .rotate_api_key(authed(
            pb::RotateApiKeyRequest {
                parent: "platforms/alpha".into(),
                grace_period: None,
                expire_time: Some(expire),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.api_key.unwrap().expire_time, Some(expire));
    admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/alpha".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap();

    let events = recruiting_events(&mut admin, pb::ListAuditEventsRequest::default()).await;
    let create = once(&events, "CreatePlatform");
    assert_eq!((create.key.as_str(), create.code), ("admin", 0));
    assert!(create.request_json.contains("\"platform_id\":\"alpha\""));
    assert_eq!(once(&events, "IssueApiKey").key, "admin");
    let rotate = once(&events, "RotateApiKey");
    assert!(rotate.request_json.contains("expire_time"), "{rotate:?}");
    let export = once(&events, "ExportPerson");
    assert_eq!((export.key.as_str(), export.code), (key_name.as_str(), 0));
    assert_eq!(
        export.request_json, "{}",
        "the person is all the request says"
    );
    let erasures = of(&events, "ErasePerson");
    assert_eq!(erasures.len(), 2);
    assert!(erasures.iter().all(|e| e.key == "admin"));
    assert_eq!(
        erasures.iter().map(|e| e.code).collect::<Vec<_>>(),
        [Code::InvalidArgument as i32, 0],
        "newest first"
    );
    assert_eq!(erasures[1].request_json, r#"{"reason":"ticket 25"}"#);
    let reads = of(&events, "ListEmployers");
    assert_eq!(reads.len(), 1, "only the admin's read: {reads:?}");
    assert_eq!(reads[0].key, "admin");
    let disables = of(&events, "DisablePlatform");
    assert_eq!(disables.len(), 2);
    assert_eq!(
        (disables[1].key.as_str(), disables[1].code),
        (key_name.as_str(), Code::PermissionDenied as i32),
        "the refused call names the key"
    );
    assert!(!disables[1].message.is_empty());
    assert_eq!(disables[1].request_json, "{}", "never read");
    assert_eq!((disables[0].key.as_str(), disables[0].code), ("admin", 0));
    let lists = of(&events, "ListPlatforms");
    assert_eq!(lists.len(), 2);
    assert_eq!(
        (lists[0].key.as_str(), lists[0].code),
        ("", Code::Unauthenticated as i32)
    );
    assert!(
        events.windows(2).all(|w| {
            let t = |e: &AuditEvent| e.event_time.map(|t| (t.seconds, t.nanos));
            t(&w[0]) >= t(&w[1])
        }),
        "newest first"
    );

    // Nothing of the person anywhere in the rows.
    let rows = raw_rows(app.backend, app.recruiting_database_url()).await;
    assert!(rows.len() >= events.len());
    let person = [
        RESIDENT_ID.to_owned(),
        RESIDENT_ID.to_lowercase(),
        bad_id.to_owned(),
        erased.person_key.clone(),
        platform_key.clone(),
        ADMIN_KEY.to_owned(),
    ];
    for row in &rows {
        for secret in &person {
            assert!(!row.contains(secret.as_str()), "{secret} in {row}");
        }
    }
}

#[tokio::test]
async fn metrics_admin_actions_and_statistics_queries_are_recorded_and_filtered() {
    let app = TestApp::spawn().await;
    let m = Metrics::connect(&app).await;
    let mut admin = m.admin();
    let keys = admin
        .list_keys(with_key(
            mpb::ListKeysRequest::default(),
            metrics::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let exact = keys
        .iter()
        .find(|k| k.kind() == mpb::KeyKind::Read && k.protection() == mpb::Protection::Exact)
        .unwrap()
        .name
        .clone();
    let relay = keys
        .iter()
        .find(|k| k.kind() == mpb::KeyKind::Relay)
        .unwrap()
        .name
        .clone();
    admin
        .revoke_key(with_key(
            mpb::RevokeKeyRequest {
                name: relay.clone(),
            },
            metrics::ADMIN_KEY,
        ))
        .await
        .unwrap();
    m.gathered(mpb::GetTalentGatheredRequest {
        period: period(date(2024, 1, 1), date(2024, 7, 1)),
        ..Default::default()
    })
    .await;
    // A READ key may not read the audit log; that too is recorded.
    let denied = admin
        .list_audit_events(with_key(
            mpb::ListAuditEventsRequest::default(),
            &m.read_key,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let all = metrics_events(&mut admin, mpb::ListAuditEventsRequest::default()).await;
    assert_eq!(of(&all, "IssueKey").len(), 5);
    assert!(
        of(&all, "IssueKey")
            .iter()
            .all(|e| e.key == "admin" && e.code == 0)
    );
    assert_eq!(once(&all, "ListKeys").key, "admin");
    let revoke = once(&all, "RevokeKey");
    assert_eq!(revoke.request_json, format!(r#"{{"name":"{relay}"}}"#));
    let query = once(&all, "GetTalentGathered");
    assert_eq!((query.key.as_str(), query.code), (exact.as_str(), 0));
    assert!(
        query
            .request_json
            .contains(r#""start_date":{"day":1,"month":1,"year":2024}"#),
        "{query:?}"
    );
    let refused = once(&all, "ListAuditEvents");
    assert_eq!(refused.code, Code::PermissionDenied as i32);
    assert!(refused.key.starts_with("keys/") && refused.key != exact);

    // By key: the bureau's key made one call.
    let by_key = metrics_events(
        &mut admin,
        mpb::ListAuditEventsRequest {
            key: exact.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_key, std::slice::from_ref(query));

    // By time: split at the revocation's instant.
    let at = revoke.event_time.unwrap();
    let micros = |e: &AuditEvent| {
        let t = e.event_time.unwrap();
        t.seconds * 1_000_000 + i64::from(t.nanos) / 1000
    };
    let split = micros(revoke);
    let since = metrics_events(
        &mut admin,
        mpb::ListAuditEventsRequest {
            start_time: Some(at),
            ..Default::default()
        },
    )
    .await;
    // The listings since are recorded too.
    let listing = |e: &&AuditEvent| e.key == "admin" && e.method.ends_with("/ListAuditEvents");
    let expected: Vec<&AuditEvent> = all.iter().filter(|e| micros(e) >= split).collect();
    let since_then: Vec<&AuditEvent> = since.iter().filter(|e| !listing(e)).collect();
    assert_eq!(since_then, expected);
    let until = metrics_events(
        &mut admin,
        mpb::ListAuditEventsRequest {
            end_time: Some(at),
            ..Default::default()
        },
    )
    .await;
    let expected: Vec<&AuditEvent> = all.iter().filter(|e| micros(e) < split).collect();
    assert_eq!(until.iter().collect::<Vec<_>>(), expected);
    assert!(!expected.is_empty() && since_then.len() + until.len() == all.len());

    // Pages of two give the same events in the same order.
    let paged = metrics_events(
        &mut admin,
        mpb::ListAuditEventsRequest {
            page_size: 2,
            end_time: Some(at),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(paged, until);
    // A token is bound to its filters.
    let first = admin
        .list_audit_events(with_key(
            mpb::ListAuditEventsRequest {
                page_size: 1,
                ..Default::default()
            },
            metrics::ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    let status = admin
        .list_audit_events(with_key(
            mpb::ListAuditEventsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                key: "admin".into(),
                ..Default::default()
            },
            metrics::ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        crate::support::recruiting::violated_fields(&status),
        ["page_token"]
    );
}

#[tokio::test]
async fn rows_past_the_retention_are_pruned_and_the_others_kept() {
    let app = TestApp::spawn().await;
    let db = Db::open(app.metrics_database_url(), 1).await.unwrap();
    let log = AuditLog::new(db.clone());
    let day: i64 = 86_400_000_000;
    // Years ahead, so that the service's own pruning leaves them alone.
    let now = 1_900_000_000_000_000;
    let row = |at: i64, method: &str| AuditRow {
        at,
        key: "admin".into(),
        method: method.into(),
        request_json: "{}".into(),
        code: 0,
        message: String::new(),
    };
    log.append(&[
        row(now - 401 * day, "/old"),
        row(now - 400 * day - 1, "/just-past"),
        row(now - 400 * day, "/just-kept"),
        row(now - day, "/recent"),
    ])
    .await
    .unwrap();
    let retention = Duration::from_secs(400 * 86_400);
    assert_eq!(log.prune(now, retention).await.unwrap(), 2);
    let kept: Vec<String> = log
        .list(&Default::default(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.row.method)
        .filter(|m| m.starts_with("/just") || m == "/old" || m == "/recent")
        .collect();
    assert_eq!(kept, ["/recent", "/just-kept"]);
    assert_eq!(log.prune(now, retention).await.unwrap(), 0);
    db.close().await;
}

fn talent(args: Vec<String>) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_talent"))
        .args(args)
        .env_remove("TALENT_RECRUITING_ADMIN_KEY")
        .env_remove("TALENT_METRICS_ADMIN_KEY")
        .output()
        .expect("the talent binary runs")
}

async fn talent_async(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || talent(args))
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_rotates_a_key_with_an_expiry_and_prints_the_audit_log() {
    let app = TestApp::spawn().await;
    app.create_platform("alpha").await;
    let recruiting = app.recruiting_addr.to_string();
    let metrics_addr = app.metrics_addr.to_string();
    let (ok, out, err) = talent_async(&[
        "platform",
        "rotate-key",
        "alpha",
        "--expires",
        "1d",
        "--admin-key",
        ADMIN_KEY,
        "--recruiting-addr",
        &recruiting,
    ])
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("it stops working at"), "{out}");

    let audit = |format: &'static str| {
        let recruiting = recruiting.clone();
        async move {
            talent_async(&[
                "audit",
                "--service",
                "recruiting",
                "--since",
                "1h",
                "--format",
                format,
                "--admin-key",
                ADMIN_KEY,
                "--recruiting-addr",
                &recruiting,
            ])
            .await
        }
    };
    let (ok, text, err) = audit("text").await;
    assert!(ok, "{err}");
    for method in [
        "AdminService/CreatePlatform",
        "AdminService/IssueApiKey",
        "AdminService/RotateApiKey",
    ] {
        assert!(text.contains(method), "{method} in {text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
    let (ok, json, err) = audit("json").await;
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let rotate = events
        .iter()
        .find(|e| e["method"] == "/talent.recruiting.v1.AdminService/RotateApiKey")
        .expect("the rotation");
    assert_eq!(rotate["key"], "admin");
    assert_eq!(rotate["code"], "OK");
    assert_eq!(rotate["request"]["parent"], "platforms/alpha");
    assert!(rotate["request"]["expire_time"].is_string(), "{rotate}");

    // Metrics: a query of the key filter, and a key that is not the admin's.
    let (ok, text, err) = talent_async(&[
        "audit",
        "--service",
        "metrics",
        "--key",
        "admin",
        "--admin-key",
        metrics::ADMIN_KEY,
        "--metrics-addr",
        &metrics_addr,
    ])
    .await;
    assert!(ok, "{err}");
    assert_eq!(text, "(no audit events)\n");
    let (ok, _, err) = talent_async(&[
        "audit",
        "--service",
        "metrics",
        "--admin-key",
        "not-the-admin-key",
        "--metrics-addr",
        &metrics_addr,
    ])
    .await;
    assert!(!ok);
    assert!(err.lines().count() <= 2, "a short error: {err}");
}
