//! Who is calling: the admin (the configured admin key) or a platform (an
//! API key, stored only as its SHA-256).
//!
//! A verified platform key is remembered by its hash in this replica's
//! [`KeyCache`] for at most [`KEY_CACHE_TTL_MICROS`] (and never past the
//! key's own expiry), so that a busy platform's calls do not each cost a
//! database lookup. Rotating keys or disabling a platform through this
//! replica empties the cache at once; a change made through another replica
//! takes effect here within the TTL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

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

/// How long a verified key is trusted without asking the database: the
/// longest a key revoked (rotated without grace, or its platform disabled)
/// through another replica keeps working in this one.
pub const KEY_CACHE_TTL_MICROS: i64 = 5_000_000;
/// The most keys remembered; beyond it, the expired ones are dropped, and
/// if none has expired, all of them.
const KEY_CACHE_CAPACITY: usize = 10_000;

/// Verified platform keys of this replica: key hash → platform and key id,
/// each until an instant. Only active keys are remembered (an unknown or disabled
/// key is looked up every time), so a flood of bad keys cannot fill it.
#[derive(Debug)]
pub struct KeyCache {
    ttl_micros: i64,
    capacity: usize,
    inner: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Bumped by every invalidation; a lookup that began before it must not
    /// store what it read.
    generation: u64,
    entries: HashMap<Vec<u8>, (Caller, i64)>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(KEY_CACHE_TTL_MICROS, KEY_CACHE_CAPACITY)
    }
}

impl KeyCache {
    pub fn new(ttl_micros: i64, capacity: usize) -> Self {
        Self {
            ttl_micros,
            capacity,
            inner: Mutex::new(CacheState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, CacheState> {
        // The state is consistent after every statement; a panic elsewhere
        // while holding the lock cannot leave it half-changed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller of a key verified less than the TTL before `now` and
    /// not expired since.
    pub fn get(&self, key_hash: &[u8], now: i64) -> Option<Caller> {
        let state = self.state();
        let (caller, until) = state.entries.get(key_hash)?;
        (now < *until).then(|| caller.clone())
    }

    /// The generation to hand back to [`KeyCache::insert`]; taken before the
    /// database lookup.
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Remembers a key the database found active at `now`, unless the cache
    /// was invalidated since `generation` was taken (the lookup may have
    /// read the state from before the change).
    pub fn insert(
        &self,
        key_hash: Vec<u8>,
        caller: Caller,
        expire_at: Option<i64>,
        now: i64,
        generation: u64,
    ) {
        let until = expire_at.map_or(now.saturating_add(self.ttl_micros), |e| {
            e.min(now.saturating_add(self.ttl_micros))
        });
        let mut state = self.state();
        if state.generation != generation || until <= now {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&key_hash) {
            state.entries.retain(|_, (_, until)| now < *until);
            if state.entries.len() >= self.capacity {
                state.entries.clear();
            }
        }
        state.entries.insert(key_hash, (caller, until));
    }

    /// Forgets every key, after keys were rotated or a platform disabled
    /// (cheap: those are rare, and the next call of each platform refills).
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 5_000_000;

    fn platform(id: &str) -> Caller {
        Caller::Platform {
            platform: id.into(),
            key: format!("{id}-key"),
        }
    }

    fn hash(n: u8) -> Vec<u8> {
        key_hash(&format!("tlr_key{n}"))
    }

    #[test]
    fn a_verified_key_is_remembered_for_the_ttl_only() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        assert_eq!(cache.get(&hash(1), t0), None);
        cache.insert(hash(1), platform("p1"), None, t0, cache.generation());
        assert_eq!(cache.get(&hash(1), t0), Some(platform("p1")));
        assert_eq!(cache.get(&hash(1), t0 + TTL - 1), Some(platform("p1")));
        assert_eq!(cache.get(&hash(1), t0 + TTL), None, "the TTL has run out");
        assert_eq!(cache.get(&hash(2), t0), None, "another key is not known");
    }

    #[test]
    fn a_key_is_never_remembered_past_its_own_expiry() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        // Rotated with one second of grace: valid for 1 s, not the TTL.
        cache.insert(hash(1), platform("p1"), Some(t0 + 1_000_000), t0, 0);
        assert_eq!(cache.get(&hash(1), t0 + 999_999), Some(platform("p1")));
        assert_eq!(cache.get(&hash(1), t0 + 1_000_000), None);
        // Already expired: not stored at all.
        cache.insert(hash(2), platform("p1"), Some(t0), t0, 0);
        assert_eq!(cache.get(&hash(2), t0 - 1), None);
    }

    #[test]
    fn invalidation_forgets_every_key_and_refuses_lookups_begun_before_it() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        cache.insert(hash(1), platform("p1"), None, t0, cache.generation());
        cache.insert(hash(2), platform("p2"), None, t0, cache.generation());
        // A lookup reads the database, then the key is rotated away...
        let before = cache.generation();
        cache.invalidate();
        assert_eq!(cache.get(&hash(1), t0), None);
        assert_eq!(cache.get(&hash(2), t0), None);
        // ...so what that lookup read must not be remembered.
        cache.insert(hash(1), platform("p1"), None, t0, before);
        assert_eq!(cache.get(&hash(1), t0), None);
        // A lookup begun after the change is.
        cache.insert(hash(1), platform("p1"), None, t0, cache.generation());
        assert_eq!(cache.get(&hash(1), t0), Some(platform("p1")));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = KeyCache::new(TTL, 3);
        let t0 = 1_000_000_000;
        cache.insert(hash(1), platform("p1"), Some(t0 + 10), t0, 0);
        cache.insert(hash(2), platform("p2"), None, t0, 0);
        cache.insert(hash(3), platform("p3"), None, t0, 0);
        // Full: the expired key 1 makes room.
        cache.insert(hash(4), platform("p4"), None, t0 + 20, 0);
        assert_eq!(cache.state().entries.len(), 3);
        assert_eq!(cache.get(&hash(2), t0 + 20), Some(platform("p2")));
        assert_eq!(cache.get(&hash(4), t0 + 20), Some(platform("p4")));
        // Full of live keys: all are dropped, the new one is kept.
        cache.insert(hash(5), platform("p5"), None, t0 + 30, 0);
        assert_eq!(cache.state().entries.len(), 1);
        assert_eq!(cache.get(&hash(5), t0 + 30), Some(platform("p5")));
        assert_eq!(cache.get(&hash(2), t0 + 30), None);
    }
}
