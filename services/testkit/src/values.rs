//! Values for single fields: valid samples chosen by the field's name (so
//! a message gets past its first check and reaches the deeper ones), the
//! same samples made odd (white space, case, look-alike digits,
//! decomposed or invisible characters), hostile strings and boundary
//! numbers.

use proptest::prelude::*;
use proptest::sample::select;

/// How a message is made: `Calm` draws valid values with an odd one here
/// and there (so checks deep inside a message are reached, and a single
/// bad field must be named by its own path); `Hostile` draws odd values
/// as often as valid ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Calm,
    Hostile,
}

/// A string for a field named `field` of the message `context`.
pub fn string(field: &str, context: &str, mood: Mood) -> BoxedStrategy<String> {
    let valid = valid(field, context);
    let valid = if valid.is_empty() {
        strings(&["软件工程师", "Data Engineer", "A", "青岛大学"])
    } else {
        valid
    };
    match mood {
        Mood::Calm => {
            // The calling platform's own resources.
            let own: Vec<String> = valid
                .iter()
                .filter(|s| !s.contains("other"))
                .cloned()
                .collect();
            let valid = if own.is_empty() { valid } else { own };
            prop_oneof![19 => select(valid), 1 => hostile()].boxed()
        }
        Mood::Hostile => prop_oneof![
            4 => select(valid.clone()),
            2 => (select(valid), 0..ODDITIES).prop_map(|(s, odd)| oddity(&s, odd)),
            2 => hostile(),
            1 => free_text(),
        ]
        .boxed(),
    }
}

fn free_text() -> BoxedStrategy<String> {
    proptest::string::string_regex("(?s).{0,40}")
        .expect("a valid regex")
        .boxed()
}

/// Strings that broke or nearly broke a service somewhere.
fn hostile() -> BoxedStrategy<String> {
    select(vec![
        String::new(),
        " ".into(),
        " \t ".into(),
        "\0".into(),
        "\u{7}bell".into(),
        "line\nbreak".into(),
        "\u{200b}".into(),
        "\u{feff}370212".into(),
        "\u{202e}evil".into(),
        "a\u{301}".into(),
        "\u{fffd}".into(),
        "🙂".into(),
        "Ａ１２３".into(),
        "𝟑𝟕𝟎𝟐𝟏𝟐".into(),
        "x".repeat(10_001),
        "中".repeat(3_000),
        "platforms//x".into(),
        "platforms/fz/postings/".into(),
        "platforms/fz/postings/a/b".into(),
        "platforms/-/postings/x".into(),
        "../../etc/passwd".into(),
        "%00".into(),
        "' OR 1=1 --".into(),
        "-".into(),
        "9".repeat(40),
        "-9223372036854775808".into(),
        "NaN".into(),
    ])
    .boxed()
}

const ODDITIES: usize = 9;

/// `s` made odd in the `which`th way.
fn oddity(s: &str, which: usize) -> String {
    match which {
        0 => format!(" {s} "),
        1 => s.to_lowercase(),
        2 => s.to_uppercase(),
        3 => s.chars().map(fullwidth).collect(),
        4 => format!("{s}\u{200b}"),
        5 => s.chars().skip(1).collect(),
        6 => format!("{s}0"),
        7 => format!("\t{s}\n"),
        _ => s.replace('-', "\u{2010}"),
    }
}

/// The full-width look-alike of an ASCII digit or letter.
fn fullwidth(c: char) -> char {
    if c.is_ascii_alphanumeric() {
        char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
    } else {
        c
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

fn resource_names(collections: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for collection in collections {
        for platform in ["fz", "other"] {
            for id in ["job-1", "x", "a.b~c_d-e"] {
                names.push(format!("platforms/{platform}/{collection}/{id}"));
            }
        }
    }
    names
}

const UUIDS: &[&str] = &[
    "0190c3a0-7b1e-7cc2-9a6e-4d1b2c3d4e5f",
    "6f1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b",
    "00000000-0000-0000-0000-000000000000",
];

/// Valid (or almost valid) samples for a field named `field` of the
/// message `context`.
fn valid(field: &str, context: &str) -> Vec<String> {
    let f = field;
    if f.contains("credit_code") {
        [
            "91370212MA3C00001",
            "91370200163562681",
            "12100000400000000",
        ]
        .iter()
        .filter_map(|body| talent_codes::credit_code::with_check_character(body))
        .collect()
    } else if f.contains("district") {
        strings(&["370212", "370200", "370203", "3702", "110101", "37"])
    } else if f.contains("industr") {
        strings(&["I", "I65", "C", "C13", "A01", "P83", "T97"])
    } else if f.contains("resident_id") {
        resident_ids()
    } else if f.contains("person_key") {
        vec!["0".repeat(64), "a1".repeat(32), "A".repeat(64)]
    } else if f.contains("university_code") {
        strings(&["4137011065", "4111010001"])
    } else if f.contains("request_id") || f.contains("event_id") {
        strings(UUIDS)
    } else if f.contains("platform_id") {
        strings(&["fz", "fz-two", "other", "a"])
    } else if f == "parent" || f == "name" {
        let mut names = match context_collection(context) {
            Some(collection) => resource_names(&[collection]),
            None if context.contains("Key") && !context.contains("ApiKey") => {
                UUIDS.iter().map(|u| format!("keys/{u}")).collect()
            }
            None => Vec::new(),
        };
        names.extend(strings(&["platforms/fz", "platforms/-", "platforms/other"]));
        names
    } else if let Some(collection) = collection(f) {
        resource_names(&[collection])
    } else if f.ends_with("_id") || f == "external_id" {
        vec![
            "job-1".into(),
            "x".into(),
            "A.b~c_d-e".into(),
            "a".repeat(128),
            "a".repeat(129),
        ]
    } else if f == "month" {
        strings(&[
            "2025-01", "2025-12", "2000-01", "2099-12", "2025-13", "2025-00",
        ])
    } else if f == "phone" {
        strings(&["13800138000", "+8613800138000", "0532-88888888"])
    } else if f == "email" {
        strings(&["a@example.cn", "x.y+z@example.com"])
    } else if f == "occupation_code" {
        strings(&["2-02-10-03", "4-01-02-01", "X"])
    } else if f == "page_token" {
        strings(&["eyJmIjoiIiwiYyI6MX0", "e30", ""])
    } else if f == "source" {
        strings(&["recruiting", "fz"])
    } else {
        Vec::new()
    }
}

/// The collection whose resources the message `context` is about.
fn context_collection(context: &str) -> Option<&'static str> {
    [
        ("Posting", "postings"),
        ("Resume", "resumes"),
        ("Participation", "fairs"),
        ("Fair", "fairs"),
        ("Employment", "employments"),
        ("Separation", "employments"),
        ("Hire", "employments"),
        ("Employer", "employers"),
        ("Application", "applications"),
    ]
    .into_iter()
    .find(|(word, _)| context.contains(word))
    .map(|(_, collection)| collection)
}

/// The collection a field naming one resource refers to.
fn collection(field: &str) -> Option<&'static str> {
    Some(match field {
        "posting" => "postings",
        "resume" => "resumes",
        "fair" => "fairs",
        "employer" => "employers",
        "employment" => "employments",
        "application" => "applications",
        _ => return None,
    })
}

fn resident_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for (year, sequence) in [(1990, 123_u16), (2003, 4), (1965, 999)] {
        let birth =
            time::Date::from_calendar_date(year, time::Month::March, 9).expect("a valid date");
        ids.push(talent_codes::resident_id::make("370212", birth, sequence));
    }
    // A check character X typed in lower case.
    ids.extend(ids.clone().into_iter().map(|id| id.to_lowercase()));
    ids
}

/// An `i32` near the limits services check.
pub fn i32_value(mood: Mood) -> BoxedStrategy<i32> {
    if mood == Mood::Calm {
        return prop_oneof![19 => 1..=30, 1 => i32_value(Mood::Hostile)].boxed();
    }
    prop_oneof![
        2 => select(vec![
            0, 1, -1, i32::MIN, i32::MAX, 20, 21, 50, 51, 999, 1_000, 1_001, 10_000, 10_001,
            1_000_000, 1_000_001,
        ]),
        2 => -10..=60,
        1 => any::<i32>(),
    ]
    .boxed()
}

/// An `i64` near the limits services check.
pub fn i64_value(mood: Mood) -> BoxedStrategy<i64> {
    if mood == Mood::Calm {
        return prop_oneof![19 => 1..=1_000i64, 1 => i64_value(Mood::Hostile)].boxed();
    }
    prop_oneof![
        2 => select(vec![0, 1, -1, i64::MIN, i64::MAX, i64::from(i32::MAX) + 1, 1_000_001]),
        2 => -10..=1_000i64,
        1 => any::<i64>(),
    ]
    .boxed()
}

/// Timestamp seconds: the edges of what recruiting accepts (2000 to
/// 2100), of what `talent_codes::day` accepts (years 1 to 9999), the `i64`
/// extremes, and ordinary recent instants.
pub fn seconds(mood: Mood) -> BoxedStrategy<i64> {
    use talent_codes::day::{MAX_SECONDS, MIN_SECONDS};
    if mood == Mood::Calm {
        // 2020-09-13 to 2025-11-24: in the past of any run.
        return prop_oneof![19 => 1_600_000_000i64..1_764_000_000, 1 => seconds(Mood::Hostile)]
            .boxed();
    }
    prop_oneof![
        3 => select(vec![
            i64::MIN,
            i64::MAX,
            MIN_SECONDS - 1,
            MIN_SECONDS,
            MAX_SECONDS,
            MAX_SECONDS + 1,
            946_684_799,
            946_684_800,
            4_102_444_799,
            4_102_444_800,
            0,
            -1,
        ]),
        3 => 1_577_836_800i64..1_900_000_000,
        1 => any::<i64>(),
    ]
    .boxed()
}

/// Timestamp nanos, valid and not.
pub fn nanos(mood: Mood) -> BoxedStrategy<i32> {
    if mood == Mood::Calm {
        return prop_oneof![19 => 0..1_000_000_000, 1 => nanos(Mood::Hostile)].boxed();
    }
    prop_oneof![
        2 => select(vec![0, 999_999_999, 1_000_000_000, -1, i32::MIN, i32::MAX, 1_000]),
        2 => 0..1_000_000_000,
    ]
    .boxed()
}
