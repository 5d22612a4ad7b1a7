//! Keys a replica verified recently, so that a busy caller's calls do not
//! each cost a database lookup.
//!
//! A verified key is remembered by its hash for at most [`KEY_CACHE_TTL_MICROS`]
//! (and never past the key's own expiry). A change to keys made through
//! this replica (a revocation, a rotation, a platform disabled) empties the
//! cache at once ([`KeyCache::invalidate`]); one made through another
//! replica takes effect here within the TTL. Only active keys are
//! remembered: an unknown, revoked or disabled key is looked up every time,
//! so a flood of bad keys cannot fill the cache.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

/// How long a verified key is trusted without asking the database: the
/// longest a key revoked through another replica keeps working in this one.
pub const KEY_CACHE_TTL_MICROS: i64 = 5_000_000;
/// The most keys remembered; beyond it, the expired ones are dropped, and
/// if none has expired, all of them.
const KEY_CACHE_CAPACITY: usize = 10_000;

/// Verified keys of this replica: key hash → the caller it proved, each
/// until an instant (microseconds since the epoch).
#[derive(Debug)]
pub struct KeyCache<C> {
    ttl_micros: i64,
    capacity: usize,
    inner: Mutex<CacheState<C>>,
}

#[derive(Debug)]
struct CacheState<C> {
    /// Bumped by every invalidation; a lookup that began before it must not
    /// store what it read.
    generation: u64,
    entries: HashMap<Vec<u8>, (C, i64)>,
}

impl<C: Clone> Default for KeyCache<C> {
    fn default() -> Self {
        Self::new(KEY_CACHE_TTL_MICROS, KEY_CACHE_CAPACITY)
    }
}

impl<C: Clone> KeyCache<C> {
    pub fn new(ttl_micros: i64, capacity: usize) -> Self {
        Self {
            ttl_micros,
            capacity,
            inner: Mutex::new(CacheState {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, CacheState<C>> {
        // The state is consistent after every statement; a panic elsewhere
        // while holding the lock cannot leave it half-changed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller of a key verified less than the TTL before `now` and
    /// not expired since.
    pub fn get(&self, key_hash: &[u8], now: i64) -> Option<C> {
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
        caller: C,
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

    /// Forgets every key, after keys changed through this replica (cheap:
    /// such changes are rare, and the next call of each key refills).
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 5_000_000;

    fn caller(id: &str) -> String {
        format!("platforms/{id}")
    }

    fn hash(n: u8) -> Vec<u8> {
        crate::auth::sha256(&format!("tlr_key{n}")).to_vec()
    }

    #[test]
    fn a_verified_key_is_remembered_for_the_ttl_only() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        assert_eq!(cache.get(&hash(1), t0), None);
        cache.insert(hash(1), caller("p1"), None, t0, cache.generation());
        assert_eq!(cache.get(&hash(1), t0), Some(caller("p1")));
        assert_eq!(cache.get(&hash(1), t0 + TTL - 1), Some(caller("p1")));
        assert_eq!(cache.get(&hash(1), t0 + TTL), None, "the TTL has run out");
        assert_eq!(cache.get(&hash(2), t0), None, "another key is not known");
    }

    #[test]
    fn a_key_is_never_remembered_past_its_own_expiry() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        // Rotated with one second of grace: valid for 1 s, not the TTL.
        cache.insert(hash(1), caller("p1"), Some(t0 + 1_000_000), t0, 0);
        assert_eq!(cache.get(&hash(1), t0 + 999_999), Some(caller("p1")));
        assert_eq!(cache.get(&hash(1), t0 + 1_000_000), None);
        // Already expired: not stored at all.
        cache.insert(hash(2), caller("p1"), Some(t0), t0, 0);
        assert_eq!(cache.get(&hash(2), t0 - 1), None);
    }

    #[test]
    fn invalidation_forgets_every_key_and_refuses_lookups_begun_before_it() {
        let cache = KeyCache::new(TTL, 100);
        let t0 = 1_000_000_000;
        cache.insert(hash(1), caller("p1"), None, t0, cache.generation());
        cache.insert(hash(2), caller("p2"), None, t0, cache.generation());
        // A lookup reads the database, then the key is revoked...
        let before = cache.generation();
        cache.invalidate();
        assert_eq!(cache.get(&hash(1), t0), None);
        assert_eq!(cache.get(&hash(2), t0), None);
        // ...so what that lookup read must not be remembered.
        cache.insert(hash(1), caller("p1"), None, t0, before);
        assert_eq!(cache.get(&hash(1), t0), None);
        // A lookup begun after the change is.
        cache.insert(hash(1), caller("p1"), None, t0, cache.generation());
        assert_eq!(cache.get(&hash(1), t0), Some(caller("p1")));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = KeyCache::new(TTL, 3);
        let t0 = 1_000_000_000;
        cache.insert(hash(1), caller("p1"), Some(t0 + 10), t0, 0);
        cache.insert(hash(2), caller("p2"), None, t0, 0);
        cache.insert(hash(3), caller("p3"), None, t0, 0);
        // Full: the expired key 1 makes room.
        cache.insert(hash(4), caller("p4"), None, t0 + 20, 0);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&hash(2), t0 + 20), Some(caller("p2")));
        assert_eq!(cache.get(&hash(4), t0 + 20), Some(caller("p4")));
        // Full of live keys: all are dropped, the new one is kept.
        cache.insert(hash(5), caller("p5"), None, t0 + 30, 0);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&hash(5), t0 + 30), Some(caller("p5")));
        assert_eq!(cache.get(&hash(2), t0 + 30), None);
    }
}
