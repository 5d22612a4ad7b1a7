//! Personal data: encryption at rest and the formats of phone numbers and
//! e-mail addresses. Resident ID numbers and the person key are rules both
//! services apply, in `talent_codes`.

use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore as _;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

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

/// The free text of a résumé: personal, though not identifying by itself
/// (what a person studied, where, where they want to work). Sealed with
/// the personal fields, so that it is unreadable at rest and gone with
/// them on erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FreeText {
    /// One per education entry, in the entries' order.
    pub education: Vec<EducationText>,
    pub desired_districts: Vec<String>,
    pub desired_industries: Vec<String>,
}

/// The free text of one education entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EducationText {
    pub university_name: String,
    pub major: String,
}

/// What a résumé's `pii` holds: its personal fields and its free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    #[serde(flatten)]
    pub personal: Personal,
    /// None in what was sealed before the free text moved in (its free
    /// text is still in the clear beside it, until re-sealed at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<FreeText>,
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
    pub fn seal<T: Serialize>(&self, identity: &str, personal: &T) -> anyhow::Result<Vec<u8>> {
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

    pub fn open<T: DeserializeOwned>(&self, identity: &str, sealed: &[u8]) -> anyhow::Result<T> {
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
        assert_eq!(cipher.open::<Personal>("a", &sealed).unwrap(), p);
        assert!(cipher.open::<Personal>("b", &sealed).is_err());
    }

    #[test]
    fn personal_fields_sealed_before_free_text_open_without_it() {
        let cipher = Cipher::new(&[7; 32]);
        let p = Personal {
            full_name: "张三".into(),
            ..Default::default()
        };
        let old = cipher.seal("a", &p).unwrap();
        let opened: Sealed = cipher.open("a", &old).unwrap();
        assert_eq!((opened.personal, opened.text), (p.clone(), None));
        let text = FreeText {
            education: vec![EducationText {
                university_name: "中国海洋大学".into(),
                major: "海洋科学".into(),
            }],
            desired_districts: vec!["370212".into()],
            desired_industries: vec!["I".into()],
        };
        let new = Sealed {
            personal: p,
            text: Some(text),
        };
        let sealed = cipher.seal("a", &new).unwrap();
        assert_eq!(cipher.open::<Sealed>("a", &sealed).unwrap(), new);
    }
}
