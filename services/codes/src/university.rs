//! The Ministry of Education's institution identification codes (学校标识码):
//! ten digits, "4" and the province's two digits first. The list changes
//! every year, so the format is what is checked.

/// Why a university code is invalid.
pub const RULE: &str = "must be ten digits";

/// Whether `code` is a university code: exactly ten ASCII digits.
pub fn is_university_code(code: &str) -> bool {
    code.len() == 10 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(is_university_code("4137011065"));
        for bad in ["413701106", "41370110651", "413701106x", "", "４137011065"] {
            assert!(!is_university_code(bad), "{bad:?}");
        }
    }
}
