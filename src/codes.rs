//! Names and check characters of the national code sets the talent contracts
//! use (see `proto/talent/type/v1/codes.proto`).
//!
//! The services check only the *format* of district and industry codes, so
//! the command line carries the names itself: a bureau reader wants to see
//! "370212 崂山区 Laoshan" rather than a bare code. Only the codes the demo
//! city (Qingdao, prefix `3702`) and its usual counterparts need are listed;
//! anything else falls back to the code itself, which is always correct.
//!
//! The generators and validators of unified social credit codes
//! (GB 32100-2015) and resident ID numbers (GB 11643-1999) exist so that the
//! demo produces data the recruiting service accepts, and so that file
//! imports can point at a bad check character before a round trip.

use rand::Rng;

/// The GB/T 2260 prefix of the demo city, Qingdao (青岛市).
pub const CITY_PREFIX: &str = "3702";

/// A named code: the code, its Chinese name and its English name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeName {
    /// The code as it travels in the contracts.
    pub code: &'static str,
    /// Official Chinese name.
    pub zh: &'static str,
    /// English name.
    pub en: &'static str,
}

const fn cn(code: &'static str, zh: &'static str, en: &'static str) -> CodeName {
    CodeName { code, zh, en }
}

/// The districts and county-level cities of Qingdao (GB/T 2260, prefix 3702).
pub const CITY_DISTRICTS: &[CodeName] = &[
    cn("370202", "市南区", "Shinan"),
    cn("370203", "市北区", "Shibei"),
    cn("370211", "黄岛区", "Huangdao"),
    cn("370212", "崂山区", "Laoshan"),
    cn("370213", "李沧区", "Licang"),
    cn("370214", "城阳区", "Chengyang"),
    cn("370215", "即墨区", "Jimo"),
    cn("370281", "胶州市", "Jiaozhou"),
    cn("370283", "平度市", "Pingdu"),
    cn("370285", "莱西市", "Laixi"),
];

/// Districts outside the city where its graduates and employers often are.
pub const OUTSIDE_DISTRICTS: &[CodeName] = &[
    cn("370102", "济南市历下区", "Lixia, Jinan"),
    cn("370602", "烟台市芝罘区", "Zhifu, Yantai"),
    cn("370705", "潍坊市奎文区", "Kuiwen, Weifang"),
    cn("110105", "北京市朝阳区", "Chaoyang, Beijing"),
    cn("110108", "北京市海淀区", "Haidian, Beijing"),
    cn("310115", "上海市浦东新区", "Pudong, Shanghai"),
    cn("320505", "苏州市虎丘区", "Huqiu, Suzhou"),
    cn("330106", "杭州市西湖区", "Xihu, Hangzhou"),
    cn("440305", "深圳市南山区", "Nanshan, Shenzhen"),
];

/// GB/T 4754-2017 sections A–T.
pub const INDUSTRY_SECTIONS: &[CodeName] = &[
    cn(
        "A",
        "农、林、牧、渔业",
        "Agriculture, forestry, animal husbandry and fishery",
    ),
    cn("B", "采矿业", "Mining"),
    cn("C", "制造业", "Manufacturing"),
    cn(
        "D",
        "电力、热力、燃气及水生产和供应业",
        "Electricity, heat, gas and water supply",
    ),
    cn("E", "建筑业", "Construction"),
    cn("F", "批发和零售业", "Wholesale and retail trade"),
    cn("G", "交通运输、仓储和邮政业", "Transport, storage and post"),
    cn("H", "住宿和餐饮业", "Accommodation and catering"),
    cn(
        "I",
        "信息传输、软件和信息技术服务业",
        "Information transmission, software and IT services",
    ),
    cn("J", "金融业", "Finance"),
    cn("K", "房地产业", "Real estate"),
    cn("L", "租赁和商务服务业", "Leasing and business services"),
    cn(
        "M",
        "科学研究和技术服务业",
        "Scientific research and technical services",
    ),
    cn(
        "N",
        "水利、环境和公共设施管理业",
        "Water, environment and public facilities management",
    ),
    cn(
        "O",
        "居民服务、修理和其他服务业",
        "Resident, repair and other services",
    ),
    cn("P", "教育", "Education"),
    cn("Q", "卫生和社会工作", "Health and social work"),
    cn(
        "R",
        "文化、体育和娱乐业",
        "Culture, sports and entertainment",
    ),
    cn(
        "S",
        "公共管理、社会保障和社会组织",
        "Public administration, social security and social organisations",
    ),
    cn("T", "国际组织", "International organisations"),
];

/// Local universities of the demo city, with their Ministry of Education
/// 10-digit institution identification codes (学校标识码: "41" + province
/// 37 + the five-digit code the MoE list is usually quoted by, for example
/// 11065 for Qingdao University).
pub const CITY_UNIVERSITIES: &[CodeName] = &[
    cn("4137010423", "中国海洋大学", "Ocean University of China"),
    cn(
        "4137010424",
        "山东科技大学",
        "Shandong University of Science and Technology",
    ),
    cn(
        "4137010426",
        "青岛科技大学",
        "Qingdao University of Science and Technology",
    ),
    cn(
        "4137010429",
        "青岛理工大学",
        "Qingdao University of Technology",
    ),
    cn(
        "4137010435",
        "青岛农业大学",
        "Qingdao Agricultural University",
    ),
    cn("4137011065", "青岛大学", "Qingdao University"),
];

/// Special district values of graduate-outcome breakdowns.
const SPECIAL: &[CodeName] = &[
    cn("OUTSIDE", "市外", "outside the city"),
    cn("NONE", "未就业", "not employed"),
];

fn find(table: &[CodeName], code: &str) -> Option<CodeName> {
    table.iter().copied().find(|c| c.code == code)
}

/// The district's names, if known (city, outside-city, or the outcome
/// breakdown values "OUTSIDE"/"NONE").
pub fn district(code: &str) -> Option<CodeName> {
    find(CITY_DISTRICTS, code)
        .or_else(|| find(OUTSIDE_DISTRICTS, code))
        .or_else(|| find(SPECIAL, code))
}

/// The industry section's names, from a section letter or a
/// section+division code ("C39" is named by its section C), or the outcome
/// breakdown values "OUTSIDE"/"NONE".
pub fn industry(code: &str) -> Option<CodeName> {
    let section = code.get(..1).unwrap_or_default();
    find(SPECIAL, code).or_else(|| find(INDUSTRY_SECTIONS, &section.to_ascii_uppercase()))
}

/// The university's names, if it is one of the city's.
pub fn university(code: &str) -> Option<CodeName> {
    find(CITY_UNIVERSITIES, code)
}

/// "370212 崂山区 Laoshan", or the bare code when unknown.
pub fn district_name(code: &str) -> String {
    label(code, district(code))
}

/// "I 信息传输、软件和信息技术服务业 …", or the bare code when unknown; a
/// division code keeps its full code ("C39 制造业 Manufacturing").
pub fn industry_name(code: &str) -> String {
    label(code, industry(code))
}

/// "4137010426 青岛大学 Qingdao University", or the bare code when unknown.
pub fn university_name(code: &str) -> String {
    label(code, university(code))
}

fn label(code: &str, name: Option<CodeName>) -> String {
    match name {
        Some(n) => format!("{code} {} {}", n.zh, n.en),
        None => code.to_string(),
    }
}

/// Whether the district is in the demo city.
pub fn in_city(district: &str) -> bool {
    district.starts_with(CITY_PREFIX)
}

// ---------------------------------------------------------------------------
// Unified social credit code, GB 32100-2015.

/// The 31 characters of a unified social credit code, in value order.
pub const CREDIT_CODE_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_value(c: char) -> Option<u32> {
    CREDIT_CODE_CHARSET.find(c).map(|i| i as u32)
}

/// The check character of the first 17 characters of a credit code, or
/// `None` when the body is not 17 characters of the charset.
pub fn credit_code_check(body: &str) -> Option<char> {
    if body.chars().count() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in body.chars().zip(CREDIT_WEIGHTS) {
        sum += credit_value(c)? * w;
    }
    let check = (31 - sum % 31) % 31;
    CREDIT_CODE_CHARSET.chars().nth(check as usize)
}

/// Whether `code` is a valid unified social credit code (upper case; the
/// services upper-case input first, so callers may too).
pub fn is_valid_credit_code(code: &str) -> bool {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return false;
    }
    let body: String = chars[..17].iter().collect();
    credit_code_check(&body) == Some(chars[17])
}

/// The GB 11714 check character of an 8-character organisation code body.
fn org_code_check(body: &[u32; 8]) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.iter().zip(W).map(|(v, w)| v * w).sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

/// A random valid credit code of an enterprise (registration authority 9,
/// type 1) registered in `district` (six digits), with a GB 11714
/// organisation code inside as real codes have.
pub fn generate_credit_code(rng: &mut impl Rng, district: &str) -> String {
    let mut s = String::with_capacity(18);
    s.push_str("91");
    s.push_str(district);
    let mut body = [0u32; 8];
    for v in &mut body {
        *v = rng.random_range(0..10);
        s.push(char::from_digit(*v, 10).unwrap_or('0'));
    }
    s.push(org_code_check(&body));
    if let Some(c) = credit_code_check(&s) {
        s.push(c);
    }
    s
}

// ---------------------------------------------------------------------------
// Resident ID number, GB 11643-1999.

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The check character of the first 17 digits of an ID number, or `None`
/// when the body is not 17 ASCII digits.
pub fn resident_id_check(body: &str) -> Option<char> {
    if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize] as char)
}

/// Whether `id` is a valid 18-character resident ID number: check character
/// right (upper-case X) and embedded birth date a real date from 1800 (the
/// standard's own example, 440524188001010014, was born in 1880).
pub fn is_valid_resident_id(id: &str) -> bool {
    if id.len() != 18 || !id.is_ascii() {
        return false;
    }
    let (body, check) = id.split_at(17);
    if resident_id_check(body).map(String::from).as_deref() != Some(check) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| body[r].parse::<u16>().ok();
    match (num(6..10), num(10..12), num(12..14)) {
        (Some(y), Some(m), Some(d)) if y >= 1800 => {
            let Ok(month) = time::Month::try_from(m as u8) else {
                return false;
            };
            time::Date::from_calendar_date(i32::from(y), month, d as u8).is_ok()
        }
        _ => false,
    }
}

/// A valid resident ID number for a person registered in `district` and
/// born on `birth`; `sequence` (0..=999) is the order code, whose parity
/// is the sex in real numbers.
pub fn make_resident_id(district: &str, birth: time::Date, sequence: u16) -> String {
    let mut s = format!(
        "{district}{:04}{:02}{:02}{:03}",
        birth.year(),
        u8::from(birth.month()),
        birth.day(),
        sequence % 1000
    );
    if let Some(c) = resident_id_check(&s) {
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn names_fall_back_to_the_code() {
        assert_eq!(district_name("370212"), "370212 崂山区 Laoshan");
        assert_eq!(district_name("999999"), "999999");
        assert!(industry_name("C39").starts_with("C39 制造业"));
        assert!(industry_name("i").contains("信息传输"));
        assert_eq!(industry_name(""), "");
        assert_eq!(industry_name("Z"), "Z");
        assert_eq!(district_name("OUTSIDE"), "OUTSIDE 市外 outside the city");
        assert_eq!(
            university_name("4137011065"),
            "4137011065 青岛大学 Qingdao University"
        );
    }

    #[test]
    fn tables_are_consistent() {
        assert_eq!(INDUSTRY_SECTIONS.len(), 20);
        for (i, s) in INDUSTRY_SECTIONS.iter().enumerate() {
            let letter = (b'A' + i as u8) as char;
            assert_eq!(s.code, letter.to_string());
        }
        assert!(CITY_DISTRICTS.iter().all(|d| in_city(d.code)));
        assert!(OUTSIDE_DISTRICTS.iter().all(|d| !in_city(d.code)));
        assert!(CITY_UNIVERSITIES.iter().all(|u| u.code.len() == 10));
    }

    #[test]
    fn known_credit_codes() {
        for good in [
            "91350100M000100Y43",
            "91110000802100433B",
            "91370200163562681G",
        ] {
            assert!(is_valid_credit_code(good), "{good}");
        }
        assert!(!is_valid_credit_code("91350100M000100Y44"));
        assert!(!is_valid_credit_code("91350100M000100Y4"));
        assert!(!is_valid_credit_code("91350100M000100I43"));
        assert!(!is_valid_credit_code(
            "中文中文中文中文中文中文中文中文中文"
        ));
        assert_eq!(credit_code_check("short"), None);
    }

    #[test]
    fn known_resident_ids() {
        for good in ["11010519491231002X", "440524188001010014"] {
            assert!(is_valid_resident_id(good), "{good}");
        }
        assert!(!is_valid_resident_id("110105194912310021"));
        assert!(!is_valid_resident_id("11010519491331002X")); // month 13
        assert!(!is_valid_resident_id("11010519491231002"));
        assert!(!is_valid_resident_id("1101051949123100２X"));
    }

    #[test]
    fn generated_codes_are_valid() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let c = generate_credit_code(&mut rng, "370212");
            assert!(is_valid_credit_code(&c), "{c}");
            assert_eq!(&c[2..8], "370212");
        }
        let birth = time::macros::date!(1998 - 02 - 28);
        for seq in [0, 1, 999] {
            let id = make_resident_id("370203", birth, seq);
            assert!(is_valid_resident_id(&id), "{id}");
        }
    }
}
