//! Display names of the codes the command shows (see
//! `proto/talent/type/v1/codes.proto`).
//!
//! The services check only the *format* of district and university codes,
//! so the command line carries the names of those the demo city needs
//! itself: a bureau reader wants to see "370212 崂山区 Laoshan" rather than
//! a bare code. Only the codes the demo city (Qingdao, prefix `3702`) and
//! its usual counterparts need are listed; anything else falls back to the
//! code itself, which is always correct. Industry sections are named by the
//! GB/T 4754-2017 table in `talent_codes`, and every check of a code is
//! made there.

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
    find(SPECIAL, code)
        .or_else(|| talent_codes::industry::section_of_code(code).map(|s| cn(s.code, s.zh, s.en)))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let in_city = |d: &CodeName| talent_codes::in_city(d.code, CITY_PREFIX);
        assert!(CITY_DISTRICTS.iter().all(in_city));
        assert!(!OUTSIDE_DISTRICTS.iter().any(in_city));
        let all = CITY_DISTRICTS.iter().chain(OUTSIDE_DISTRICTS);
        assert!(all.map(|d| d.code).all(talent_codes::is_district));
        assert!(
            CITY_UNIVERSITIES
                .iter()
                .all(|u| talent_codes::is_university_code(u.code))
        );
    }
}
