//! Formats of the open code sets (`talent/type/v1/codes.proto`), days and
//! instants, and the person key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use talent_proto::google::r#type::Date;

/// The city's UTC offset. The deployment's city (Qingdao) is in
/// Asia/Shanghai, which has had no daylight saving time since 1991.
pub const CITY_UTC_OFFSET_SECS: i64 = 8 * 3600;

/// Days since 1970-01-01 of a calendar date.
pub fn day_of_date(year: i32, month: u32, day: u32) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - i64::from(EPOCH_JULIAN))
}

const EPOCH_JULIAN: i32 = 2_440_588;

/// The calendar date of a day number.
pub fn date_of_day(day: i64) -> time::Date {
    time::Date::from_julian_day(i32::try_from(day + i64::from(EPOCH_JULIAN)).unwrap_or(0))
        .unwrap_or(time::Date::MIN)
}

/// The proto date of a day number.
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

/// A full date with its year in `years`, as a day number.
pub fn check_date(
    date: Option<&Date>,
    years: std::ops::RangeInclusive<i32>,
) -> Result<i64, String> {
    let Some(d) = date else {
        return Err("required".into());
    };
    if !years.contains(&d.year) {
        return Err(format!(
            "year must be from {} to {}",
            years.start(),
            years.end()
        ));
    }
    let (Ok(m), Ok(dd)) = (u32::try_from(d.month), u32::try_from(d.day)) else {
        return Err("not a valid calendar date".into());
    };
    day_of_date(d.year, m, dd).ok_or_else(|| "not a valid calendar date".into())
}

/// The local day (city time) of an instant.
pub fn local_day(ts: &prost_types::Timestamp) -> i64 {
    (ts.seconds + CITY_UTC_OFFSET_SECS).div_euclid(86_400)
}

/// Unix microseconds of an instant.
pub fn micros(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(ts.nanos / 1000))
}

pub fn timestamp_of_micros(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

/// Unix microseconds now.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// Today in the city.
pub fn today() -> i64 {
    (now_micros() / 1_000_000 + CITY_UTC_OFFSET_SECS).div_euclid(86_400)
}

pub fn is_person_key(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn is_district(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A lower-case hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

pub fn is_university_code(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// GB/T 4754-2017 divisions of each section.
const SECTIONS: &[(char, u32, u32)] = &[
    ('A', 1, 5),
    ('B', 6, 12),
    ('C', 13, 43),
    ('D', 44, 46),
    ('E', 47, 50),
    ('F', 51, 52),
    ('G', 53, 60),
    ('H', 61, 62),
    ('I', 63, 65),
    ('J', 66, 69),
    ('K', 70, 70),
    ('L', 71, 72),
    ('M', 73, 75),
    ('N', 76, 79),
    ('O', 80, 82),
    ('P', 83, 83),
    ('Q', 84, 85),
    ('R', 86, 90),
    ('S', 91, 97),
    ('T', 98, 98),
];

/// The normalised industry code ("C" or "C39"), or why it is invalid.
pub fn industry(s: &str) -> Result<String, &'static str> {
    let up = s.to_ascii_uppercase();
    let mut chars = up.chars();
    let Some(section) = chars.next() else {
        return Err("required");
    };
    let Some(&(_, lo, hi)) = SECTIONS.iter().find(|(c, _, _)| *c == section) else {
        return Err("must start with a GB/T 4754-2017 section letter A to T");
    };
    let rest: String = chars.collect();
    if rest.is_empty() {
        return Ok(up);
    }
    if rest.len() != 2 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a section letter, optionally followed by two digits");
    }
    let division: u32 = rest.parse().unwrap_or(0);
    if division < lo || division > hi {
        return Err("the division does not belong to its section");
    }
    Ok(up)
}

/// A filter value for industries: a section letter, or section and
/// division; normalised.
pub fn industry_filter(s: &str) -> Result<String, &'static str> {
    industry(s)
}

/// The normalised unified social credit code (GB 32100-2015), or why it is
/// invalid.
pub fn credit_code(s: &str) -> Result<String, &'static str> {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let up = s.to_ascii_uppercase();
    if up.len() != 18 {
        return Err("must be 18 characters");
    }
    let mut values = Vec::with_capacity(18);
    for b in up.bytes() {
        match CHARS.iter().position(|c| *c == b) {
            Some(v) => values.push(v as u32),
            None => return Err("contains a character not allowed in a credit code"),
        }
    }
    let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err("check character does not match");
    }
    Ok(up)
}

/// The normalised resident ID number (GB 11643-1999), or why it is invalid.
pub fn resident_id(s: &str) -> Result<String, &'static str> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let id = s.trim().replace('x', "X");
    let bytes = id.as_bytes();
    if bytes.len() != 18 {
        return Err("must be 18 characters");
    }
    if !bytes[..17].iter().all(u8::is_ascii_digit)
        || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
    {
        return Err("must be 17 digits and a check character (digit or X)");
    }
    let birth = &id[6..14];
    let (y, m, d) = (
        birth[0..4].parse::<i32>().unwrap_or(0),
        birth[4..6].parse::<u32>().unwrap_or(0),
        birth[6..8].parse::<u32>().unwrap_or(0),
    );
    if !(1900..=2100).contains(&y) || day_of_date(y, m, d).is_none() {
        return Err("the embedded birth date is not a valid date");
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if bytes[17] != CHECK[(sum % 11) as usize] {
        return Err("check character does not match");
    }
    Ok(id)
}

/// The person key of a normalised resident ID number: lower-case hex of
/// HMAC-SHA256(city secret, number), as the recruiting service computes it.
pub fn person_key(secret: &str, normalised_id: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(normalised_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The platform of a resource name `platforms/{platform}/{collection}/{id}`
/// when it has that shape.
pub fn resource_platform<'a>(name: &'a str, collection: &str) -> Option<&'a str> {
    let mut parts = name.split('/');
    let (Some("platforms"), Some(platform), Some(c), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (c == collection && !platform.is_empty() && !id.is_empty() && name.len() <= 512)
        .then_some(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids_are_checked() {
        assert_eq!(
            resident_id("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert!(resident_id("110105194912310021").is_err());
        assert!(resident_id("110105194913310028").is_err());
    }

    #[test]
    fn industries_are_normalised() {
        assert_eq!(industry("c39").unwrap(), "C39");
        assert!(industry("A39").is_err());
        assert!(industry("Z").is_err());
    }

    #[test]
    fn days_round_trip() {
        let d = day_of_date(2024, 2, 29).unwrap();
        assert_eq!(month_of_day(d), "2024-02");
        assert_eq!(proto_date(d).day, 29);
        assert_eq!(day_of_date(1970, 1, 1), Some(0));
    }

    #[test]
    fn credit_codes_are_checked() {
        assert!(credit_code("91370200MA3C5XXX0X").is_err());
        assert_eq!(
            credit_code("91350100M000100Y43").unwrap(),
            "91350100M000100Y43"
        );
    }
}
