//! GB/T 4754-2017, Industrial classification for national economic
//! activities: the twenty sections A to T and the divisions 01 to 97 each
//! holds. An industry code in the contracts is a section letter ("C") or a
//! section letter and one of its divisions ("C39").

/// A section of GB/T 4754-2017 with its divisions `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The section letter, as a code ("C").
    pub code: &'static str,
    pub first: u8,
    pub last: u8,
    /// The standard's (Chinese) name.
    pub zh: &'static str,
    /// An English name.
    pub en: &'static str,
}

impl Section {
    /// Whether `division` belongs to this section.
    pub fn holds(&self, division: u8) -> bool {
        (self.first..=self.last).contains(&division)
    }
}

const fn section(
    code: &'static str,
    first: u8,
    last: u8,
    zh: &'static str,
    en: &'static str,
) -> Section {
    Section {
        code,
        first,
        last,
        zh,
        en,
    }
}

/// Every section, in order; together their divisions are 01 to 97, each
/// once.
pub const SECTIONS: [Section; 20] = [
    section(
        "A",
        1,
        5,
        "农、林、牧、渔业",
        "Agriculture, forestry, animal husbandry and fishery",
    ),
    section("B", 6, 12, "采矿业", "Mining"),
    section("C", 13, 43, "制造业", "Manufacturing"),
    section(
        "D",
        44,
        46,
        "电力、热力、燃气及水生产和供应业",
        "Electricity, heat, gas and water supply",
    ),
    section("E", 47, 50, "建筑业", "Construction"),
    section("F", 51, 52, "批发和零售业", "Wholesale and retail trade"),
    section(
        "G",
        53,
        60,
        "交通运输、仓储和邮政业",
        "Transport, storage and post",
    ),
    section("H", 61, 62, "住宿和餐饮业", "Accommodation and catering"),
    section(
        "I",
        63,
        65,
        "信息传输、软件和信息技术服务业",
        "Information transmission, software and IT services",
    ),
    section("J", 66, 69, "金融业", "Finance"),
    section("K", 70, 70, "房地产业", "Real estate"),
    section(
        "L",
        71,
        72,
        "租赁和商务服务业",
        "Leasing and business services",
    ),
    section(
        "M",
        73,
        75,
        "科学研究和技术服务业",
        "Scientific research and technical services",
    ),
    section(
        "N",
        76,
        79,
        "水利、环境和公共设施管理业",
        "Water, environment and public facilities management",
    ),
    section(
        "O",
        80,
        82,
        "居民服务、修理和其他服务业",
        "Resident, repair and other services",
    ),
    section("P", 83, 83, "教育", "Education"),
    section("Q", 84, 85, "卫生和社会工作", "Health and social work"),
    section(
        "R",
        86,
        90,
        "文化、体育和娱乐业",
        "Culture, sports and entertainment",
    ),
    section(
        "S",
        91,
        96,
        "公共管理、社会保障和社会组织",
        "Public administration, social security and social organisations",
    ),
    section("T", 97, 97, "国际组织", "International organisations"),
];

/// Why an industry code is invalid.
pub const RULE: &str = "must be a GB/T 4754-2017 code: a section letter A to T, optionally with a division of that section (\"C\" or \"C39\")";

/// The section of a letter (either case).
pub fn section_of_letter(letter: char) -> Option<&'static Section> {
    let letter = letter.to_ascii_uppercase();
    SECTIONS.iter().find(|s| s.code.starts_with(letter))
}

/// The section that holds a division.
pub fn section_of_division(division: u8) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.holds(division))
}

/// The industry code in its normal form (upper case), or why it is not
/// one. Nothing is trimmed: a code is matched exactly.
pub fn industry(code: &str) -> Result<String, &'static str> {
    if code.is_empty() {
        return Err("is required");
    }
    let bytes = code.as_bytes();
    let section = section_of_letter(char::from(bytes[0])).ok_or(RULE)?;
    match bytes[1..] {
        [] => {}
        [tens @ b'0'..=b'9', units @ b'0'..=b'9'] => {
            if !section.holds((tens - b'0') * 10 + (units - b'0')) {
                return Err(RULE);
            }
        }
        _ => return Err(RULE),
    }
    Ok(code.to_ascii_uppercase())
}

/// The section of a valid industry code, for its name.
pub fn section_of_code(code: &str) -> Option<&'static Section> {
    let code = industry(code).ok()?;
    section_of_letter(char::from(code.as_bytes()[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sections and their divisions as GB/T 4754-2017 lists them.
    const STANDARD: &str = "A01-05 B06-12 C13-43 D44-46 E47-50 F51-52 G53-60 H61-62 I63-65 J66-69 \
                            K70-70 L71-72 M73-75 N76-79 O80-82 P83-83 Q84-85 R86-90 S91-96 T97-97";

    #[test]
    fn every_section_holds_the_divisions_of_the_standard() {
        let table: Vec<String> = SECTIONS
            .iter()
            .map(|s| format!("{}{:02}-{:02}", s.code, s.first, s.last))
            .collect();
        assert_eq!(
            table.join(" "),
            STANDARD.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let letters: String = SECTIONS.iter().map(|s| s.code).collect();
        assert_eq!(letters, "ABCDEFGHIJKLMNOPQRST");
    }

    #[test]
    fn each_division_is_in_exactly_one_section() {
        for division in 0..=99 {
            let holders = SECTIONS.iter().filter(|s| s.holds(division)).count();
            assert_eq!(
                holders,
                usize::from((1..=97).contains(&division)),
                "{division}"
            );
        }
    }

    #[test]
    fn every_division_is_valid_with_its_section_only() {
        for s in &SECTIONS {
            assert_eq!(industry(s.code), Ok(s.code.to_owned()));
            for division in 0..=99u8 {
                for other in &SECTIONS {
                    let code = format!("{}{division:02}", other.code);
                    let valid = other.code == s.code && s.holds(division);
                    if other.code == s.code {
                        assert_eq!(industry(&code).is_ok(), valid, "{code}");
                    }
                    if valid {
                        assert_eq!(section_of_division(division), Some(s));
                        assert_eq!(section_of_code(&code.to_lowercase()), Some(s));
                    }
                }
            }
        }
    }

    #[test]
    fn the_sections_at_the_end_of_the_table() {
        for good in ["S91", "S96", "T97", "s96", "t97", "T", "s"] {
            assert_eq!(industry(good), Ok(good.to_ascii_uppercase()), "{good}");
        }
        for bad in ["S97", "T98", "T96", "S90", "U", "U98", "Z"] {
            assert_eq!(industry(bad), Err(RULE), "{bad}");
        }
    }

    #[test]
    fn malformed_codes() {
        assert_eq!(industry(""), Err("is required"));
        for bad in [
            "C3", "C391", "C 39", " C39", "C39 ", "CC", "3", "Ｃ39", "C٣٩", "é",
        ] {
            assert_eq!(industry(bad), Err(RULE), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(section_of_code("c39").map(|s| s.zh), Some("制造业"));
        assert_eq!(
            section_of_code("T97").map(|s| s.en),
            Some("International organisations")
        );
        assert_eq!(section_of_code("C99"), None);
    }
}
