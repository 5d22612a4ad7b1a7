//! Word lists and weights the demo city is drawn from. Kept apart from the
//! generator so the shape of the city can be read (and tuned) in one place.

/// Platform ids and display names; the first is the city's own online
/// recruitment platform (the "e-station"), which organises most fairs.
pub const PLATFORMS: &[(&str, &str, u32)] = &[
    ("qd-estation", "青岛人才e站", 30),
    ("qdrc", "青岛人才网", 20),
    ("zhaopin", "智联招聘", 18),
    ("job51", "前程无忧", 14),
    ("bosszhipin", "BOSS直聘", 12),
    ("liepin", "猎聘", 6),
];

/// Relative number of employers per city district.
pub const DISTRICT_WEIGHTS: &[(&str, u32)] = &[
    ("370202", 14),
    ("370203", 11),
    ("370211", 20),
    ("370212", 15),
    ("370213", 7),
    ("370214", 12),
    ("370215", 8),
    ("370281", 6),
    ("370283", 4),
    ("370285", 3),
];

/// Industry sections with their relative employer weight and the divisions
/// (GB/T 4754-2017) an employer of the section may state.
pub const INDUSTRY_WEIGHTS: &[(&str, u32, &[&str])] = &[
    ("A", 2, &["01", "04"]),
    ("B", 1, &["06", "08"]),
    ("C", 28, &["13", "18", "26", "34", "36", "38", "39", "40"]),
    ("D", 2, &["44", "45"]),
    ("E", 5, &["47", "48", "50"]),
    ("F", 10, &["51", "52"]),
    ("G", 5, &["54", "58", "59"]),
    ("H", 4, &["61", "62"]),
    ("I", 12, &["63", "64", "65"]),
    ("J", 3, &["66", "67", "68"]),
    ("K", 3, &["70"]),
    ("L", 7, &["71", "72"]),
    ("M", 8, &["73", "74", "75"]),
    ("N", 1, &["77", "78"]),
    ("O", 2, &["80", "81"]),
    ("P", 4, &["83"]),
    ("Q", 5, &["84", "85"]),
    ("R", 2, &["86", "87"]),
    ("S", 1, &["92", "95"]),
];

/// Job titles by industry section; `GENERIC_TITLES` for the rest.
pub fn titles(section: &str) -> &'static [&'static str] {
    match section {
        "C" => &[
            "机械设计工程师",
            "电气工程师",
            "工艺工程师",
            "质量工程师",
            "生产主管",
            "数控操作工",
            "焊工",
            "装配技术员",
            "设备维修工",
            "模具工程师",
        ],
        "I" => &[
            "Java开发工程师",
            "前端开发工程师",
            "测试工程师",
            "算法工程师",
            "运维工程师",
            "产品经理",
            "数据分析师",
            "嵌入式软件工程师",
        ],
        "F" => &["销售代表", "门店店长", "电商运营", "客户经理", "理货员"],
        "M" => &["研发工程师", "检测工程师", "实验员", "技术支持工程师"],
        "Q" => &["护士", "临床医生", "药剂师", "康复治疗师"],
        "P" => &["小学教师", "初中数学教师", "英语教师", "课程顾问"],
        "G" => &["物流专员", "仓库管理员", "货车司机", "调度员", "报关员"],
        "J" => &["客户经理", "风控专员", "理财顾问", "柜员"],
        "H" => &["厨师", "餐厅经理", "前台接待"],
        "E" => &["土建工程师", "造价工程师", "施工员", "安全员"],
        _ => GENERIC_TITLES,
    }
}

/// Titles every kind of employer advertises.
pub const GENERIC_TITLES: &[&str] = &[
    "行政专员",
    "会计",
    "人力资源专员",
    "销售代表",
    "客服专员",
    "项目经理",
];

/// First syllables of employer trade names.
pub const TRADE_NAMES: &[&str] = &[
    "海纳", "蓝海", "琴岛", "崂山", "金沙", "胶东", "华源", "鑫达", "海川", "瑞丰", "恒信", "中海",
    "青山", "远航", "东方", "北辰", "泰和", "明德", "启航", "星河",
];

/// What an employer does, by section, for its registered name.
pub fn trade(section: &str) -> &'static str {
    match section {
        "C" => "智能装备制造",
        "I" => "信息技术",
        "F" => "商贸",
        "M" => "科技研发",
        "Q" => "医疗健康",
        "P" => "教育咨询",
        "G" => "物流",
        "J" => "金融服务",
        "H" => "餐饮管理",
        "E" => "建设工程",
        "K" => "置业",
        "L" => "企业管理咨询",
        _ => "实业",
    }
}

/// Common surnames (for the demo's made-up names).
pub const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "于", "高", "孔", "姜",
];

/// Characters of given names.
pub const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞", "平", "刚",
    "鑫", "宇", "浩", "婷",
];

/// Majors by discipline number (Discipline enum values).
pub fn major(discipline: i32) -> &'static str {
    match discipline {
        2 => "经济学",
        3 => "法学",
        4 => "教育学",
        5 => "英语",
        7 => "海洋科学",
        8 => "计算机科学与技术",
        9 => "农学",
        10 => "临床医学",
        12 => "工商管理",
        13 => "视觉传达设计",
        _ => "其他",
    }
}

/// Districts where persons' ID numbers may be registered: the city, the
/// rest of Shandong and beyond.
pub const BIRTH_DISTRICTS: &[(&str, u32)] = &[
    ("370202", 6),
    ("370203", 6),
    ("370211", 8),
    ("370212", 4),
    ("370214", 5),
    ("370281", 5),
    ("370283", 5),
    ("370102", 6),
    ("370602", 6),
    ("370705", 7),
    ("371302", 8),
    ("371102", 4),
    ("410105", 5),
    ("130102", 4),
    ("220102", 3),
];
