//! Pagination of every list method (AIP-158), one rule for both services:
//! the page size, and page tokens that hold the position after the last
//! result bound to the filters of the call that produced them.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::FieldViolations;

/// The page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page; a larger request is served this many.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The page size of `value`: 0 means [`DEFAULT_PAGE_SIZE`], more than
/// [`MAX_PAGE_SIZE`] is coerced to it, a negative one is a violation on
/// `field`.
pub fn page_size(value: i32, field: &str, violations: &mut FieldViolations) -> i64 {
    match value {
        v if v < 0 => {
            violations.add(field, "must not be negative");
            DEFAULT_PAGE_SIZE
        }
        0 => DEFAULT_PAGE_SIZE,
        v => i64::from(v).min(MAX_PAGE_SIZE),
    }
}

/// A page token: `cursor`, the position after the last result, bound to
/// `filters` (every request field but the page size and token, written
/// the same way by the call that reads the token back).
pub fn page_token(filters: &str, cursor: serde_json::Value) -> String {
    let token = serde_json::json!({ "f": filter_digest(filters), "c": cursor });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The cursor of `token`, or a violation on `page_token` when the token is
/// malformed or was issued for other filters. None for an empty token (the
/// first page).
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

/// A violation on `page_token` for a token whose cursor is not the kind the
/// method issues (it decoded, but holds no position of this listing).
pub fn foreign_cursor(violations: &mut FieldViolations) {
    violations.add("page_token", "is not a token this service issued");
}

fn filter_digest(filters: &str) -> String {
    hex::encode(&Sha256::digest(filters.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_coerce_and_refuse_negatives() {
        let mut v = FieldViolations::new();
        assert_eq!(page_size(0, "page_size", &mut v), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7, "page_size", &mut v), 7);
        assert_eq!(page_size(1000, "page_size", &mut v), 1000);
        assert_eq!(page_size(i32::MAX, "page_size", &mut v), MAX_PAGE_SIZE);
        assert!(v.is_empty());
        page_size(-1, "page_size", &mut v);
        assert!(!v.is_empty());
    }

    #[test]
    fn a_token_gives_its_cursor_back_only_under_its_own_filters() {
        let token = page_token("show_revoked=false", serde_json::json!([17, 4]));
        let mut v = FieldViolations::new();
        assert_eq!(
            read_page_token(&token, "show_revoked=false", &mut v),
            Some(serde_json::json!([17, 4]))
        );
        assert_eq!(read_page_token("", "show_revoked=false", &mut v), None);
        assert!(v.is_empty());

        assert_eq!(read_page_token(&token, "show_revoked=true", &mut v), None);
        assert!(!v.is_empty());
        let mut v = FieldViolations::new();
        assert_eq!(read_page_token("not a token", "", &mut v), None);
        assert!(!v.is_empty());
    }
}
