//! The relay's key given as a file (`metrics_ingest_key_file`), the way the
//! deployments mount it: a file written after the service started is picked
//! up, and a key rotated in place is used from the next connection on.

use crate::support::{
    Options, TestApp,
    metrics::{ADMIN_KEY, Metrics, with_key},
    recruiting::{TestPlatform, credit_code, employer, posting},
};

use std::time::Duration;

use talent_proto::talent::metrics::v1 as pb;

/// The relay's `/health` detail.
async fn relay_detail(app: &TestApp) -> serde_json::Value {
    let detail =
        talent::commands::http_get_json(&app.recruiting_prometheus_addr.to_string(), "/health")
            .await
            .expect("recruiting answers /health");
    detail["relay"].clone()
}

/// Interrupted deliveries so far (`talent_relay_retries_total`).
async fn relay_retries(app: &TestApp) -> u64 {
    let text = TestApp::prometheus_text(app.recruiting_prometheus_addr).await;
    text.lines()
        .find_map(|l| l.strip_prefix("talent_relay_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the relay exports its retries")
}

/// One posting, accepted (its publication is an event for the relay).
async fn push_posting(app: &TestApp, platform: &TestPlatform, id: &str, employer_code: &str) {
    let results = app
        .push_postings(platform, vec![posting(id, "Engineer", employer_code)])
        .await;
    assert!(results[0].error.is_none(), "{results:?}");
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[tokio::test]
async fn the_relay_waits_for_its_key_file_and_reads_it_again_when_it_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("metrics-ingest-key");
    let mut app = TestApp::spawn_with(Options {
        relay: true,
        relay_key_file: Some(key_file.clone()),
        ..Default::default()
    })
    .await;
    let platform = app.create_platform("a").await;
    let employer_code = credit_code("91370212MA3C00009");
    app.push_employers(
        &platform,
        vec![employer(&employer_code, "A Co", "370212", "I")],
    )
    .await;
    push_posting(&app, &platform, "job-1", &employer_code).await;
    // After the write is acknowledged: a sample taken while it was still
    // uncommitted would show an empty outbox.
    let pushed_at = now_micros();

    // No key file yet: the relay tries, fails, tries again, and the event
    // waits in the outbox.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let detail = loop {
        let detail = relay_detail(&app).await;
        if relay_retries(&app).await >= 2 && detail["sampled_at_micros"].as_i64() > Some(pushed_at)
        {
            break detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay keeps trying"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(detail["connected"], false, "{detail}");
    assert!(detail["backlog_rows"].as_u64() >= Some(1), "{detail}");
    assert_eq!(detail["delivered"], 0, "{detail}");

    // The bootstrap writes the key: the relay delivers with it.
    let metrics = Metrics::connect(&app).await;
    let first = metrics
        .issue(pb::KeyKind::Relay, pb::Protection::Unspecified)
        .await
        .unwrap();
    std::fs::write(&key_file, format!("{}\n", first.secret)).unwrap();
    app.relay_drained().await;

    // Rotated in place, the old key revoked: after metrics restarts, the
    // relay reconnects with the key it reads now, or delivers nothing.
    let second = metrics
        .issue(pb::KeyKind::Relay, pb::Protection::Unspecified)
        .await
        .unwrap();
    std::fs::write(&key_file, format!("{}\n", second.secret)).unwrap();
    metrics
        .admin()
        .revoke_key(with_key(
            pb::RevokeKeyRequest {
                name: first.key.unwrap().name,
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap();
    drop(metrics);
    app.stop_metrics().await;
    app.start_metrics().await;
    push_posting(&app, &platform, "job-2", &employer_code).await;
    app.relay_drained().await;
    app.stop().await;
}
