//! AdminService and authentication: platforms, API keys, and who may call.

use crate::support;

use support::{
    TestApp,
    recruiting::{ADMIN_KEY, authed, error_reason, violated_fields},
};
use talent_proto::talent::recruiting::v1 as pb;
use tonic::Code;

fn create(id: &str, name: &str, request_id: &str) -> pb::CreatePlatformRequest {
    pb::CreatePlatformRequest {
        platform_id: id.to_owned(),
        platform: Some(pb::Platform {
            display_name: name.to_owned(),
            ..Default::default()
        }),
        request_id: request_id.to_owned(),
    }
}

#[tokio::test]
async fn admin_calls_need_the_admin_key() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;

    let none = admin
        .list_platforms(pb::ListPlatformsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    let wrong = admin
        .list_platforms(authed(pb::ListPlatformsRequest::default(), "nope"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);

    let platform = app.create_platform("jobs-a").await;
    let with_platform_key = admin
        .list_platforms(authed(pb::ListPlatformsRequest::default(), &platform.key))
        .await
        .unwrap_err();
    assert_eq!(with_platform_key.code(), Code::PermissionDenied);

    // The admin key is not a platform key.
    let mut postings = app.recruiting().await.postings;
    let status = postings
        .get_posting(authed(
            pb::GetPostingRequest {
                name: "platforms/jobs-a/postings/x".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn platforms_are_created_listed_and_disabled() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;

    let created = admin
        .create_platform(authed(create("zhaopin", "  智联招聘 ", ""), ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .platform
        .unwrap();
    assert_eq!(created.name, "platforms/zhaopin");
    assert_eq!(created.platform_id, "zhaopin");
    assert_eq!(created.display_name, "智联招聘");
    assert_eq!(created.state(), pb::platform::State::Active);
    assert!(created.create_time.is_some());
    assert!(created.disable_time.is_none());

    let again = admin
        .create_platform(authed(create("zhaopin", "other", ""), ADMIN_KEY))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    for id in ["b-jobs", "a-jobs", "c-jobs"] {
        admin
            .create_platform(authed(create(id, id, ""), ADMIN_KEY))
            .await
            .unwrap();
    }
    // Pages of two, ordered by id.
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .list_platforms(authed(
                pb::ListPlatformsRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    show_disabled: false,
                },
                ADMIN_KEY,
            ))
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.platforms.into_iter().map(|p| p.platform_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(ids, ["a-jobs", "b-jobs", "c-jobs", "zhaopin"]);

    // A token is bound to its filters.
    let first = admin
        .list_platforms(authed(
            pb::ListPlatformsRequest {
                page_size: 1,
                ..Default::default()
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    let changed = admin
        .list_platforms(authed(
            pb::ListPlatformsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                show_disabled: true,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);

    let disabled = admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/b-jobs".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .platform
        .unwrap();
    assert_eq!(disabled.state(), pb::platform::State::Disabled);
    let disable_time = disabled.disable_time.unwrap();
    // Disabling again returns it unchanged.
    let twice = admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/b-jobs".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .platform
        .unwrap();
    assert_eq!(twice.disable_time, Some(disable_time));

    let active: Vec<String> = admin
        .list_platforms(authed(pb::ListPlatformsRequest::default(), ADMIN_KEY))
        .await
        .unwrap()
        .into_inner()
        .platforms
        .into_iter()
        .map(|p| p.platform_id)
        .collect();
    assert_eq!(active, ["a-jobs", "c-jobs", "zhaopin"]);
    let all = admin
        .list_platforms(authed(
            pb::ListPlatformsRequest {
                show_disabled: true,
                ..Default::default()
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner()
        .platforms
        .len();
    assert_eq!(all, 4);

    let unknown = admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/nobody".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn create_platform_rejects_bad_input_with_field_paths() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;
    for (request, fields) in [
        (create("Bad_Id", "x", ""), vec!["platform_id"]),
        (create("ends-", "x", ""), vec!["platform_id"]),
        (create("ok", "", ""), vec!["platform.display_name"]),
        (create("ok", "a\u{7}b", ""), vec!["platform.display_name"]),
        (
            create("ok", &"长".repeat(101), ""),
            vec!["platform.display_name"],
        ),
        (create("ok", "x", "not-a-uuid"), vec!["request_id"]),
        (
            pb::CreatePlatformRequest {
                platform_id: "ok".into(),
                ..Default::default()
            },
            vec!["platform"],
        ),
    ] {
        let status = admin
            .create_platform(authed(request, ADMIN_KEY))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), fields);
    }
    app.stop().await;
}

#[tokio::test]
async fn create_platform_is_idempotent_with_request_id() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;
    let id = "6f1c1f5e-8d4a-4c3e-9a57-2f1b7b0e6c11";
    let first = admin
        .create_platform(authed(create("p1", "One", id), ADMIN_KEY))
        .await
        .unwrap()
        .into_inner();
    let replay = admin
        .create_platform(authed(create("p1", "One", id), ADMIN_KEY))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, replay);
    let reused = admin
        .create_platform(authed(create("p2", "Two", id), ADMIN_KEY))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));
    app.stop().await;
}

#[tokio::test]
async fn api_keys_authenticate_their_platform_until_disabled_or_rotated() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;
    let platform = app.create_platform("p1").await;
    assert!(platform.key.starts_with("tlr_"));
    assert_eq!(platform.key.len(), 4 + 43);

    let mut postings = app.recruiting().await.postings;
    let list = |key: &str| {
        authed(
            pb::ListPostingsRequest {
                ..Default::default()
            },
            key,
        )
    };
    postings.list_postings(list(&platform.key)).await.unwrap();

    // Up to 5 active keys; the sixth is refused.
    let mut keys = vec![platform.key.clone()];
    for _ in 0..4 {
        let issued = admin
            .issue_api_key(authed(
                pb::IssueApiKeyRequest {
                    parent: "platforms/p1".into(),
                    expire_time: None,
                },
                ADMIN_KEY,
            ))
            .await
            .unwrap()
            .into_inner();
        let key = issued.api_key.unwrap();
        assert!(key.name.starts_with("platforms/p1/apiKeys/"));
        assert_eq!(key.secret_prefix, issued.secret[..8]);
        assert!(key.expire_time.is_none());
        keys.push(issued.secret);
    }
    let sixth = admin
        .issue_api_key(authed(
            pb::IssueApiKeyRequest {
                parent: "platforms/p1".into(),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(sixth.code(), Code::FailedPrecondition);
    let unknown = admin
        .issue_api_key(authed(
            pb::IssueApiKeyRequest {
                parent: "platforms/nobody".into(),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Rotation with a grace period: old keys keep working until it ends.
    let rotated = admin
        .rotate_api_key(authed(
            pb::RotateApiKeyRequest {
                parent: "platforms/p1".into(),
                grace_period: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.expiring_keys.len(), 5);
    assert!(
        rotated
            .expiring_keys
            .iter()
            .all(|k| k.expire_time.is_some())
    );
    postings.list_postings(list(&keys[0])).await.unwrap();
    postings.list_postings(list(&rotated.secret)).await.unwrap();

    // Rotation without grace: the others stop at once.
    let again = admin
        .rotate_api_key(authed(
            pb::RotateApiKeyRequest {
                parent: "platforms/p1".into(),
                grace_period: None,
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap()
        .into_inner();
    for old in keys.iter().chain([&rotated.secret]) {
        let status = postings.list_postings(list(old)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    postings.list_postings(list(&again.secret)).await.unwrap();

    let too_long = admin
        .rotate_api_key(authed(
            pb::RotateApiKeyRequest {
                parent: "platforms/p1".into(),
                grace_period: Some(prost_types::Duration {
                    seconds: 8 * 86_400,
                    nanos: 0,
                }),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_long), ["grace_period"]);

    // The new key may expire, like an issued one; not in the past.
    let in_a_day = support::recruiting::ts(support::recruiting::now_secs() + 86_400);
    let rotate_expiring = |expire_time| {
        let mut admin = admin.clone();
        async move {
            admin
                .rotate_api_key(authed(
                    pb::RotateApiKeyRequest {
                        parent: "platforms/p1".into(),
                        grace_period: None,
                        expire_time: Some(expire_time),
                    },
                    ADMIN_KEY,
                ))
                .await
        }
    };
    let expiring = rotate_expiring(in_a_day).await.unwrap().into_inner();
    assert_eq!(
        expiring.api_key.as_ref().unwrap().expire_time,
        Some(in_a_day)
    );
    postings
        .list_postings(list(&expiring.secret))
        .await
        .unwrap();
    let past = support::recruiting::ts(support::recruiting::now_secs() - 60);
    let refused = rotate_expiring(past).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["expire_time"]);
    let again = expiring;

    // A disabled platform's keys are PERMISSION_DENIED; it gets no new key.
    admin
        .disable_platform(authed(
            pb::DisablePlatformRequest {
                name: "platforms/p1".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap();
    let denied = postings
        .list_postings(list(&again.secret))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let no_key = admin
        .issue_api_key(authed(
            pb::IssueApiKeyRequest {
                parent: "platforms/p1".into(),
                expire_time: None,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_key.code(), Code::FailedPrecondition);
    app.stop().await;
}

#[tokio::test]
async fn the_service_refuses_to_start_without_its_secrets() {
    let base = || in_memory(support::recruiting::configure);
    let mut no_secret = base();
    no_secret.person_key_secret = String::new();
    assert_refused::<talent_recruiting::Application>(no_secret, "person_key_secret").await;

    let mut bad_key = base();
    bad_key.encryption_key = "00ff".into();
    assert_refused::<talent_recruiting::Application>(bad_key, "encryption_key").await;

    let mut not_hex = base();
    not_hex.encryption_key = "zz".repeat(32);
    assert_refused::<talent_recruiting::Application>(not_hex, "encryption_key").await;

    let mut short_admin_key = base();
    short_admin_key.server.admin_key = Some("too-short".into());
    let named = "TALENT_RECRUITING_ADMIN_KEY";
    assert_refused::<talent_recruiting::Application>(short_admin_key, named).await;

    let mut short_secret = base();
    short_secret.person_key_secret = "fifteen-bytes!!".into();
    let named = "TALENT_RECRUITING_PERSON_KEY_SECRET";
    assert_refused::<talent_recruiting::Application>(short_secret, named).await;

    // The metrics service holds its admin key and the city secret to the
    // same rules.
    let metrics_base = || in_memory(support::metrics::configure);
    let mut short_admin_key = metrics_base();
    short_admin_key.server.admin_key = Some("too-short".into());
    let named = "TALENT_METRICS_ADMIN_KEY";
    assert_refused::<talent_metrics::Application>(short_admin_key, named).await;
    let mut short_secret = metrics_base();
    short_secret.person_key_secret = "fifteen-bytes!!".into();
    let named = "TALENT_METRICS_PERSON_KEY_SECRET";
    assert_refused::<talent_metrics::Application>(short_secret, named).await;
}

/// Service `S` refuses to start with `config`, naming `named` in its error.
/// A service's configuration as `configure` makes it, on an in-memory
/// database and a free port, without the operator port.
fn in_memory<Own: talent_server::config::Settings>(
    configure: fn(&mut talent_server::config::ServiceConfig<Own>),
) -> talent_server::config::ServiceConfig<Own> {
    let mut config = talent_server::config::ServiceConfig::default();
    configure(&mut config);
    config.server.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.server.prometheus_addr = None;
    config.server.database_url = "sqlite::memory:".into();
    config
}

async fn assert_refused<S: talent_server::binary::Service>(config: S::Config, named: &str) {
    match S::build(config).await {
        Ok(_) => panic!("{} started with a setting it should refuse", S::NAME),
        Err(err) => assert!(format!("{err:#}").contains(named), "{err:#}"),
    }
}

/// A key issued with an expiry works until then and is refused after it
/// exactly like a rotated-away key; an expiry not in the future is refused
/// at issue. The expiry is moved into the past in the database: no waiting.
#[tokio::test]
async fn a_key_issued_with_an_expiry_stops_working_when_it_passes() {
    let app = TestApp::spawn().await;
    let mut admin = app.recruiting().await.admin;
    let mut postings = app.recruiting().await.postings;
    let platform = app.create_platform("p1").await;
    let now = talent_codes::now_micros();
    let issue = |expire_at: i64| {
        authed(
            pb::IssueApiKeyRequest {
                parent: "platforms/p1".into(),
                expire_time: Some(talent_codes::timestamp_of_micros(expire_at)),
            },
            ADMIN_KEY,
        )
    };
    let list = |key: &str| authed(pb::ListPostingsRequest::default(), key);

    // Not in the future, or beyond the instants recruiting accepts at all
    // (2100-01-01 and later).
    for refused in [now - 1_000_000, 1, 4_102_444_800_000_000] {
        let err = admin.issue_api_key(issue(refused)).await.unwrap_err();
        assert_eq!(violated_fields(&err), ["expire_time"]);
    }
    let in_an_hour = now + 3_600_000_000;
    let issued = admin
        .issue_api_key(issue(in_an_hour))
        .await
        .unwrap()
        .into_inner();
    let key = issued.api_key.unwrap();
    assert_eq!(
        key.expire_time,
        Some(talent_codes::timestamp_of_micros(in_an_hour))
    );
    // Expired before its first use (a verified key is cached for seconds).
    let id = key.name.rsplit('/').next().unwrap();
    support::execute_sql(
        app.backend,
        app.recruiting_database_url(),
        &format!(
            "UPDATE api_keys SET expire_at = {} WHERE id = '{id}'",
            now - 1
        ),
    )
    .await;
    let expired = postings
        .list_postings(list(&issued.secret))
        .await
        .unwrap_err();
    let unknown = postings
        .list_postings(list("tlr_never-issued"))
        .await
        .unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated);
    assert_eq!(expired.message(), unknown.message());
    // The platform's other key is untouched.
    postings.list_postings(list(&platform.key)).await.unwrap();
    app.stop().await;
}
