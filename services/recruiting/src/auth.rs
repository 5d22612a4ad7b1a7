//! Who is calling: the admin (the configured admin key) or a platform (an
//! API key, stored only as its SHA-256).
//!
//! A verified platform key is remembered in this replica's [`KeyCache`]
//! (see [`talent_server::key_cache`]); rotating keys or disabling a
//! platform through this replica empties it at once.

use std::sync::Arc;

use talent_server::{
    ApiError,
    auth::{AdminKey, Authenticate},
    quota::Holder,
};

use crate::store::{KeyOwner, RecruitingStore};

/// SHA-256 of a secret: what is stored and looked up.
pub fn key_hash(secret: &str) -> Vec<u8> {
    talent_server::auth::sha256(secret).to_vec()
}

/// What the caller proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    /// A platform, by the id of the platform and of the key it presented.
    Platform {
        platform: String,
        key: String,
    },
}

impl Caller {
    /// Who called, as the audit log names them: the key's resource name,
    /// or `admin`.
    pub fn audit_name(&self) -> talent_server::audit::Who {
        match self {
            Caller::Admin => talent_server::audit::Who {
                key: "admin".into(),
                admin: true,
            },
            Caller::Platform { platform, key } => talent_server::audit::Who {
                key: format!("platforms/{platform}/apiKeys/{key}"),
                admin: false,
            },
        }
    }
}

/// Platform keys verified recently in this replica.
pub type KeyCache = talent_server::key_cache::KeyCache<Caller>;

/// The kinds of key recruiting's methods allow (see [`crate::api::ACCESS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The configured admin key.
    Admin,
    /// A platform's API key.
    Platform,
}

/// Who holds a bearer token: the admin key (when one is configured) or an
/// active platform key in the store, remembered in this replica's cache.
pub struct Keys<S> {
    pub store: S,
    pub admin_key: Option<AdminKey>,
    pub cache: Arc<KeyCache>,
}

impl<S: RecruitingStore> Authenticate for Keys<S> {
    type Kind = KeyKind;
    type Caller = Caller;

    async fn authenticate(&self, token: String) -> Result<Caller, ApiError> {
        let caller = identify(
            &self.store,
            self.admin_key.as_ref(),
            &self.cache,
            &token,
            crate::validate::now_micros(),
        )
        .await?;
        talent_server::telemetry::record_peer(match &caller {
            Caller::Admin => "admin",
            Caller::Platform { platform, .. } => platform,
        });
        Ok(caller)
    }

    fn kind(caller: &Caller) -> KeyKind {
        match caller {
            Caller::Admin => KeyKind::Admin,
            Caller::Platform { .. } => KeyKind::Platform,
        }
    }

    /// A platform's keys share its quotas (a rotation's grace period does
    /// not double them), and only a platform's items are rate-limited.
    fn holder(caller: &Caller) -> Holder {
        match caller {
            Caller::Admin => Holder {
                subject: "admin".to_owned(),
                rate_limited: false,
            },
            Caller::Platform { platform, .. } => Holder {
                subject: format!("platforms/{platform}"),
                rate_limited: true,
            },
        }
    }
}

/// `UNAUTHENTICATED` without a valid key, `PERMISSION_DENIED` for a
/// disabled platform.
async fn identify<S: RecruitingStore>(
    store: &S,
    admin_key: Option<&AdminKey>,
    keys: &KeyCache,
    token: &str,
    now: i64,
) -> Result<Caller, ApiError> {
    let hash = key_hash(token);
    if admin_key.is_some_and(|admin| admin.is(&hash)) {
        return Ok(Caller::Admin);
    }
    if let Some(caller) = keys.get(&hash, now) {
        return Ok(caller);
    }
    let generation = keys.generation();
    match store.authenticate(hash.clone(), now).await? {
        KeyOwner::Active {
            platform,
            key,
            expire_at,
        } => {
            let caller = Caller::Platform { platform, key };
            keys.insert(hash, caller.clone(), expire_at, now, generation);
            Ok(caller)
        }
        KeyOwner::Disabled(_) => Err(ApiError::PermissionDenied(
            "the platform of this API key is disabled".into(),
        )),
        KeyOwner::Unknown => Err(ApiError::Unauthenticated(
            "unknown or expired API key".into(),
        )),
    }
}
