//! `AdminService`: platforms and their API keys, with the admin key.

use sha2::{Digest, Sha256};
use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{
    ApiError, FieldViolations,
    new_key::{self, NewSecret},
};
use tonic::{Request, Response, Status};

use super::{Context, page_token, parse_platform_name, read_page_token, request_id};
use crate::{
    auth,
    store::{ApiKeyRecord, NewApiKey, PlatformRecord, RecruitingStore, RequestId},
    validate::{self, Lines, now_micros, timestamp},
};

/// The longest grace period of `RotateApiKey`: 7 days.
const MAX_GRACE_SECS: i64 = 7 * 86_400;

pub struct Admin<S>(pub Context<S>);

fn platform_pb(p: PlatformRecord) -> pb::Platform {
    let state = if p.disabled_at.is_some() {
        pb::platform::State::Disabled
    } else {
        pb::platform::State::Active
    };
    pb::Platform {
        name: format!("platforms/{}", p.id),
        platform_id: p.id,
        display_name: p.display_name,
        state: state as i32,
        create_time: Some(timestamp(p.created_at)),
        disable_time: p.disabled_at.map(timestamp),
    }
}

fn key_pb(k: ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        name: format!("platforms/{}/apiKeys/{}", k.platform_id, k.id),
        secret_prefix: k.secret_prefix,
        create_time: Some(timestamp(k.created_at)),
        expire_time: k.expire_at.map(timestamp),
    }
}

/// The platform id of a `parent` / `name` field.
fn platform_of(name: &str, field: &str) -> Result<String, ApiError> {
    parse_platform_name(name)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid(field, "must be a resource name platforms/{platform}"))
}

fn new_key(platform_id: String, expire_at: Option<i64>) -> (NewApiKey, String) {
    let NewSecret { secret, shown } = NewSecret::generate("tlr_");
    let key = NewApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        platform_id,
        key_hash: auth::key_hash(&secret),
        secret_prefix: shown,
        expire_at,
    };
    (key, secret)
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::admin_service_server::AdminService for Admin<S> {
    #[tracing::instrument(skip_all)]
    async fn create_platform(
        &self,
        request: Request<pb::CreatePlatformRequest>,
    ) -> Result<Response<pb::CreatePlatformResponse>, Status> {
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        if !validate::is_platform_id(&req.platform_id) {
            v.add(
                "platform_id",
                "must be 1 to 63 lower-case letters, digits and \"-\", starting with a letter and not ending with \"-\"",
            );
        }
        let display_name = match &req.platform {
            Some(p) => validate::text(
                &p.display_name,
                "platform.display_name",
                1,
                100,
                Lines::Single,
                &mut v,
            ),
            None => {
                v.add("platform", "is required");
                String::new()
            }
        };
        let request_id = request_id(&req.request_id, "request_id", &mut v);
        v.into_result()?;
        let fingerprint = Sha256::digest(format!("{}\0{}", req.platform_id, display_name)).to_vec();
        let platform = self
            .0
            .store
            .create_platform(
                PlatformRecord {
                    id: req.platform_id,
                    display_name,
                    created_at: now_micros(),
                    disabled_at: None,
                },
                request_id.map(|id| RequestId { id, fingerprint }),
            )
            .await?;
        Ok(Response::new(pb::CreatePlatformResponse {
            platform: Some(platform_pb(platform)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_platforms(
        &self,
        request: Request<pb::ListPlatformsRequest>,
    ) -> Result<Response<pb::ListPlatformsResponse>, Status> {
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let filters = format!("show_disabled={}", req.show_disabled);
        let after = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after = after.and_then(|c| c.as_str().map(str::to_owned));
        let mut platforms = self
            .0
            .store
            .list_platforms(after, limit + 1, req.show_disabled)
            .await?;
        let more = platforms.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        platforms.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_page_token = match platforms.last() {
            Some(last) if more => page_token(&filters, serde_json::json!(last.id)),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListPlatformsResponse {
            platforms: platforms.into_iter().map(platform_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn disable_platform(
        &self,
        request: Request<pb::DisablePlatformRequest>,
    ) -> Result<Response<pb::DisablePlatformResponse>, Status> {
        let id = platform_of(&request.get_ref().name, "name")?;
        let platform = self.0.store.disable_platform(id, now_micros()).await;
        // Also after a failure: the change may have committed all the same.
        self.0.keys_changed();
        let platform = platform?;
        Ok(Response::new(pb::DisablePlatformResponse {
            platform: Some(platform_pb(platform)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn issue_api_key(
        &self,
        request: Request<pb::IssueApiKeyRequest>,
    ) -> Result<Response<pb::IssueApiKeyResponse>, Status> {
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = parse_platform_name(&req.parent).map(str::to_owned);
        if id.is_none() {
            v.add("parent", "must be a resource name platforms/{platform}");
        }
        let now = now_micros();
        let at =
            (req.expire_time.as_ref()).and_then(|t| validate::micros(t, "expire_time", &mut v));
        let expire_at = new_key::expire_at(at, now, &mut v);
        v.into_result()?;
        let (key, secret) = new_key(id.unwrap_or_default(), expire_at);
        let (key, _) = self.0.store.issue_api_key(key, now, None).await?;
        Ok(Response::new(pb::IssueApiKeyResponse {
            api_key: Some(key_pb(key)),
            secret,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> Result<Response<pb::RotateApiKeyResponse>, Status> {
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let id = parse_platform_name(&req.parent).map(str::to_owned);
        if id.is_none() {
            v.add("parent", "must be a resource name platforms/{platform}");
        }
        let grace_micros = match req.grace_period {
            None => 0,
            Some(d) if d.seconds < 0 || d.nanos < 0 || !(0..1_000_000_000).contains(&d.nanos) => {
                v.add("grace_period", "must not be negative");
                0
            }
            Some(d)
                if d.seconds > MAX_GRACE_SECS || (d.seconds == MAX_GRACE_SECS && d.nanos > 0) =>
            {
                v.add("grace_period", "must be at most 7 days");
                0
            }
            Some(d) => d.seconds * 1_000_000 + i64::from(d.nanos) / 1000,
        };
        let now = now_micros();
        let at =
            (req.expire_time.as_ref()).and_then(|t| validate::micros(t, "expire_time", &mut v));
        let expire_at = new_key::expire_at(at, now, &mut v);
        v.into_result()?;
        let (key, secret) = new_key(id.unwrap_or_default(), expire_at);
        let rotated = self
            .0
            .store
            .issue_api_key(key, now, Some(now + grace_micros))
            .await;
        // Also after a failure: the change may have committed all the same.
        self.0.keys_changed();
        let (key, expiring) = rotated?;
        Ok(Response::new(pb::RotateApiKeyResponse {
            api_key: Some(key_pb(key)),
            secret,
            expiring_keys: expiring.into_iter().map(key_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let response =
            talent_server::list_audit_events!(self.0.audit, request, pb::ListAuditEventsResponse)?;
        Ok(Response::new(response))
    }
}
