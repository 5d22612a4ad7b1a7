//! GB 11643-1999 citizen identity numbers (公民身份号码): the GB/T 2260
//! district of first registration (six digits), the birth date (eight),
//! an order code (three, odd for men) and an ISO 7064 MOD 11-2 check
//! character (a digit or X).
//!
//! The normal form, the one rule every caller applies before checking or
//! keying a number: white space around it is dropped (`str::trim`, which
//! includes the ideographic space U+3000 that Chinese input methods type)
//! and a lower-case check character `x` becomes `X`. Nothing else is
//! changed: white space inside, full-width digits or any other character
//! make the number invalid rather than guessed at.

use std::fmt;

/// ISO 7064 MOD 11-2 weights, 2^(17-i) mod 11.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character of each remainder of the weighted sum mod 11.
const CHECK: &[u8; 11] = b"10X98765432";
/// Birth years accepted: the standard's own example was born in 1880.
const BIRTH_YEARS: std::ops::RangeInclusive<i32> = 1800..=2100;

/// Why a resident ID number is invalid.
pub const RULE: &str =
    "must be an 18-character resident ID number with a valid birth date and check character";

/// A valid resident ID number in its normal form. Its `Debug` does not
/// show the number, so that it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId(String);

impl ResidentId {
    /// The number in its normal form, or why it is not one.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is required");
        }
        let normal = match trimmed.strip_suffix('x') {
            Some(body) => format!("{body}X"),
            None => trimmed.to_owned(),
        };
        let (Some(body), Some(check)) = (normal.get(..17), normal.get(17..)) else {
            return Err(RULE);
        };
        if check.len() != 1 || check_character(body) != check.chars().next() {
            return Err(RULE);
        }
        let number = |range: std::ops::Range<usize>| body[range].parse::<u32>().ok();
        let birth = match (number(6..10), number(10..12), number(12..14)) {
            (Some(year), Some(month), Some(day)) => i32::try_from(year)
                .ok()
                .filter(|y| BIRTH_YEARS.contains(y))
                .and_then(|y| crate::day_of_date(y, month, day)),
            _ => None,
        };
        match birth {
            Some(_) => Ok(Self(normal)),
            None => Err(RULE),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentId(..)")
    }
}

/// The check character of the first seventeen characters of a number, or
/// `None` when they are not seventeen ASCII digits.
pub fn check_character(body: &str) -> Option<char> {
    if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(char::from(CHECK[(sum % 11) as usize]))
}

/// The number of a person registered in `district` (six digits), born on
/// `birth`, with order code `sequence % 1000`; for demo and test data.
pub fn make(district: &str, birth: time::Date, sequence: u16) -> String {
    let body = format!(
        "{district}{:04}{:02}{:02}{:03}",
        birth.year(),
        u8::from(birth.month()),
        birth.day(),
        sequence % 1000
    );
    match check_character(&body) {
        Some(c) => format!("{body}{c}"),
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(text: &str) -> Result<String, &'static str> {
        ResidentId::parse(text).map(ResidentId::into_string)
    }

    #[test]
    fn the_standards_examples() {
        assert_eq!(parse("11010519491231002X"), Ok("11010519491231002X".into()));
        assert_eq!(parse("440524188001010014"), Ok("440524188001010014".into()));
    }

    #[test]
    fn the_normal_form() {
        let normal = Ok("11010519491231002X".to_owned());
        for variant in [
            "11010519491231002x",
            " 11010519491231002X",
            "11010519491231002x\n",
            "\t11010519491231002X \r\n",
            "\u{3000}11010519491231002x\u{3000}",
        ] {
            assert_eq!(parse(variant), normal, "{variant:?}");
        }
    }

    #[test]
    fn invalid_numbers() {
        assert_eq!(parse(""), Err("is required"));
        assert_eq!(parse("  "), Err("is required"));
        for bad in [
            "110105194912310021",  // wrong check character
            "110105194913310021",  // month 13 (check character right)
            "110105194902290029",  // 29 February 1949
            "110105179912310024",  // born before 1800
            "110105210112310029",  // born after 2100
            "11010519491231002",   // 17 characters
            "11010519491231002XX", // 19
            "1101051949123 1002X", // white space inside
            "1101051949123100２X", // a full-width digit
            "X10105194912310021",  // X elsewhere
            "11010519491231002Y",
            "+1010519491231002X",
        ] {
            assert_eq!(parse(bad), Err(RULE), "{bad:?}");
        }
    }

    #[test]
    fn the_number_stays_out_of_debug_output() {
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("1101"));
    }

    #[test]
    fn made_numbers_are_valid() {
        let birth = time::macros::date!(1998 - 02 - 28);
        for sequence in [0, 1, 999, 1000] {
            let id = make("370203", birth, sequence);
            assert_eq!(parse(&id), Ok(id.clone()));
        }
    }

    proptest! {
        #[test]
        fn exactly_one_check_character_is_right(
            body in "[0-9]{6}(19[0-9]{2}|20[0-9]{2})(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}",
        ) {
            let right = check_character(&body).unwrap();
            for c in "0123456789X".chars() {
                prop_assert_eq!(parse(&format!("{body}{c}")).is_ok(), c == right);
            }
        }
    }
}
