//! GB/T 2260 administrative division codes: six digits, the first two the
//! province, the first four the city. The table itself changes every year
//! (districts are merged and renamed), and a hire in last year's district
//! is still a fact, so the services check the format only.

/// Why a district code is invalid.
pub const RULE: &str = "must be a GB/T 2260 district code of six digits";

/// Whether `code` is a district code: exactly six ASCII digits.
pub fn is_district(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `prefix` can start a district code: one to six ASCII digits (a
/// province, a city, …; a filter or the configured city).
pub fn is_prefix(prefix: &str) -> bool {
    (1..=6).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `district` is in the city whose codes start with `city_prefix`.
pub fn in_city(district: &str, city_prefix: &str) -> bool {
    district.starts_with(city_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts() {
        assert!(is_district("370212"));
        for bad in ["37021", "3702120", "37021a", "３７０２１２", "", " 370212"] {
            assert!(!is_district(bad), "{bad:?}");
        }
    }

    #[test]
    fn prefixes() {
        for good in ["3", "37", "3702", "370212"] {
            assert!(is_prefix(good), "{good}");
        }
        for bad in ["", "3702123", "37x"] {
            assert!(!is_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_city_is_its_prefix() {
        assert!(in_city("370212", "3702"));
        assert!(in_city("370285", "3702"));
        assert!(!in_city("370102", "3702"));
        assert!(!in_city("110105", "3702"));
    }
}
