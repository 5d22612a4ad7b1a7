//! Input rules shared by every RPC: text normalisation, identifiers, times
//! and page sizes, and the field-violation side of the code formats whose
//! rules live in `talent_codes`. Each check records a field violation under
//! the path it is given; none of them touches the database.

use std::borrow::Cow;

use talent_codes::{TimestampError, credit_code, district, industry};
use talent_server::FieldViolations;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

pub use talent_codes::day::DAY_MICROS;
pub use talent_codes::{now_micros, timestamp_of_micros as timestamp};

/// Instants recruiting accepts, narrower than what `talent_codes` accepts
/// at all: 2000-01-01T00:00:00Z (inclusive) to 2100-01-01T00:00:00Z
/// (exclusive), in unix microseconds.
const MIN_TIME_MICROS: i64 = 946_684_800 * 1_000_000;
const MAX_TIME_MICROS: i64 = 4_102_444_800 * 1_000_000;

/// A protobuf timestamp in the accepted range, as unix microseconds.
pub fn micros(
    ts: &prost_types::Timestamp,
    field: &str,
    violations: &mut FieldViolations,
) -> Option<i64> {
    let us = match talent_codes::micros(ts) {
        Err(TimestampError::Nanos) => {
            violations.add(field, TimestampError::Nanos);
            return None;
        }
        Err(TimestampError::OutOfRange) => None,
        Ok(us) => Some(us).filter(|us| (MIN_TIME_MICROS..MAX_TIME_MICROS).contains(us)),
    };
    if us.is_none() {
        violations.add(
            field,
            "must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z",
        );
    }
    us
}

/// How far ahead of this server's clock a platform's "now" may be.
const CLOCK_LEEWAY_MICROS: i64 = 5 * 60 * 1_000_000;

/// A time that is given by the platform and must not be in the future.
pub fn past_time(
    value: Option<&prost_types::Timestamp>,
    field: &str,
    now: i64,
    v: &mut FieldViolations,
) -> Option<i64> {
    let at = micros(value?, field, v)?;
    if at > now.saturating_add(CLOCK_LEEWAY_MICROS) {
        v.add(field, "must not be in the future");
    }
    Some(at)
}

/// Where control characters are tolerated in a free-text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// No control character at all.
    Single,
    /// Line feed and tab allowed (descriptions).
    Multi,
}

/// NFC-normalises and trims `value`, rejects control characters and checks
/// the length in Unicode scalar values. `min` 0 makes the field optional.
pub fn text(
    value: &str,
    field: &str,
    min: usize,
    max: usize,
    lines: Lines,
    violations: &mut FieldViolations,
) -> String {
    let normalised = nfc(value);
    let trimmed = normalised.trim();
    let allowed = |c: char| lines == Lines::Multi && (c == '\n' || c == '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        violations.add(field, "must not contain control characters");
        return String::new();
    }
    let len = trimmed.chars().count();
    if len < min {
        if min == 1 {
            violations.add(field, "is required");
        } else {
            violations.add(field, format!("must be at least {min} characters"));
        }
    } else if len > max {
        violations.add(field, format!("must be at most {max} characters"));
    }
    trimmed.to_owned()
}

/// `value` in NFC. Most text arrives composed; the quick check (a table
/// lookup a character) spares it the decomposition, recomposition and copy.
fn nfc(value: &str) -> Cow<'_, str> {
    match is_nfc_quick(value.chars()) {
        IsNormalized::Yes => Cow::Borrowed(value),
        _ => Cow::Owned(value.nfc().collect()),
    }
}

/// A platform-chosen id (`external_id`, `fair_id`, `application_id`):
/// 1 to 128 of ASCII letters, digits, "-", "_", "." and "~".
pub fn external_id(value: &str, field: &str, violations: &mut FieldViolations) -> bool {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if !ok {
        if value.is_empty() {
            violations.add(field, "is required");
        } else {
            violations.add(
                field,
                "must be 1 to 128 ASCII letters, digits, \"-\", \"_\", \".\" or \"~\"",
            );
        }
    }
    ok
}

/// A platform id (AIP-122): 1 to 63 lower-case letters, digits and "-",
/// starting with a letter and not ending with "-".
pub fn is_platform_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Records a violation unless `value` is a GB/T 2260 district code.
pub fn district(value: &str, field: &str, violations: &mut FieldViolations) {
    if !district::is_district(value) {
        violations.add(field, district::RULE);
    }
}

/// A district prefix filter: 1 to 6 digits.
pub fn district_prefix(value: &str, field: &str, violations: &mut FieldViolations) {
    if !district::is_prefix(value) {
        violations.add(field, "must be 1 to 6 digits");
    }
}

/// Records a violation unless `value` is a GB/T 4754-2017 industry code;
/// returns it upper-cased.
pub fn industry(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    industry::industry(value).unwrap_or_else(|why| {
        violations.add(field, why);
        String::new()
    })
}

/// An industry prefix filter: a section letter or a full code.
pub fn industry_prefix(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    industry(value, field, violations)
}

/// Records a violation unless `value` is a valid unified social credit
/// code; returns it upper-cased.
pub fn credit_code(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    credit_code::credit_code(value).unwrap_or_else(|why| {
        violations.add(field, why);
        String::new()
    })
}

/// An occupation code: at most 16 characters of digits, "-" and "X".
pub fn occupation(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    let upper = value.to_ascii_uppercase();
    if upper.len() > 16
        || !upper
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'X')
    {
        violations.add(
            field,
            "must be at most 16 characters of digits, \"-\" and \"X\"",
        );
    }
    upper
}

/// Records a violation unless `value` is a known value of the enum (by
/// `known`); UNSPECIFIED (0) is accepted when `allow_unspecified`.
pub fn enum_value(
    value: i32,
    known: bool,
    allow_unspecified: bool,
    field: &str,
    violations: &mut FieldViolations,
) {
    if !known {
        violations.add(field, format!("unknown enum value {value}"));
    } else if value == 0 && !allow_unspecified {
        violations.add(field, "is required (UNSPECIFIED is not allowed)");
    }
}

pub use talent_server::paging::page_size;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_range_are_refused_with_the_field() {
        let mut v = FieldViolations::new();
        let ts = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert_eq!(
            micros(&ts(946_684_800, 1_000), "a", &mut v),
            Some(MIN_TIME_MICROS + 1)
        );
        assert!(v.is_empty());
        for (field, t) in [
            ("b", ts(i64::MAX, 0)),
            ("c", ts(i64::MIN, 0)),
            ("d", ts(946_684_799, 999_999_999)),
            ("e", ts(4_102_444_800, 0)),
            ("f", ts(0, -1)),
            ("g", ts(946_684_800, 1_000_000_000)),
        ] {
            assert_eq!(micros(&t, field, &mut v), None);
        }
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["b", "c", "d", "e", "f", "g"]);
        // A future check cannot overflow next to the last accepted instant.
        let mut v = FieldViolations::new();
        past_time(Some(&ts(4_102_444_799, 0)), "h", i64::MAX, &mut v);
        assert!(v.is_empty());
    }

    #[test]
    fn text_rules() {
        let mut v = FieldViolations::new();
        assert_eq!(text("  a\u{301} ", "f", 1, 5, Lines::Single, &mut v), "á");
        assert!(v.is_empty());
        text("a\u{7}b", "g", 1, 5, Lines::Single, &mut v);
        text("a\nb", "h", 1, 5, Lines::Multi, &mut v);
        text("abcdef", "i", 1, 5, Lines::Single, &mut v);
        text("", "j", 1, 5, Lines::Single, &mut v);
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["g", "i", "j"]);
    }
}
