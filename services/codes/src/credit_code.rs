//! GB 32100-2015 unified social credit codes (统一社会信用代码): 18
//! characters, the registration authority and organisation type, the
//! GB/T 2260 district of registration, a nine-character organisation code
//! (GB 11714, with its own check character) and a check character over the
//! seventeen before it.

/// The 31 characters of a credit code, in the order of their values:
/// digits and upper-case letters without I, O, S, V and Z.
pub const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
/// 3^i mod 31 for the positions 1 to 17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a credit code is invalid.
pub const RULE: &str =
    "must be an 18-character unified social credit code with a valid GB 32100-2015 check character";

fn value(c: u8) -> Option<u32> {
    CHARSET.bytes().position(|x| x == c).map(|v| v as u32)
}

/// The check character of the first seventeen characters of a code
/// (upper case), or `None` when they are not seventeen characters of the
/// charset.
pub fn check_character(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&b, w) in bytes.iter().zip(WEIGHTS) {
        sum += value(b)? * w;
    }
    CHARSET.chars().nth(((31 - sum % 31) % 31) as usize)
}

/// The credit code in its normal form (upper case), or why it is not one.
/// Nothing is trimmed: a code is matched exactly.
pub fn credit_code(code: &str) -> Result<String, &'static str> {
    if code.is_empty() {
        return Err("is required");
    }
    let upper = code.to_ascii_uppercase();
    match (upper.get(..17), upper.get(17..)) {
        (Some(body), Some(check))
            if check.len() == 1 && check_character(body) == check.chars().next() =>
        {
            Ok(upper)
        }
        _ => Err(RULE),
    }
}

/// `body` (seventeen characters of the charset) with its check character.
pub fn with_check_character(body: &str) -> Option<String> {
    check_character(body).map(|c| format!("{body}{c}"))
}

/// The GB 11714 check character of an eight-digit organisation code.
fn organisation_check(digits: [u8; 8]) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits.iter().zip(W).map(|(&d, w)| u32::from(d) * w).sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

/// The credit code of an enterprise (authority 9, type 1) registered in
/// `district` (six digits), whose organisation code is `digits` (each 0 to
/// 9) and their GB 11714 check character, as real codes are; for demo data.
pub fn enterprise(district: &str, digits: [u8; 8]) -> Option<String> {
    let mut body = format!("91{district}");
    for d in digits {
        body.push(char::from_digit(u32::from(d), 10)?);
    }
    body.push(organisation_check(digits));
    with_check_character(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_real_organisations() {
        for good in [
            "91350100M000100Y43",
            "91110000802100433B",
            "91370200163562681G",
        ] {
            assert_eq!(credit_code(good), Ok(good.to_owned()));
            assert_eq!(credit_code(&good.to_lowercase()), Ok(good.to_owned()));
        }
    }

    #[test]
    fn wrong_codes() {
        assert_eq!(credit_code(""), Err("is required"));
        for bad in [
            "91350100M000100Y44",
            "91350100M000100Y4",
            "91350100M000100Y433",
            "91350100M000100I43",
            "I1350100M000100Y43",
            " 91350100M000100Y43",
            "91350100M000100Y43 ",
            "中文中文中文",
            "9135010０M000100Y43",
        ] {
            assert_eq!(credit_code(bad), Err(RULE), "{bad:?}");
        }
        assert_eq!(check_character("short"), None);
    }

    #[test]
    fn every_check_value_is_reachable() {
        // The check character can be any of the 31, including the letters.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..2_000u32 {
            let code = with_check_character(&format!("913702{n:011}")).unwrap();
            assert_eq!(credit_code(&code), Ok(code.clone()));
            seen.insert(code.chars().last().unwrap());
        }
        assert_eq!(seen.len(), 31);
    }

    #[test]
    fn generated_enterprise_codes() {
        let code = enterprise("370212", [1, 6, 3, 5, 6, 2, 6, 8]).unwrap();
        assert_eq!(credit_code(&code), Ok(code.clone()));
        assert_eq!(&code[..8], "91370212");
        // 3·1 + 7·2 + 9·3 + 10·4 + 5·5 + 8·6 + 4·7 + 2·8 = 201; 11 − 201 mod 11 = 8.
        assert_eq!(organisation_check([1, 2, 3, 4, 5, 6, 7, 8]), '8');
        assert_eq!(enterprise("370212", [10, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
