//! What each kind of file holds: its columns (to refuse a file of another
//! kind at once, before any call) and a template of two lines that push as
//! they are (`talent template KIND`).

use std::io::{self, BufRead};

use serde_json::Value;

use super::{FileFormat, reader::split_csv, records};

/// One kind of file: its name as `talent push` takes it, the fields a
/// record may have (top-level JSON keys; CSV `salary_min_cny` is
/// `salary`), the ones every record needs, and its template (CSV).
pub struct Kind {
    pub name: &'static str,
    pub fields: &'static [&'static str],
    pub required: &'static [&'static str],
    pub template: &'static str,
}

/// Every kind, in the order they are pushed to a new platform.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "employers",
        fields: &["credit_code", "display_name", "district", "industry", "size"],
        required: &["credit_code"],
        template: "credit_code,display_name,district,industry,size
91370212MA3C000013,Laoshan Software Co.,370212,I65,SMALL
91370212MA3C000026,Qingdao Marine Equipment Co.,370211,C37,MEDIUM
",
    },
    Kind {
        name: "postings",
        fields: &[
            "external_id",
            "title",
            "description",
            "employer_credit_code",
            "workplace_district",
            "industry",
            "occupation_code",
            "minimum_degree_level",
            "experience_years",
            "salary",
            "headcount",
            "employment_type",
            "publish_time",
            "expire_time",
            "fair",
            "tags",
        ],
        required: &["external_id", "employer_credit_code"],
        template: "external_id,title,description,employer_credit_code,workplace_district,industry,occupation_code,minimum_degree_level,experience_years,salary_min_cny,salary_max_cny,headcount,employment_type,publish_time,expire_time,tags
posting-1,Rust Engineer,Builds the booking services.,91370212MA3C000013,370212,I65,2-02-10-03,BACHELOR,2,12000,20000,2,FULL_TIME,2020-03-01T09:00:00+08:00,2020-06-30T00:00:00+08:00,rust;backend
posting-2,Welder,Ship hull welding.,91370212MA3C000026,370211,C37,6-18-02-04,JUNIOR_COLLEGE,0,6000,9000,5,FULL_TIME,2020-03-01T09:00:00+08:00,2020-06-30T00:00:00+08:00,
",
    },
    Kind {
        name: "resumes",
        fields: &[
            "external_id",
            "resident_id_number",
            "full_name",
            "phone",
            "email",
            "education",
            "professional_title_level",
            "vocational_skill_level",
            "desired_districts",
            "desired_industries",
            "statistical_use_consent",
            "consent_time",
            "receive_time",
        ],
        required: &["external_id", "resident_id_number"],
        template: "external_id,resident_id_number,full_name,phone,email,education_degree_level,education_university_code,education_university_name,education_discipline,education_major,education_graduation_date,professional_title_level,vocational_skill_level,desired_districts,desired_industries,statistical_use_consent,consent_time,receive_time
resume-1,370212199801010016,张伟,13800000001,zhang.wei@example.com,BACHELOR,4137010423,中国海洋大学,ENGINEERING,软件工程,2020-06-30,NONE,NONE,370212,I65,true,2020-02-20T10:00:00+08:00,2020-02-20T10:00:00+08:00
resume-2,370212199902020029,李娜,13800000002,,JUNIOR_COLLEGE,4137012345,青岛职业技术学院,ENGINEERING,焊接技术,2020-06-30,NONE,INTERMEDIATE_WORKER,370211;370212,C37,true,2020-02-21T10:00:00+08:00,2020-02-21T10:00:00+08:00
",
    },
    Kind {
        name: "applications",
        fields: &[
            "application_id",
            "resume",
            "posting",
            "fair",
            "submit_time",
            "request_id",
        ],
        required: &["resume", "posting"],
        template: "application_id,resume,posting,fair,submit_time,request_id
app-1,resume-1,posting-1,,2020-03-02T10:00:00+08:00,
app-2,resume-2,posting-2,,2020-03-03T10:00:00+08:00,
",
    },
    Kind {
        name: "application-moves",
        fields: &["application", "state", "transition_time", "reason", "hire"],
        required: &["application", "state"],
        template: "application,state,transition_time,reason,hire_start_date,hire_workplace_district,hire_industry
app-1,SCREENING,2020-03-05T10:00:00+08:00,,,,
app-2,WITHDRAWN,2020-03-06T10:00:00+08:00,took another offer,,,
",
    },
    Kind {
        name: "hires",
        fields: &[
            "resume",
            "resident_id_number",
            "employer_credit_code",
            "workplace_district",
            "industry",
            "start_date",
            "posting",
            "request_id",
        ],
        required: &["employer_credit_code", "start_date"],
        template: "resume,resident_id_number,employer_credit_code,workplace_district,industry,start_date,posting,request_id
resume-1,,91370212MA3C000013,370212,I65,2020-07-01,posting-1,
resume-2,,91370212MA3C000026,,,2020-07-15,posting-2,
",
    },
    Kind {
        name: "separations",
        fields: &[
            "employment",
            "employer_credit_code",
            "resume",
            "start_date",
            "end_date",
        ],
        required: &["end_date"],
        template: "employment,employer_credit_code,resume,start_date,end_date
,91370212MA3C000013,resume-1,2020-07-01,2021-01-01
,91370212MA3C000026,resume-2,2020-07-15,2020-12-31
",
    },
    Kind {
        name: "fairs",
        fields: &[
            "fair_id",
            "display_name",
            "format",
            "start_time",
            "end_time",
            "district",
            "request_id",
        ],
        required: &["display_name", "start_time", "end_time"],
        template: "fair_id,display_name,format,start_time,end_time,district,request_id
fair-1,Qingdao Spring Graduate Fair,ONSITE,2020-03-14T09:00:00+08:00,2020-03-14T17:00:00+08:00,370212,
fair-2,Online Spring Recruitment,ONLINE,2020-03-01T00:00:00+08:00,2020-03-31T23:59:59+08:00,,
",
    },
    Kind {
        name: "participations",
        fields: &["fair", "employer_credit_code"],
        required: &["fair", "employer_credit_code"],
        template: "fair,employer_credit_code
fair-1,91370212MA3C000013
fair-1,91370212MA3C000026
",
    },
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The template of `kind` in `format`: a header and two records (JSON
/// Lines: two objects in the file's nested shape).
pub fn template(kind: &Kind, format: FileFormat) -> String {
    match format {
        FileFormat::Csv => kind.template.to_owned(),
        FileFormat::JsonLines => {
            let mut out = String::new();
            for record in records(io::Cursor::new(kind.template.as_bytes()), FileFormat::Csv) {
                if let Ok(record) = record
                    && let Ok(map) = record.fields
                {
                    out.push_str(&Value::Object(map).to_string());
                    out.push('\n');
                }
            }
            out
        }
    }
}

/// The fields of a file as its first record names them: the CSV header
/// (`salary_min_cny` as `salary`), or the keys of the first JSON object.
/// Empty when the file has none (or its first line is not an object).
pub fn first_fields<R: BufRead>(mut reader: R, format: FileFormat) -> io::Result<Vec<String>> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Vec::new());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        let mut fields: Vec<String> = match format {
            FileFormat::Csv => split_csv(text)
                .unwrap_or_default()
                .into_iter()
                .map(|c| top_level(c.trim()).to_owned())
                .collect(),
            FileFormat::JsonLines => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m.keys().cloned().collect(),
                _ => Vec::new(),
            },
        };
        fields.sort();
        fields.dedup();
        return Ok(fields);
    }
}

/// The record field a CSV column fills.
fn top_level(column: &str) -> &str {
    if let Some((outer, _)) = column.split_once('.') {
        return outer;
    }
    for prefix in ["salary", "education", "hire"] {
        if column
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('_'))
        {
            return prefix;
        }
    }
    column
}

/// Why a file with these fields cannot be a file of `pushed`: it lacks
/// fields `pushed` needs or has fields `pushed` does not know, and another
/// kind takes every one of its fields and has all it needs. `None` when
/// nothing points to another kind (then its lines are checked one by one).
pub fn looks_like_another(pushed: &Kind, fields: &[String]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let fits = |k: &Kind| {
        fields.iter().all(|f| k.fields.contains(&f.as_str()))
            && k.required.iter().all(|r| fields.iter().any(|f| f == r))
    };
    if fits(pushed) {
        return None;
    }
    let other = KINDS.iter().find(|k| k.name != pushed.name && fits(k))?;
    let missing: Vec<&str> = pushed
        .required
        .iter()
        .filter(|r| !fields.iter().any(|f| f == *r))
        .copied()
        .collect();
    let foreign: Vec<&str> = fields
        .iter()
        .filter(|f| !pushed.fields.contains(&f.as_str()))
        .map(String::as_str)
        .collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("no {}", missing.join(", ")));
    }
    if !foreign.is_empty() {
        let more = if foreign.len() > 3 { ", …" } else { "" };
        let some = foreign[..foreign.len().min(3)].join(", ");
        why.push(format!("{some}{more} of {}", other.name));
    }
    Some(format!(
        "this looks like a file of {other} ({why}), not of {pushed}: push it with `talent push {other} FILE`",
        other = other.name,
        pushed = pushed.name,
        why = why.join("; "),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{employer, facts, parse_all, posting, resume};
    use super::*;

    #[test]
    fn templates_parse_without_rejects_in_both_formats() {
        for k in KINDS {
            for format in [FileFormat::Csv, FileFormat::JsonLines] {
                let text = template(k, format);
                let cursor = || io::Cursor::new(text.as_bytes());
                let (items, rejects) = match k.name {
                    "employers" => {
                        let p = parse_all(cursor(), format, employer).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "postings" => {
                        let p = parse_all(cursor(), format, posting).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "resumes" => {
                        let p = parse_all(cursor(), format, resume).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "applications" => {
                        let p = parse_all(cursor(), format, facts::application).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "application-moves" => {
                        let p = parse_all(cursor(), format, facts::application_move).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "hires" => {
                        let p = parse_all(cursor(), format, facts::hire).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "separations" => {
                        let p = parse_all(cursor(), format, facts::separation).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "fairs" => {
                        let p = parse_all(cursor(), format, facts::fair).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    "participations" => {
                        let p = parse_all(cursor(), format, facts::participation).unwrap();
                        (p.items.len(), p.rejects)
                    }
                    other => panic!("no converter for {other}"),
                };
                assert_eq!((items, rejects), (2, vec![]), "{} {format:?}", k.name);
                // A template is a file of its own kind and of no other.
                let fields = first_fields(cursor(), format).unwrap();
                assert_eq!(looks_like_another(k, &fields), None, "{}", k.name);
            }
        }
    }

    #[test]
    fn a_file_of_another_kind_is_named() {
        let postings = first_fields(
            io::Cursor::new(kind("postings").unwrap().template.as_bytes()),
            FileFormat::Csv,
        )
        .unwrap();
        assert!(postings.contains(&"salary".to_owned()));
        let why = looks_like_another(kind("employers").unwrap(), &postings).unwrap();
        assert!(why.contains("file of postings"), "{why}");
        assert!(why.contains("no credit_code"), "{why}");

        let hires = first_fields(
            io::Cursor::new(template(kind("hires").unwrap(), FileFormat::JsonLines).as_bytes()),
            FileFormat::JsonLines,
        )
        .unwrap();
        let why = looks_like_another(kind("participations").unwrap(), &hires).unwrap();
        assert!(why.contains("file of hires"), "{why}");

        // A typo is not another kind: its lines are rejected one by one.
        let typo: Vec<String> = ["external_id", "employer_credit_code", "titel"]
            .map(String::from)
            .to_vec();
        assert_eq!(looks_like_another(kind("postings").unwrap(), &typo), None);
    }
}
