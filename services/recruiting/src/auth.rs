//! Who is calling: the admin (the configured admin key) or a platform (an
//! API key, stored only as its SHA-256).

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use talent_server::ApiError;
use tonic::metadata::MetadataMap;

use crate::store::{KeyOwner, RecruitingStore};

/// The bearer token of a call, if any.
pub fn bearer(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// SHA-256 of a secret: what is stored and looked up.
pub fn key_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new API key secret: "tlr_" and 43 URL-safe base64 characters (256
/// random bits).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "tlr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Compares two secrets by their hashes, so the time taken does not depend
/// on how many leading characters match.
fn same_secret(a: &str, b: &str) -> bool {
    key_hash(a) == key_hash(b)
}

/// What the caller proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Platform(String),
}

/// Identifies the caller; `UNAUTHENTICATED` without a valid key,
/// `PERMISSION_DENIED` for a disabled platform.
pub async fn caller<S: RecruitingStore>(
    store: &S,
    admin_key: Option<&str>,
    metadata: &MetadataMap,
) -> Result<Caller, ApiError> {
    let Some(token) = bearer(metadata) else {
        return Err(ApiError::Unauthenticated(
            "missing `authorization: Bearer <key>` metadata".into(),
        ));
    };
    if let Some(admin) = admin_key
        && same_secret(admin, token)
    {
        return Ok(Caller::Admin);
    }
    match store
        .authenticate(key_hash(token), crate::validate::now_micros())
        .await?
    {
        KeyOwner::Active(platform) => Ok(Caller::Platform(platform)),
        KeyOwner::Disabled(_) => Err(ApiError::PermissionDenied(
            "the platform of this API key is disabled".into(),
        )),
        KeyOwner::Unknown => Err(ApiError::Unauthenticated(
            "unknown or expired API key".into(),
        )),
    }
}

/// The calling platform; the admin key is `PERMISSION_DENIED` here.
pub async fn platform<S: RecruitingStore>(
    store: &S,
    admin_key: Option<&str>,
    metadata: &MetadataMap,
) -> Result<String, ApiError> {
    match caller(store, admin_key, metadata).await? {
        Caller::Platform(id) => Ok(id),
        Caller::Admin => Err(ApiError::PermissionDenied(
            "this method takes a platform API key, not the admin key".into(),
        )),
    }
}

/// Checks for the admin key: none configured or no key is
/// `UNAUTHENTICATED`, a platform key `PERMISSION_DENIED`.
pub async fn admin<S: RecruitingStore>(
    store: &S,
    admin_key: Option<&str>,
    metadata: &MetadataMap,
) -> Result<(), ApiError> {
    if admin_key.is_none() {
        return Err(ApiError::Unauthenticated(
            "no admin key is configured; AdminService is closed".into(),
        ));
    }
    match caller(store, admin_key, metadata).await? {
        Caller::Admin => Ok(()),
        Caller::Platform(_) => Err(ApiError::PermissionDenied(
            "AdminService takes the admin key, not a platform API key".into(),
        )),
    }
}
