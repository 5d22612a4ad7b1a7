//! Instants as RFC 3339 text in UTC, the way exports, error messages and
//! audit rows show them.

use prost_types::Timestamp;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// A protobuf timestamp; none outside the years 1 to 9999.
pub fn of_timestamp(ts: &Timestamp) -> Option<String> {
    of_nanos(i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos))
}

/// Unix microseconds; none outside the years 1 to 9999.
pub fn of_micros(us: i64) -> Option<String> {
    of_nanos(i128::from(us) * 1_000)
}

fn of_nanos(nanos: i128) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_in_utc_with_their_fraction() {
        assert_eq!(of_micros(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            of_micros(1_767_225_600_250_000).as_deref(),
            Some("2026-01-01T00:00:00.25Z")
        );
        let ts = Timestamp {
            seconds: -1,
            nanos: 500_000_000,
        };
        assert_eq!(of_timestamp(&ts).as_deref(), Some("1969-12-31T23:59:59.5Z"));
    }

    #[test]
    fn instants_outside_the_years_one_to_9999_have_no_text() {
        assert_eq!(of_micros(i64::MAX), None);
        assert_eq!(of_micros(i64::MIN), None);
        let ts = Timestamp {
            seconds: 253_402_300_800, // 10000-01-01
            nanos: 0,
        };
        assert_eq!(of_timestamp(&ts), None);
    }
}
