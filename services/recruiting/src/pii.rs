//! Personal data: the person key, encryption at rest, and the formats of
//! resident ID numbers, phone numbers and e-mail addresses.

use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The weights of GB 11643-1999 (ISO 7064 MOD 11-2).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// A resident ID number, normalised (final "x" upper-cased), when it has a
/// valid check character and birth date.
pub fn resident_id(value: &str) -> Option<String> {
    let upper = value.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if bytes[17] != ID_CHECK[(sum % 11) as usize] {
        return None;
    }
    let year: i32 = upper[6..10].parse().ok()?;
    let month: u8 = upper[10..12].parse().ok()?;
    let day: u8 = upper[12..14].parse().ok()?;
    if !(1900..=2100).contains(&year) {
        return None;
    }
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    Some(upper)
}

/// person_key = HMAC-SHA256(secret, normalised resident ID), as 64
/// lower-case hexadecimal characters.
pub fn person_key(secret: &[u8], resident_id: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(resident_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `value` looks like a person key.
pub fn is_person_key(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A phone number in E.164 form: mainland mobiles (11 digits starting with
/// "1", optionally "+86"-prefixed) or "+" and up to 15 digits.
pub fn phone(value: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mobile = |s: &str| s.len() == 11 && s.starts_with('1') && digits(s);
    if mobile(value) {
        return Some(format!("+86{value}"));
    }
    if let Some(rest) = value.strip_prefix("+86")
        && mobile(rest)
    {
        return Some(value.to_owned());
    }
    let rest = value.strip_prefix('+')?;
    (digits(rest) && (8..=15).contains(&rest.len()) && !rest.starts_with('0'))
        .then(|| value.to_owned())
}

/// An e-mail address: at most 254 characters, exactly one "@" with
/// non-empty parts, no white space.
pub fn email(value: &str) -> bool {
    let mut parts = value.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    value.chars().count() <= 254
        && !local.is_empty()
        && !domain.is_empty()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The personal fields of a résumé, encrypted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Personal {
    pub resident_id_number: String,
    pub full_name: String,
    pub phone: String,
    pub email: String,
}

/// Encrypts and decrypts personal data with XChaCha20-Poly1305: a random
/// 24-byte nonce per write, the record's identity as associated data (so a
/// ciphertext copied to another record does not decrypt).
#[derive(Clone)]
pub struct Cipher {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher { .. }")
    }
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// nonce ‖ ciphertext of `personal`, bound to `identity`.
    pub fn seal(&self, identity: &str, personal: &Personal) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let plain = serde_json::to_vec(personal)?;
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: identity.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encrypting personal data failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    pub fn open(&self, identity: &str, sealed: &[u8]) -> anyhow::Result<Personal> {
        if sealed.len() < 24 {
            anyhow::bail!("personal data too short");
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into()?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: identity.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("personal data does not decrypt with the configured key")
            })?;
        Ok(serde_json::from_slice(&plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids() {
        // The GB 11643-1999 example number.
        assert_eq!(
            resident_id("11010519491231002x").as_deref(),
            Some("11010519491231002X")
        );
        assert!(resident_id("110105194912310021").is_none());
        assert!(resident_id("110105194913310028").is_none());
    }

    #[test]
    fn phones() {
        assert_eq!(phone("13800138000").as_deref(), Some("+8613800138000"));
        assert_eq!(phone("+8613800138000").as_deref(), Some("+8613800138000"));
        assert_eq!(phone("+442079460000").as_deref(), Some("+442079460000"));
        assert!(phone("23800138000").is_none());
        assert!(phone("+1234567890123456").is_none());
    }

    #[test]
    fn sealed_data_is_bound_to_its_record() {
        let cipher = Cipher::new(&[7; 32]);
        let p = Personal {
            full_name: "张三".into(),
            ..Default::default()
        };
        let sealed = cipher.seal("a", &p).unwrap();
        assert_eq!(cipher.open("a", &sealed).unwrap(), p);
        assert!(cipher.open("b", &sealed).is_err());
    }
}
