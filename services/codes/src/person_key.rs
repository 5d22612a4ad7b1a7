//! The person key: how both services and the graduate roster name a person
//! without the resident ID number. `person_key` = lower-case hex of
//! HMAC-SHA256(city secret, the number in its normal form), so the same
//! person gets the same key whichever white space or case a platform or a
//! university typed the number with.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ResidentId;

/// Why a person key is invalid.
pub const RULE: &str = "must be 64 lower-case hexadecimal characters";

/// The fewest bytes of the city secret: with a shorter one, guessing the
/// secret would turn every person key back into its ID number (the
/// numbers themselves are few enough to try them all).
pub const MIN_SECRET_BYTES: usize = 16;

/// Whether `secret` may key the person keys; why not.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "must be set to at least {MIN_SECRET_BYTES} bytes; it keys person_key = \
             HMAC-SHA256(secret, resident ID number), and every service of the city must \
             have the same one"
        ));
    }
    Ok(())
}

/// The person key of a resident ID number under the city's secret.
pub fn person_key(secret: &[u8], id: &ResidentId) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(id.as_str().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `key` has the form of a person key.
pub fn is_person_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_secret_has_at_least_sixteen_bytes() {
        assert!(check_secret("").is_err());
        assert!(check_secret("fifteen-bytes!!").is_err());
        assert!(check_secret("sixteen-bytes!!!").is_ok());
    }

    fn id(text: &str) -> ResidentId {
        ResidentId::parse(text).unwrap()
    }

    #[test]
    fn a_known_key() {
        // Computed apart from this crate, with Python's hmac module:
        // hmac.new(b"city secret", b"11010519491231002X", "sha256").hexdigest()
        let expected = "9d7d975225325c25892f2cc3b3c3325c793019e21bde8a9b12d060564df996f9";
        assert_eq!(
            person_key(b"city secret", &id("11010519491231002x ")),
            expected
        );
    }

    #[test]
    fn the_key_depends_on_the_secret() {
        let n = id("11010519491231002X");
        assert_ne!(person_key(b"a", &n), person_key(b"b", &n));
        assert!(is_person_key(&person_key(b"", &n)));
    }

    #[test]
    fn key_format() {
        assert!(is_person_key(&"0123456789abcdef".repeat(4)));
        assert!(!is_person_key(&"0123456789ABCDEF".repeat(4)));
        assert!(!is_person_key(&"0".repeat(63)));
        assert!(!is_person_key(&"g".repeat(64)));
    }

    /// White space `str::trim` drops, as platforms and rosters send it.
    fn space() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![' ', '\t', '\n', '\r', '\u{3000}', '\u{a0}']),
            0..4,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    proptest! {
        #[test]
        fn every_written_form_of_one_number_has_one_key(
            district in "[1-6][0-9]{5}",
            days in 0i64..60_000,
            sequence in 0u16..1000,
            before in space(),
            after in space(),
            lower in any::<bool>(),
        ) {
            let birth = crate::date_of_day(crate::day_of_date(1900, 1, 1).unwrap() + days);
            let normal = crate::resident_id::make(&district, birth, sequence);
            let written = if lower { normal.to_lowercase() } else { normal.clone() };
            let variant = format!("{before}{written}{after}");
            let key = person_key(b"secret", &id(&normal));
            prop_assert_eq!(ResidentId::parse(&variant).map(|i| person_key(b"secret", &i)), Ok(key));
        }
    }
}
