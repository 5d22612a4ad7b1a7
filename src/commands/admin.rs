//! Platforms and keys: the recruiting AdminService's platforms and API
//! keys, the metrics AdminService's keys.

use super::*;

/// Creates a platform and issues its first API key; returns the platform
/// id and the key (shown once).
pub async fn add_platform(
    addr: &str,
    admin_key: &str,
    platform_id: &str,
    display_name: &str,
) -> anyhow::Result<(String, String)> {
    add_platform_expiring(addr, admin_key, platform_id, display_name, None).await
}

/// The instant `after` from now, as a timestamp (a key's expiry).
pub fn expire_time(after: Duration) -> prost_types::Timestamp {
    // Beyond what SystemTime holds: far past what the services accept, so
    // refused as out of range.
    let since = std::time::SystemTime::now()
        .checked_add(after)
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    prost_types::Timestamp {
        seconds: since,
        nanos: 0,
    }
}

/// [`add_platform`], the key expiring `key_expires` from now (none: never).
pub async fn add_platform_expiring(
    addr: &str,
    admin_key: &str,
    platform_id: &str,
    display_name: &str,
    key_expires: Option<Duration>,
) -> anyhow::Result<(String, String)> {
    use recruiting_pb::admin_service_client::AdminServiceClient;
    let what = "the recruiting service";
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let mut admin = AdminServiceClient::new(channel);
    let platform = admin
        .create_platform(recruiting_pb::CreatePlatformRequest {
            platform_id: platform_id.to_owned(),
            platform: Some(recruiting_pb::Platform {
                display_name: display_name.to_owned(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner()
        .platform
        .ok_or_else(|| anyhow!("{what} answered without the platform"))?;
    let key = admin
        .issue_api_key(recruiting_pb::IssueApiKeyRequest {
            parent: platform.name.clone(),
            expire_time: key_expires.map(expire_time),
        })
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner()
        .secret;
    Ok((platform.platform_id, key))
}

/// Issues a key of the metrics service; returns its resource name and
/// secret (shown once). `protection`: for READ keys, EXACT or PERTURBED
/// (UNSPECIFIED: the service's default, PERTURBED).
pub async fn issue_metrics_key(
    addr: &str,
    admin_key: &str,
    kind: metrics_pb::KeyKind,
    display_name: &str,
    protection: metrics_pb::Protection,
) -> anyhow::Result<(String, String)> {
    issue_metrics_key_expiring(addr, admin_key, kind, display_name, protection, None).await
}

/// [`issue_metrics_key`], the key expiring `expires` from now (none:
/// never).
pub async fn issue_metrics_key_expiring(
    addr: &str,
    admin_key: &str,
    kind: metrics_pb::KeyKind,
    display_name: &str,
    protection: metrics_pb::Protection,
    expires: Option<Duration>,
) -> anyhow::Result<(String, String)> {
    use metrics_pb::admin_service_client::AdminServiceClient;
    let what = "the metrics service";
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let response = AdminServiceClient::new(channel)
        .issue_key(metrics_pb::IssueKeyRequest {
            kind: kind as i32,
            display_name: display_name.to_owned(),
            protection: protection as i32,
            expire_time: expires.map(expire_time),
            ..Default::default()
        })
        .await
        .map_err(|s| client::explain(&s, what))?
        .into_inner();
    let name = response.key.map(|k| k.name).unwrap_or_default();
    Ok((name, response.secret))
}

/// Every key of the metrics service (revoked ones too when asked), as a
/// table: name, kind, protection, state, holder.
pub async fn list_metrics_keys(
    addr: &str,
    admin_key: &str,
    show_revoked: bool,
) -> anyhow::Result<String> {
    use metrics_pb::admin_service_client::AdminServiceClient;
    let what = "the metrics service";
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let mut admin = AdminServiceClient::new(channel);
    let mut out = format!(
        "{:<40} {:<9} {:<10} {:<8} {:<20} holder\n",
        "key", "kind", "protection", "state", "expires"
    );
    let mut page_token = String::new();
    loop {
        let page = admin
            .list_keys(metrics_pb::ListKeysRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                show_revoked,
            })
            .await
            .map_err(|s| client::explain(&s, what))?
            .into_inner();
        for key in &page.keys {
            let kind = key.kind().as_str_name().trim_start_matches("KEY_KIND_");
            let protection = match key.protection() {
                metrics_pb::Protection::Unspecified => "-",
                p => p.as_str_name().trim_start_matches("PROTECTION_"),
            };
            let state = key.state().as_str_name().trim_start_matches("STATE_");
            out.push_str(&format!(
                "{:<40} {:<9} {:<10} {:<8} {:<20} {}\n",
                key.name,
                kind,
                protection,
                state,
                instant(key.expire_time.as_ref()),
                key.display_name
            ));
        }
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// Revokes a key of the metrics service by its resource name.
pub async fn revoke_metrics_key(addr: &str, admin_key: &str, name: &str) -> anyhow::Result<()> {
    use metrics_pb::admin_service_client::AdminServiceClient;
    let what = "the metrics service";
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    AdminServiceClient::new(channel)
        .revoke_key(metrics_pb::RevokeKeyRequest {
            name: name.to_owned(),
        })
        .await
        .map_err(|s| client::explain(&s, what))?;
    Ok(())
}

/// `platforms/{id}` for an id, or the resource name as given.
fn platform_name(id: &str) -> String {
    let id = id.trim();
    if id.starts_with("platforms/") {
        id.to_owned()
    } else {
        format!("platforms/{id}")
    }
}

/// A failed admin call about one platform: NOT_FOUND and
/// FAILED_PRECONDITION name the platform; anything else as [`client::explain`].
fn about_platform(status: &tonic::Status, name: &str, what: &str) -> anyhow::Error {
    let id = name.trim_start_matches("platforms/");
    match status.code() {
        tonic::Code::NotFound => {
            anyhow!("no platform \"{id}\" in {what} (see talent platform list --disabled)")
        }
        tonic::Code::FailedPrecondition => {
            anyhow!("platform \"{id}\": {}", status.message())
        }
        _ => client::explain(status, what),
    }
}

/// An instant as RFC 3339 in UTC, to the second; "-" when unset.
pub fn instant(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

/// The platforms of the recruiting service (disabled ones too when asked),
/// every page, as a table: id, state, created, disabled, display name.
pub async fn list_platforms(
    addr: &str,
    admin_key: &str,
    show_disabled: bool,
) -> anyhow::Result<String> {
    use recruiting_pb::admin_service_client::AdminServiceClient;
    let what = "the recruiting service";
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let mut admin = AdminServiceClient::new(channel);
    let mut platforms = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .list_platforms(recruiting_pb::ListPlatformsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                show_disabled,
            })
            .await
            .map_err(|s| client::explain(&s, what))?
            .into_inner();
        platforms.extend(page.platforms);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let id_width = platforms
        .iter()
        .map(|p| p.platform_id.len())
        .chain([8])
        .max()
        .unwrap_or(8);
    let mut out = format!(
        "{:<id_width$}  {:<8}  {:<20}  {:<20}  display name\n",
        "platform", "state", "created", "disabled"
    );
    for p in &platforms {
        let state = p.state().as_str_name().trim_start_matches("STATE_");
        out.push_str(&format!(
            "{:<id_width$}  {:<8}  {:<20}  {:<20}  {}\n",
            p.platform_id,
            state,
            instant(p.create_time.as_ref()),
            instant(p.disable_time.as_ref()),
            p.display_name
        ));
    }
    if platforms.is_empty() {
        out.push_str(if show_disabled {
            "(no platforms)\n"
        } else {
            "(no active platforms; --disabled shows disabled ones too)\n"
        });
    }
    Ok(out)
}

/// Disables a platform (by id or `platforms/{id}`): its keys stop working.
/// Returns the platform as the service now has it.
pub async fn disable_platform(
    addr: &str,
    admin_key: &str,
    id: &str,
) -> anyhow::Result<recruiting_pb::Platform> {
    use recruiting_pb::admin_service_client::AdminServiceClient;
    let what = "the recruiting service";
    let name = platform_name(id);
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    AdminServiceClient::new(channel)
        .disable_platform(recruiting_pb::DisablePlatformRequest { name: name.clone() })
        .await
        .map_err(|s| about_platform(&s, &name, what))?
        .into_inner()
        .platform
        .ok_or_else(|| anyhow!("{what} answered without the platform"))
}

/// Issues a new API key for a platform, expiring `expires` from now (none:
/// never); its other active keys expire after `grace` (at once when zero).
/// The answer holds the secret (shown once) and the keys now expiring.
pub async fn rotate_platform_key(
    addr: &str,
    admin_key: &str,
    id: &str,
    grace: Duration,
    expires: Option<Duration>,
) -> anyhow::Result<recruiting_pb::RotateApiKeyResponse> {
    use recruiting_pb::admin_service_client::AdminServiceClient;
    let what = "the recruiting service";
    let name = platform_name(id);
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let grace_period = (!grace.is_zero()).then(|| prost_types::Duration {
        seconds: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    });
    Ok(AdminServiceClient::new(channel)
        .rotate_api_key(recruiting_pb::RotateApiKeyRequest {
            parent: name.clone(),
            grace_period,
            expire_time: expires.map(expire_time),
        })
        .await
        .map_err(|s| about_platform(&s, &name, what))?
        .into_inner())
}

/// Parses a grace period: `0`, `90s`, `30m`, `12h`, `7d` (a bare number is
/// seconds).
pub fn parse_grace(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{s}\" is not a duration like 30m, 12h or 7d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("\"{s}\" is not a duration like 30m, 12h or 7d")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{s}\" is too long"))
}
