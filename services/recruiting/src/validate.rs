//! Input rules shared by every RPC: text normalisation, the code formats of
//! `talent/type/v1/codes.proto`, identifiers, times and page sizes. Each
//! check records a field violation under the path it is given; none of them
//! touches the database.

use std::borrow::Cow;

use talent_server::FieldViolations;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick, is_nfkc_quick};

/// Accepted instants: 2000-01-01T00:00:00Z (inclusive) to
/// 2100-01-01T00:00:00Z (exclusive), in unix seconds.
pub const MIN_TIME_SECS: i64 = 946_684_800;
pub const MAX_TIME_SECS: i64 = 4_102_444_800;
/// One day in microseconds.
pub const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// The current time in unix microseconds.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Unix microseconds as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

/// A protobuf timestamp in the accepted range, as unix microseconds.
pub fn micros(
    ts: &prost_types::Timestamp,
    field: &str,
    violations: &mut FieldViolations,
) -> Option<i64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        violations.add(field, "nanos must be 0 to 999,999,999");
        return None;
    }
    if !(MIN_TIME_SECS..MAX_TIME_SECS).contains(&ts.seconds) {
        violations.add(
            field,
            "must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z",
        );
        return None;
    }
    Some(ts.seconds * 1_000_000 + i64::from(ts.nanos) / 1000)
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
    if at > now + CLOCK_LEEWAY_MICROS {
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

/// The title as the opening match compares it: NFKC, lower-cased (Unicode
/// case folding for every script the titles use), white space runs
/// collapsed to one space, trimmed.
pub fn normalised_title(title: &str) -> String {
    let folded = match is_nfkc_quick(title.chars()) {
        IsNormalized::Yes => title.to_lowercase(),
        _ => title.nfkc().collect::<String>().to_lowercase(),
    };
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// A GB/T 2260 district: exactly six ASCII digits.
pub fn is_district(value: &str) -> bool {
    value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Records a violation unless `value` is a district code.
pub fn district(value: &str, field: &str, violations: &mut FieldViolations) {
    if !is_district(value) {
        violations.add(field, "must be a GB/T 2260 district code of six digits");
    }
}

/// A district prefix filter: 1 to 6 digits.
pub fn district_prefix(value: &str, field: &str, violations: &mut FieldViolations) {
    if value.is_empty() || value.len() > 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        violations.add(field, "must be 1 to 6 digits");
    }
}

/// The GB/T 4754-2017 divisions of each section, "A".."T".
const SECTION_DIVISIONS: [(u8, u8, u8); 20] = [
    (b'A', 1, 5),
    (b'B', 6, 12),
    (b'C', 13, 43),
    (b'D', 44, 46),
    (b'E', 47, 50),
    (b'F', 51, 52),
    (b'G', 53, 60),
    (b'H', 61, 62),
    (b'I', 63, 65),
    (b'J', 66, 69),
    (b'K', 70, 70),
    (b'L', 71, 72),
    (b'M', 73, 75),
    (b'N', 76, 79),
    (b'O', 80, 82),
    (b'P', 83, 83),
    (b'Q', 84, 85),
    (b'R', 86, 90),
    (b'S', 91, 96),
    (b'T', 97, 97),
];

/// A GB/T 4754-2017 industry code, upper-cased: a section letter with an
/// optional division of that section. `None` when invalid.
pub fn industry_code(value: &str) -> Option<String> {
    let upper = value.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let section = SECTION_DIVISIONS
        .iter()
        .find(|(letter, _, _)| Some(letter) == bytes.first())?;
    match bytes.len() {
        1 => Some(upper),
        3 if bytes[1..].iter().all(u8::is_ascii_digit) => {
            let division = (bytes[1] - b'0') * 10 + (bytes[2] - b'0');
            (section.1..=section.2).contains(&division).then_some(upper)
        }
        _ => None,
    }
}

/// Records a violation unless `value` is an industry code; returns it
/// upper-cased.
pub fn industry(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    industry_code(value).unwrap_or_else(|| {
        violations.add(
            field,
            "must be a GB/T 4754-2017 code: a section letter A to T, optionally with a division of that section (\"C\" or \"C39\")",
        );
        String::new()
    })
}

/// An industry prefix filter: a section letter or a full code.
pub fn industry_prefix(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    industry(value, field, violations)
}

/// Characters of a unified social credit code, in the order of their
/// values (GB 32100-2015: digits and upper-case letters except I, O, Z, S
/// and V).
const CREDIT_CODE_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code with a valid check character, upper-cased.
pub fn credit_code_value(value: &str) -> Option<String> {
    let upper = value.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    if bytes.len() != 18 {
        return None;
    }
    let mut values = [0u32; 18];
    for (slot, b) in values.iter_mut().zip(bytes) {
        *slot = u32::try_from(CREDIT_CODE_CHARS.iter().position(|c| c == b)?).ok()?;
    }
    let sum: u32 = values[..17]
        .iter()
        .zip(CREDIT_CODE_WEIGHTS)
        .map(|(v, w)| v * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    (values[17] == check).then_some(upper)
}

/// Records a violation unless `value` is a valid credit code; returns it
/// upper-cased.
pub fn credit_code(value: &str, field: &str, violations: &mut FieldViolations) -> String {
    if value.is_empty() {
        violations.add(field, "is required");
        return String::new();
    }
    credit_code_value(value).unwrap_or_else(|| {
        violations.add(
            field,
            "must be an 18-character unified social credit code with a valid GB 32100-2015 check character",
        );
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

/// `page_size`: 0 means 50, more than 1000 is 1000, negative is invalid.
pub fn page_size(value: i32, field: &str, violations: &mut FieldViolations) -> i64 {
    match value {
        v if v < 0 => {
            violations.add(field, "must not be negative");
            50
        }
        0 => 50,
        v => i64::from(v.min(1000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_code_check_character() {
        assert_eq!(
            credit_code_value("91350100m000100y43").as_deref(),
            Some("91350100M000100Y43")
        );
        assert!(credit_code_value("91350100M000100Y44").is_none());
        assert!(credit_code_value("91350100M000100Y4").is_none());
        assert!(credit_code_value("I1350100M000100Y43").is_none());
    }

    #[test]
    fn industries() {
        assert_eq!(industry_code("c39").as_deref(), Some("C39"));
        assert_eq!(industry_code("T").as_deref(), Some("T"));
        assert!(industry_code("A39").is_none());
        assert!(industry_code("U").is_none());
        assert!(industry_code("C3").is_none());
    }

    #[test]
    fn titles_normalise_for_matching() {
        assert_eq!(
            normalised_title(" Java 开发工程师"),
            normalised_title("ｊａｖａ  开发工程师 ")
        );
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
