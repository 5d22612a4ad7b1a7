//! The city's day of an instant, calendar dates as day numbers, and the
//! instants accepted at all.
//!
//! Instants travel as `google.protobuf.Timestamp` and are kept as unix
//! microseconds; days are day numbers (days since 1970-01-01) of the city's
//! calendar. An instant is accepted only from 0001-01-01T00:00:00Z to the
//! end of 9999-12-31 in the city: the range `google.protobuf.Timestamp`
//! itself defines, less the last eight hours, so that every accepted
//! instant falls on a city day of the years 1 to 9999, which every date
//! type names. Inside it every conversion here stays far from the ends of
//! `i64`, so no input reaches an overflow. A service may narrow the range
//! for its own fields; it never widens it.

use std::fmt;
use std::ops::RangeInclusive;

use prost_types::Timestamp;
use talent_proto::google::r#type::Date;

/// The city's offset from UTC. The deployment's city (Qingdao) is in
/// Asia/Shanghai, which has had no daylight saving time since 1991.
const CITY_UTC_OFFSET_SECS: i64 = 8 * 3600;
const DAY_SECS: i64 = 86_400;
const MICROS_PER_SEC: i64 = 1_000_000;
/// One day in microseconds.
pub const DAY_MICROS: i64 = DAY_SECS * MICROS_PER_SEC;

/// The first accepted second: 0001-01-01T00:00:00Z.
pub const MIN_SECONDS: i64 = -62_135_596_800;
/// The last accepted second: 9999-12-31T23:59:59+08:00.
pub const MAX_SECONDS: i64 = 253_402_271_999;

/// Why a timestamp is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// `nanos` outside 0 to 999,999,999.
    Nanos,
    /// `seconds` before year 1 or after year 9999 (in the city).
    OutOfRange,
}

impl TimestampError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Nanos => "nanos must be 0 to 999,999,999",
            Self::OutOfRange => {
                "must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999+08:00"
            }
        }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl From<TimestampError> for String {
    fn from(e: TimestampError) -> Self {
        e.reason().to_owned()
    }
}

/// Unix microseconds of an accepted timestamp (nanoseconds below a
/// microsecond are dropped).
pub fn micros(ts: &Timestamp) -> Result<i64, TimestampError> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(TimestampError::Nanos);
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) {
        return Err(TimestampError::OutOfRange);
    }
    Ok(ts.seconds * MICROS_PER_SEC + i64::from(ts.nanos / 1000))
}

/// The timestamp of unix microseconds.
pub fn timestamp_of_micros(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(MICROS_PER_SEC),
        nanos: i32::try_from(us.rem_euclid(MICROS_PER_SEC) * 1000).unwrap_or(0),
    }
}

/// The city's day of an instant in unix microseconds. Defined for every
/// `i64`.
pub fn day_of_micros(us: i64) -> i64 {
    (us.div_euclid(MICROS_PER_SEC) + CITY_UTC_OFFSET_SECS).div_euclid(DAY_SECS)
}

/// The city's day of an accepted timestamp.
pub fn local_day(ts: &Timestamp) -> Result<i64, TimestampError> {
    micros(ts).map(day_of_micros)
}

/// The first microsecond of the city's day `day` (the inverse of
/// [`day_of_micros`]), saturating for days far outside the years 1 to
/// 9999.
pub fn day_start(day: i64) -> i64 {
    day.saturating_mul(DAY_MICROS)
        .saturating_sub(CITY_UTC_OFFSET_SECS * MICROS_PER_SEC)
}

/// The current instant in unix microseconds.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// Today in the city.
pub fn today() -> i64 {
    day_of_micros(now_micros())
}

/// The julian day number of 1970-01-01.
const EPOCH_JULIAN: i64 = 2_440_588;

/// The day number of a calendar date, if it is one.
pub fn day_of_date(year: i32, month: u32, day: u32) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - EPOCH_JULIAN)
}

/// The calendar date of a day number, clamped to the dates `time` knows
/// (the years -9999 to 9999).
pub fn date_of_day(day: i64) -> time::Date {
    let julian = day.saturating_add(EPOCH_JULIAN);
    i32::try_from(julian)
        .ok()
        .and_then(|j| time::Date::from_julian_day(j).ok())
        .unwrap_or(if julian < 0 {
            time::Date::MIN
        } else {
            time::Date::MAX
        })
}

/// The `google.type.Date` of a day number.
pub fn proto_date(day: i64) -> Date {
    let d = date_of_day(day);
    Date {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

/// "YYYY-MM" of a day number.
pub fn month_of_day(day: i64) -> String {
    let d = date_of_day(day);
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

/// Why a `google.type.Date` is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    Missing,
    /// The year is outside the field's range (first and last year).
    Year(i32, i32),
    /// Not a full calendar date (a month or day of 0, 31 April, …).
    Invalid,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is required"),
            Self::Year(first, last) => write!(f, "year must be from {first} to {last}"),
            Self::Invalid => f.write_str("must be a full, valid calendar date"),
        }
    }
}

impl From<DateError> for String {
    fn from(e: DateError) -> Self {
        e.to_string()
    }
}

/// The day number of a required full date whose year is in `years`.
pub fn check_date(date: Option<&Date>, years: RangeInclusive<i32>) -> Result<i64, DateError> {
    let d = date.ok_or(DateError::Missing)?;
    if !years.contains(&d.year) {
        return Err(DateError::Year(*years.start(), *years.end()));
    }
    let (Ok(month), Ok(day)) = (u32::try_from(d.month), u32::try_from(d.day)) else {
        return Err(DateError::Invalid);
    };
    day_of_date(d.year, month, day).ok_or(DateError::Invalid)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    fn unix(date: time::Date) -> i64 {
        date.midnight().assume_utc().unix_timestamp()
    }

    #[test]
    fn the_accepted_range_is_year_1_to_year_9999() {
        let first = time::Date::from_calendar_date(1, time::Month::January, 1).unwrap();
        let last = time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap();
        assert_eq!(MIN_SECONDS, unix(first));
        assert_eq!(
            MAX_SECONDS,
            unix(last) + DAY_SECS - 1 - CITY_UTC_OFFSET_SECS
        );

        assert_eq!(micros(&ts(MIN_SECONDS, 0)), Ok(MIN_SECONDS * 1_000_000));
        assert_eq!(
            micros(&ts(MAX_SECONDS, 999_999_999)),
            Ok(MAX_SECONDS * 1_000_000 + 999_999)
        );
        for seconds in [MIN_SECONDS - 1, MAX_SECONDS + 1, i64::MIN, i64::MAX] {
            assert_eq!(
                micros(&ts(seconds, 0)),
                Err(TimestampError::OutOfRange),
                "{seconds}"
            );
        }
        for nanos in [-1, 1_000_000_000, i32::MIN, i32::MAX] {
            assert_eq!(micros(&ts(0, nanos)), Err(TimestampError::Nanos), "{nanos}");
        }
        assert_eq!(micros(&ts(1, 1_999)), Ok(1_000_001));
    }

    #[test]
    fn the_citys_day_turns_at_16_00_utc() {
        let d = day_of_date(2024, 1, 1).unwrap();
        // 2024-01-01T16:00:00Z is 2024-01-02T00:00:00+08:00.
        let turn = unix(time::macros::date!(2024 - 01 - 01)) + 16 * 3600;
        assert_eq!(local_day(&ts(turn - 1, 999_999_999)), Ok(d));
        assert_eq!(local_day(&ts(turn, 0)), Ok(d + 1));
        assert_eq!(day_start(d + 1), turn * 1_000_000);
        // Before the epoch the day still turns at 16:00 UTC.
        assert_eq!(day_of_micros(-8 * 3600 * 1_000_000), 0);
        assert_eq!(day_of_micros(-8 * 3600 * 1_000_000 - 1), -1);
    }

    #[test]
    fn no_instant_overflows_a_conversion() {
        for us in [i64::MIN, i64::MAX, 0, -1] {
            let day = day_of_micros(us);
            let _ = date_of_day(day);
            let _ = proto_date(day);
            let _ = day_start(day);
            let _ = timestamp_of_micros(us);
        }
        assert_eq!(date_of_day(i64::MAX), time::Date::MAX);
        assert_eq!(date_of_day(i64::MIN), time::Date::MIN);
        // The first and last accepted instants fall on the first and last
        // day of the years 1 to 9999 in the city.
        let first = local_day(&ts(MIN_SECONDS, 0)).unwrap();
        let last = local_day(&ts(MAX_SECONDS, 999_999_999)).unwrap();
        assert_eq!(Some(first), day_of_date(1, 1, 1));
        assert_eq!(Some(last), day_of_date(9999, 12, 31));
    }

    #[test]
    fn dates_and_day_numbers() {
        assert_eq!(day_of_date(1970, 1, 1), Some(0));
        let leap = day_of_date(2024, 2, 29).unwrap();
        assert_eq!(month_of_day(leap), "2024-02");
        assert_eq!(
            proto_date(leap),
            Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(day_of_date(2023, 2, 29), None);
        assert_eq!(day_of_date(2023, 13, 1), None);
        assert_eq!(day_of_date(2023, u32::MAX, 1), None);
    }

    #[test]
    fn checked_dates() {
        let date = |year, month, day| Date { year, month, day };
        let years = 1900..=2100;
        assert_eq!(check_date(None, years.clone()), Err(DateError::Missing));
        assert_eq!(
            check_date(Some(&date(2024, 2, 29)), years.clone()),
            day_of_date(2024, 2, 29).ok_or(DateError::Invalid)
        );
        assert_eq!(
            check_date(Some(&date(1899, 12, 31)), years.clone()),
            Err(DateError::Year(1900, 2100))
        );
        for bad in [
            date(2023, 2, 29),
            date(2024, 0, 1),
            date(2024, 1, 0),
            date(2024, -1, 1),
            date(2024, i32::MAX, i32::MAX),
        ] {
            assert_eq!(
                check_date(Some(&bad), years.clone()),
                Err(DateError::Invalid),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_date(Some(&date(i32::MAX, 1, 1)), years.clone()),
            Err(DateError::Year(1900, 2100))
        );
        assert_eq!(
            String::from(DateError::Year(1950, 2100)),
            "year must be from 1950 to 2100"
        );
    }

    /// The days whose every instant is accepted (the first accepted day
    /// starts at 08:00 in the city).
    fn days() -> impl Strategy<Value = i64> {
        day_of_micros(MIN_SECONDS * 1_000_000) + 1..=day_of_micros(MAX_SECONDS * 1_000_000)
    }

    proptest! {
        #[test]
        fn a_day_starts_where_the_day_before_ends(day in days()) {
            let start = day_start(day);
            prop_assert_eq!(day_of_micros(start), day);
            prop_assert_eq!(day_of_micros(start - 1), day - 1);
            prop_assert_eq!(start + DAY_MICROS, day_start(day + 1));
        }

        #[test]
        fn instants_around_16_00_utc_round_trip(
            day in days(),
            offset in -3_600_000_000_i64..3_600_000_000,
        ) {
            // 16:00 UTC of the day before is the city's midnight of `day`.
            let midnight = day_start(day);
            let us = midnight + offset;
            let local = day_of_micros(us);
            prop_assert_eq!(local, if offset < 0 { day - 1 } else { day });
            prop_assert!(day_start(local) <= us && us < day_start(local + 1));
            let back = timestamp_of_micros(us);
            prop_assert_eq!(micros(&back), Ok(us));
            prop_assert_eq!(local_day(&back), Ok(local));
        }

        #[test]
        fn day_numbers_and_dates_round_trip(day in days()) {
            let d = proto_date(day);
            prop_assert_eq!(check_date(Some(&d), 1..=9999), Ok(day));
        }

        #[test]
        fn every_timestamp_is_accepted_or_refused_without_panicking(
            seconds in any::<i64>(),
            nanos in any::<i32>(),
        ) {
            let t = ts(seconds, nanos);
            match micros(&t) {
                Ok(us) => {
                    prop_assert_eq!(timestamp_of_micros(us).seconds, seconds);
                    let _ = proto_date(day_of_micros(us));
                }
                Err(_) => prop_assert!(
                    !(0..1_000_000_000).contains(&nanos)
                        || !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds)
                ),
            }
        }
    }
}
