//! Parsing of the statistics commands' arguments: `--period`, dates and
//! `--by`. Errors are one line, fit to print after "talent: ".

use std::fmt;

use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::Dimension;
use talent_proto::talent::r#type::v1::Period;
use time::{Date, Month};

/// A bad command-line value, with a message saying what would be right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError(msg.into()))
}

fn ymd(year: i32, month: u8, day: u8) -> Result<Date, ArgError> {
    let m = Month::try_from(month).or_else(|_| err(format!("month {month} is not 1..12")))?;
    Date::from_calendar_date(year, m, day)
        .or_else(|_| err(format!("{year:04}-{month:02}-{day:02} is not a date")))
}

fn year(s: &str) -> Result<i32, ArgError> {
    match s.parse::<i32>() {
        Ok(y) if s.len() == 4 && (1900..=2099).contains(&y) => Ok(y),
        _ => err(format!("\"{s}\" is not a year 1900..2099")),
    }
}

/// The contract's date of a calendar date.
pub fn to_pb(d: Date) -> PbDate {
    PbDate {
        year: d.year(),
        month: i32::from(u8::from(d.month())),
        day: i32::from(d.day()),
    }
}

/// Parses `YYYY-MM-DD` (for `--from`, `--to`, `--as-of`).
pub fn parse_date(s: &str) -> Result<Date, ArgError> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    match parts.as_slice() {
        [y, m, d] if m.len() == 2 && d.len() == 2 => {
            let m = m
                .parse::<u8>()
                .or_else(|_| err(format!("bad month in \"{s}\"")))?;
            let d = d
                .parse::<u8>()
                .or_else(|_| err(format!("bad day in \"{s}\"")))?;
            ymd(year(y)?, m, d)
        }
        _ => err(format!("\"{s}\" is not a date like 2020-06-30")),
    }
}

/// Parses a period name into the half-open range `[start, end)`:
/// `2020` (a year), `2020H1`/`2020H2` (half years), `2020Q1`..`2020Q4`
/// (quarters), `2020-03` (a month) or `2020-03-15` (one day).
pub fn parse_period(s: &str) -> Result<(Date, Date), ArgError> {
    let t = s.trim().to_ascii_uppercase();
    let hint = "use 2020, 2020H1, 2020Q3, 2020-03 or 2020-03-15";
    let months = |y: i32, first: u8, count: u8| -> Result<(Date, Date), ArgError> {
        let start = ymd(y, first, 1)?;
        let end_month = first + count;
        let end = if end_month > 12 {
            ymd(y + 1, end_month - 12, 1)?
        } else {
            ymd(y, end_month, 1)?
        };
        Ok((start, end))
    };
    if t.len() == 4 {
        return months(year(&t)?, 1, 12);
    }
    if t.len() == 6 && t.is_char_boundary(4) {
        let (y, rest) = t.split_at(4);
        let y = year(y)?;
        return match rest {
            "H1" => months(y, 1, 6),
            "H2" => months(y, 7, 6),
            "Q1" => months(y, 1, 3),
            "Q2" => months(y, 4, 3),
            "Q3" => months(y, 7, 3),
            "Q4" => months(y, 10, 3),
            _ => err(format!("\"{s}\" is not a period: {hint}")),
        };
    }
    if t.len() == 7 && t.as_bytes()[4] == b'-' {
        let m = t[5..]
            .parse::<u8>()
            .or_else(|_| err(format!("\"{s}\" is not a period: {hint}")))?;
        return months(year(&t[..4])?, m, 1).and_then(|r| {
            if (1..=12).contains(&m) {
                Ok(r)
            } else {
                err(format!("month {m} is not 1..12"))
            }
        });
    }
    if t.len() == 10 {
        let d = parse_date(&t)?;
        return match d.next_day() {
            Some(next) => Ok((d, next)),
            None => err(format!("\"{s}\" has no next day")),
        };
    }
    err(format!("\"{s}\" is not a period: {hint}"))
}

/// The contract's `Period` for a period name (see [`parse_period`]).
pub fn parse_period_proto(s: &str) -> Result<Period, ArgError> {
    let (start, end) = parse_period(s)?;
    Ok(Period {
        start_date: Some(to_pb(start)),
        end_date: Some(to_pb(end)),
    })
}

/// The period `[from, to)` from `--from`/`--to` dates; `to` is exclusive,
/// as everywhere in the contracts.
pub fn period_from_to(from: &str, to: &str) -> Result<Period, ArgError> {
    let (a, b) = (parse_date(from)?, parse_date(to)?);
    if a >= b {
        return err(format!("--from {from} must be before --to {to}"));
    }
    Ok(Period {
        start_date: Some(to_pb(a)),
        end_date: Some(to_pb(b)),
    })
}

/// Parses `--by district,tier` into dimensions: district, industry, tier,
/// platform, month, university, degree (or degree_level), discipline.
/// Empty means totals only; at most two, no repeats (as the service
/// requires, but said here before a round trip).
pub fn parse_dimensions(s: &str) -> Result<Vec<Dimension>, ArgError> {
    let mut out = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let d = match word.to_ascii_lowercase().replace('-', "_").as_str() {
            "district" => Dimension::District,
            "industry" => Dimension::Industry,
            "tier" => Dimension::Tier,
            "platform" => Dimension::Platform,
            "month" => Dimension::Month,
            "university" => Dimension::University,
            "degree" | "degree_level" => Dimension::DegreeLevel,
            "discipline" => Dimension::Discipline,
            _ => {
                return err(format!(
                    "unknown dimension \"{word}\": use district, industry, tier, platform, month, university, degree, discipline"
                ));
            }
        };
        if out.contains(&d) {
            return err(format!("dimension \"{word}\" given twice"));
        }
        out.push(d);
    }
    if out.len() > 2 {
        return err("at most two dimensions in --by");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn periods() {
        let cases = [
            ("2020H1", date!(2020 - 01 - 01), date!(2020 - 07 - 01)),
            ("2020h2", date!(2020 - 07 - 01), date!(2021 - 01 - 01)),
            ("2020Q3", date!(2020 - 07 - 01), date!(2020 - 10 - 01)),
            ("2020Q4", date!(2020 - 10 - 01), date!(2021 - 01 - 01)),
            ("2020", date!(2020 - 01 - 01), date!(2021 - 01 - 01)),
            ("2020-03", date!(2020 - 03 - 01), date!(2020 - 04 - 01)),
            ("2020-12", date!(2020 - 12 - 01), date!(2021 - 01 - 01)),
            (" 2020-02-29 ", date!(2020 - 02 - 29), date!(2020 - 03 - 01)),
        ];
        for (s, a, b) in cases {
            assert_eq!(parse_period(s), Ok((a, b)), "{s}");
        }
        for bad in [
            "",
            "20",
            "2020H3",
            "2020Q5",
            "2020-13",
            "2020-00",
            "2019-02-29",
            "abcd",
            "2020-1",
            "二〇二〇",
            "2020Ｈ1",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
        let p = parse_period_proto("2020H1").unwrap();
        assert_eq!(
            p.end_date,
            Some(PbDate {
                year: 2020,
                month: 7,
                day: 1
            })
        );
        assert!(period_from_to("2020-03-01", "2020-03-01").is_err());
        assert!(period_from_to("2020-03-01", "2020-04-01").is_ok());
    }

    #[test]
    fn dimensions() {
        assert_eq!(
            parse_dimensions("district, tier"),
            Ok(vec![Dimension::District, Dimension::Tier])
        );
        assert_eq!(parse_dimensions(""), Ok(vec![]));
        assert_eq!(
            parse_dimensions("Degree-Level"),
            Ok(vec![Dimension::DegreeLevel])
        );
        assert!(parse_dimensions("district,district").is_err());
        assert!(parse_dimensions("district,tier,month").is_err());
        assert!(parse_dimensions("colour").is_err());
    }
}
