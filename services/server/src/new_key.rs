//! What both services do when they issue a key: a secret of 256 random
//! bits behind a prefix that names the service it is for, the part of it
//! that listings show, and the check of the key's expiry time.

use base64::Engine;
use rand::RngCore;

use crate::FieldViolations;

/// Characters of a secret that listings show (its service prefix and the
/// first random ones): enough to tell keys apart, too few to guess.
pub const SHOWN_CHARS: usize = 8;

/// A key's secret as it is issued: told to the caller once, never stored.
pub struct NewSecret {
    /// `service_prefix` and 43 URL-safe base64 characters (256 random
    /// bits).
    pub secret: String,
    /// Its first [`SHOWN_CHARS`] characters, kept to show in listings.
    pub shown: String,
}

impl NewSecret {
    /// A new random secret for the service whose keys begin with
    /// `service_prefix` ("tlr_", "tlm_").
    pub fn generate(service_prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!(
            "{service_prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let shown = secret.chars().take(SHOWN_CHARS).collect();
        Self { secret, shown }
    }
}

/// A new key's `expire_time`, read by the service's own rule of accepted
/// instants into `at` (microseconds), which must lie after `now`; none
/// when the request sets none (the key does not expire) or it was refused.
pub fn expire_at(at: Option<i64>, now: i64, v: &mut FieldViolations) -> Option<i64> {
    let at = at?;
    if at <= now {
        v.add("expire_time", "must be in the future");
        return None;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_show_their_service() {
        let (a, b) = (NewSecret::generate("tlm_"), NewSecret::generate("tlm_"));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 4 + 43);
        assert!(a.secret.starts_with("tlm_"));
        assert_eq!(a.shown, a.secret[..SHOWN_CHARS]);
    }

    #[test]
    fn an_expiry_must_lie_ahead() {
        let now = 1_700_000_000_000_000;
        let mut v = FieldViolations::new();
        assert_eq!(expire_at(None, now, &mut v), None);
        assert_eq!(expire_at(Some(now + 1), now, &mut v), Some(now + 1));
        assert!(v.into_result().is_ok());
        for past in [now, 0, i64::MIN] {
            let mut v = FieldViolations::new();
            assert_eq!(expire_at(Some(past), now, &mut v), None);
            assert!(v.into_result().is_err(), "{past}");
        }
    }
}
