//! The gRPC services of `talent.recruiting.v1`, one module per service.
//! Handlers are thin: authenticate → validate (field violations with full
//! paths) → call the store → map the result. Services not implemented yet
//! answer `UNIMPLEMENTED` through the generated default methods.

use std::{pin::Pin, sync::Arc};

use base64::Engine as _;
use futures::{Stream, future::BoxFuture};
use prost::Message as _;
use sha2::{Digest, Sha256};
use talent_server::{ApiError, CancellationToken, FieldViolations};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::store::{ItemError, RecruitingStore};

mod admin;
mod applications;
mod employers;
mod employments;
mod fairs;
mod postings;
mod resumes;

pub use admin::Admin;
pub use applications::Applications;
pub use employers::Employers;
pub use employments::Employments;
pub use fairs::Fairs;
pub use postings::Postings;
pub use resumes::Resumes;

/// What every handler shares: the store and the admin key.
#[derive(Clone)]
pub struct Context<S> {
    pub store: S,
    pub admin_key: Option<Arc<str>>,
    /// The city secret of person keys.
    pub person_key_secret: Arc<[u8]>,
    /// Cancelled when the service begins to shut down.
    pub draining: talent_server::CancellationToken,
    /// Platform keys verified recently in this replica.
    pub keys: Arc<crate::auth::KeyCache>,
}

impl<S: RecruitingStore> Context<S> {
    /// The calling platform.
    pub async fn platform<T>(&self, request: &tonic::Request<T>) -> Result<String, ApiError> {
        crate::auth::platform(
            &self.store,
            self.admin_key.as_deref(),
            &self.keys,
            request.metadata(),
        )
        .await
    }

    /// Forgets every verified key, after keys were rotated or a platform
    /// disabled, so that the change holds in this replica at once.
    pub fn keys_changed(&self) {
        self.keys.invalidate();
    }

    /// Requires the admin key.
    pub async fn admin<T>(&self, request: &tonic::Request<T>) -> Result<(), ApiError> {
        crate::auth::admin(&self.store, self.admin_key.as_deref(), request.metadata()).await
    }
}

/// Turns a handler error into the response status.
pub fn status(err: impl Into<ApiError>) -> Status {
    err.into().into()
}

/// The answers of a client-streaming batch upsert.
pub type BatchStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Serves a stream of batch messages in two stages joined by a
/// one-message queue, so that the reading task decodes and validates
/// message N+1 (`prepare`) while the writing task has message N in the
/// store (`store`); the store sees the messages one at a time, in order.
/// Answers keep the order of the messages, and the first error ends the
/// stream after the answers before it. On shutdown the batches already
/// read are finished, then the stream ends with UNAVAILABLE and the
/// platform reconnects.
pub fn serve_batches<In, P, Out>(
    mut inbound: Streaming<In>,
    draining: CancellationToken,
    prepare: impl Fn(In) -> Result<P, ApiError> + Send + 'static,
    store: impl Fn(P) -> BoxFuture<'static, Result<Out, ApiError>> + Send + 'static,
) -> BatchStream<Out>
where
    In: Send + 'static,
    P: Send + 'static,
    Out: Send + 'static,
{
    let (prepared, mut to_store) = tokio::sync::mpsc::channel::<Result<P, Status>>(1);
    let (answers, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                next = inbound.message() => match next {
                    Ok(Some(message)) => prepare(message).map_err(status),
                    Ok(None) => break,
                    Err(err) => Err(err),
                },
                () = draining.cancelled() => {
                    Err(Status::unavailable("the recruiting service is shutting down"))
                }
            };
            let last = item.is_err();
            if prepared.send(item).await.is_err() || last {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(item) = to_store.recv().await {
            let answer = match item {
                Ok(batch) => store(batch).await.map_err(status),
                Err(err) => Err(err),
            };
            let last = answer.is_err();
            if answers.send(answer).await.is_err() || last {
                break;
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
}

/// The `google.rpc.Status` of a rejected batch item, with field paths under
/// `prefix` (`postings[3]`).
pub fn item_status(prefix: &str, err: ItemError) -> tonic_types::pb::Status {
    let api = match err {
        ItemError::Invalid(problems) => {
            let mut violations = FieldViolations::new();
            for (field, description) in problems {
                violations.add(format!("{prefix}.{field}"), description);
            }
            ApiError::InvalidArgument(violations)
        }
        ItemError::FailedPrecondition(message) => ApiError::FailedPrecondition(message),
    };
    rpc_status(api)
}

/// A whole-item error as a `google.rpc.Status`, built by the one mapping of
/// errors to statuses so that batch results and call errors agree.
pub fn rpc_status(err: ApiError) -> tonic_types::pb::Status {
    let status: Status = err.into();
    tonic_types::pb::Status::decode(status.details())
        .ok()
        .filter(|s| s.code != 0)
        .unwrap_or_else(|| tonic_types::pb::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        })
}

/// Field violations of one item, prefixed into `ItemError` form.
pub fn violations_of(items: FieldViolations) -> ItemError {
    ItemError::Invalid(
        items
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect(),
    )
}

/// The platform id of `platforms/{id}`.
pub fn parse_platform_name(name: &str) -> Option<&str> {
    let id = name.strip_prefix("platforms/")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// `(platform, id)` of `platforms/{platform}/{collection}/{id}`.
pub fn parse_child_name<'a>(name: &'a str, collection: &str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix("platforms/")?;
    let (platform, rest) = rest.split_once('/')?;
    let id = rest.strip_prefix(collection)?.strip_prefix('/')?;
    (!platform.is_empty() && !id.is_empty() && !id.contains('/')).then_some((platform, id))
}

/// The id named by `name` when it is a child of the calling platform;
/// another platform's resource is `NOT_FOUND`, as if it did not exist.
pub fn own_child(
    name: &str,
    collection: &str,
    field: &str,
    platform: &str,
) -> Result<String, ApiError> {
    let Some((owner, id)) = parse_child_name(name, collection) else {
        return Err(ApiError::invalid(
            field,
            format!("must be a resource name platforms/{{platform}}/{collection}/{{id}}"),
        ));
    };
    if owner != platform {
        return Err(ApiError::NotFound(format!("{name} not found")));
    }
    Ok(id.to_owned())
}

/// Checks a `parent`: empty, `platforms/-` or the calling platform.
pub fn check_parent(parent: &str, platform: &str) -> Result<(), ApiError> {
    if parent.is_empty() || parent == "platforms/-" {
        return Ok(());
    }
    match parse_platform_name(parent) {
        Some(id) if id == platform => Ok(()),
        Some(_) => Err(ApiError::PermissionDenied(
            "a platform may only list its own resources".into(),
        )),
        None => Err(ApiError::invalid(
            "parent",
            "must be platforms/{platform} or platforms/-",
        )),
    }
}

/// A page token: the position after the last result, bound to the
/// filters of the call that produced it.
pub fn page_token(filters: &str, cursor: serde_json::Value) -> String {
    let token = serde_json::json!({ "f": filter_digest(filters), "c": cursor });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The cursor of `token`, or a violation on `page_token` when the token is
/// malformed or was issued for other filters.
pub fn read_page_token(
    token: &str,
    filters: &str,
    violations: &mut FieldViolations,
) -> Option<serde_json::Value> {
    if token.is_empty() {
        return None;
    }
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match decoded {
        Some(value) if value["f"] == filter_digest(filters) => Some(value["c"].clone()),
        Some(_) => {
            violations.add(
                "page_token",
                "was issued for different filters; restart without a page token",
            );
            None
        }
        None => {
            violations.add("page_token", "is not a token this service issued");
            None
        }
    }
}

fn filter_digest(filters: &str) -> String {
    hex::encode(&Sha256::digest(filters.as_bytes())[..12])
}

/// Checks an optional `request_id`: empty or a UUID.
pub fn request_id(value: &str, field: &str, violations: &mut FieldViolations) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    match uuid::Uuid::parse_str(value) {
        Ok(id) => Some(id.to_string()),
        Err(_) => {
            violations.add(field, "must be a UUID");
            None
        }
    }
}

/// A SHA-256 fingerprint of a request's canonical form, for request ids.
pub fn fingerprint(canonical: &impl std::fmt::Debug) -> Vec<u8> {
    Sha256::digest(format!("{canonical:?}")).to_vec()
}
