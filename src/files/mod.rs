//! Data files for `talent push KIND FILE` and `talent roster import FILE`: JSON Lines or CSV in, contract messages out,
//! with per-line errors written to `FILE.rejects.jsonl`.
//!
//! # Schema
//!
//! One record per line (JSON Lines: one JSON object per line; CSV: a header
//! line naming the columns, then one row per record). Field names are the
//! proto's snake_case names, so a file reads like the contract:
//!
//! * **employers**: `credit_code`, `display_name`, `district`, `industry`,
//!   `size` (`MICRO`, `SMALL`, `MEDIUM`, `LARGE`, `NOT_APPLICABLE`).
//! * **postings**: `external_id`, `title`, `description`,
//!   `employer_credit_code`, `workplace_district`, `industry`,
//!   `occupation_code`, `minimum_degree_level`, `experience_years`,
//!   `salary` (`{"min_cny", "max_cny"}`; CSV columns `salary_min_cny`,
//!   `salary_max_cny`), `headcount`, `employment_type`, `publish_time`,
//!   `expire_time`, `fair`, `tags` (CSV: separated by `;`).
//! * **resumes**: `external_id`, `resident_id_number`, `full_name`, `phone`,
//!   `email`, `education` (list of `{degree_level, university_code,
//!   university_name, discipline, major, graduation_date}`; CSV: one entry
//!   in columns `education_degree_level`, `education_university_code`, ...),
//!   `professional_title_level`, `vocational_skill_level`,
//!   `desired_districts`, `desired_industries` (CSV: `;`-separated),
//!   `statistical_use_consent`, `consent_time`, `receive_time` (when the
//!   platform received it, for history pushed later).
//! * **applications**, **application-moves**, **hires**, **separations**,
//!   **fairs**, **participations**: see [`facts`].
//! * **roster** (CSV or JSON Lines): `resident_id_number` or `person_key`,
//!   `university_code`, `university_name`, `degree_level`, `discipline`,
//!   `graduation_date`; `row_id` defaults to the line number.
//!
//! Enum values are written without their prefix (`BACHELOR`, `HIGH`,
//! `FULL_TIME`), case-insensitive; the full proto name
//! (`DEGREE_LEVEL_BACHELOR`) and the number are accepted too. Times are RFC
//! 3339 (`2020-03-01T09:00:00+08:00`), dates `YYYY-MM-DD`. Numbers and
//! booleans may be strings (as every CSV value is). Empty values mean
//! "not set". Unknown fields are errors, so a typo does not silently drop a
//! value.
//!
//! Only what is needed to build the message is checked here, plus the check
//! characters of credit codes and ID numbers (cheap, and the most common
//! mistake); everything else is the service's to validate, and its field
//! violations come back per item (see [`item_field`]).

pub mod facts;
pub mod kinds;
mod reader;
pub mod write;

pub use reader::{Record, Records};

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use prost_types::Timestamp;
use serde_json::{Map, Value, json};
use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::{GraduateRosterRow, graduate_roster_row};
use talent_proto::talent::recruiting::v1::{
    EducationEntry, Employer, MonthlySalaryRange, Posting, Resume,
};
use talent_proto::talent::r#type::v1::{
    DegreeLevel, Discipline, EmployerSize, EmploymentType, ProfessionalTitleLevel,
    VocationalSkillLevel,
};

/// How a file is written, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// `.jsonl`, `.ndjson` or `.json`: one JSON object per line.
    JsonLines,
    /// `.csv`: a header line, then RFC 4180 rows.
    Csv,
}

impl FileFormat {
    /// The format of `path`, or `None` for an unknown extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::JsonLines),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// One problem with one field of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path inside the record, `salary.max_cny`, `education[0].degree_level`;
    /// empty for the line as a whole.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A rejected line: its 1-based line number and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line of the file where the record starts.
    pub line: usize,
    /// The problems.
    pub violations: Vec<Violation>,
}

impl LineError {
    /// The rejects file line: `{"line": N, "violations": [{"field", "description"}]}`.
    pub fn to_json_line(&self) -> String {
        let v: Vec<Value> = self
            .violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        json!({"line": self.line, "violations": v}).to_string()
    }
}

/// `FILE.rejects.jsonl` next to `FILE`.
pub fn rejects_path(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_owned();
    name.push(".rejects.jsonl");
    PathBuf::from(name)
}

/// Writes the rejects of `input` (one JSON line each) and returns the path;
/// with no rejects, removes a stale rejects file and returns `None`.
pub fn write_rejects(input: &Path, rejects: &[LineError]) -> io::Result<Option<PathBuf>> {
    let path = rejects_path(input);
    if rejects.is_empty() {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => return Ok(None),
        }
    }
    let mut out = io::BufWriter::new(std::fs::File::create(&path)?);
    for r in rejects {
        writeln!(out, "{}", r.to_json_line())?;
    }
    out.flush()?;
    Ok(Some(path))
}

/// The path of a service field violation inside its item: the service
/// reports `postings[3].salary.max_cny` from the request root; the rejects
/// file wants `salary.max_cny` against the file's line.
pub fn item_field(path: &str) -> &str {
    match path.find("].") {
        Some(i) if path[..i].contains('[') => &path[i + 2..],
        _ if path.ends_with(']') => "",
        _ => path,
    }
}

/// The records of a reader in the given format; each yields its line number
/// and the fields as JSON values (CSV fields as strings, dotted/prefixed
/// columns folded into the nested shape).
pub fn records<R: BufRead>(reader: R, format: FileFormat) -> Records<R> {
    Records::new(reader, format)
}

/// A record converter: [`employer`], [`posting`] or [`resume`].
pub type Convert<T> = fn(&Map<String, Value>) -> Result<T, Vec<Violation>>;

/// Parsed items of a whole file and its rejected lines.
#[derive(Clone, Debug, Default)]
pub struct Parsed<T> {
    /// The good items with their line numbers, in file order.
    pub items: Vec<(usize, T)>,
    /// The bad lines, in file order.
    pub rejects: Vec<LineError>,
}

/// Parses every record of `reader` with `convert`; an I/O error stops it.
pub fn parse_all<R: BufRead, T>(
    reader: R,
    format: FileFormat,
    convert: Convert<T>,
) -> io::Result<Parsed<T>> {
    let mut out = Parsed {
        items: Vec::new(),
        rejects: Vec::new(),
    };
    for record in records(reader, format) {
        let record = record?;
        match record.fields {
            Err(violations) => out.rejects.push(LineError {
                line: record.line,
                violations,
            }),
            Ok(map) => match convert(&map) {
                Ok(item) => out.items.push((record.line, item)),
                Err(violations) => out.rejects.push(LineError {
                    line: record.line,
                    violations,
                }),
            },
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Field access with paths.

struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    errors: Vec<Violation>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, prefix: &str, allowed: &[&str]) -> Self {
        let mut f = Fields {
            map,
            prefix: prefix.to_string(),
            errors: Vec::new(),
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let path = f.path(key);
                f.errors.push(Violation::new(path, "unknown field"));
            }
        }
        f
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn fail(&mut self, key: &str, msg: impl Into<String>) {
        let path = self.path(key);
        self.errors.push(Violation::new(path, msg));
    }

    /// The value unless absent, null or the empty string.
    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    fn string(&mut self, key: &str) -> String {
        match self.get(key) {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                self.fail(key, "must be a string");
                String::new()
            }
        }
    }

    fn int(&mut self, key: &str) -> i32 {
        let v = match self.get(key) {
            None => return 0,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match v.and_then(|v| i32::try_from(v).ok()) {
            Some(v) => v,
            None => {
                self.fail(key, "must be a whole number");
                0
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "y" => true,
                "false" | "no" | "0" | "n" => false,
                _ => {
                    self.fail(key, "must be true or false");
                    false
                }
            },
            Some(Value::Number(n)) if n.as_i64() == Some(1) => true,
            Some(Value::Number(n)) if n.as_i64() == Some(0) => false,
            Some(_) => {
                self.fail(key, "must be true or false");
                false
            }
        }
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::String(s)) => s
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, v) in items.iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            let path = format!("{}{key}[{i}]", self.prefix);
                            self.errors.push(Violation::new(path, "must be a string"));
                        }
                    }
                }
                out
            }
            Some(_) => {
                self.fail(key, "must be a list of strings");
                Vec::new()
            }
        }
    }

    /// An enum by its short name, full proto name or number.
    fn enumeration(
        &mut self,
        key: &str,
        prefix: &str,
        from_name: fn(&str) -> Option<i32>,
        valid: fn(i32) -> bool,
    ) -> i32 {
        let found = match self.get(key) {
            None => return 0,
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| valid(*n)),
            Some(Value::String(s)) => {
                let up = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
                let full = if up.starts_with(prefix) {
                    up.clone()
                } else {
                    format!("{prefix}{up}")
                };
                from_name(&full).or_else(|| up.parse::<i32>().ok().filter(|n| valid(*n)))
            }
            Some(_) => None,
        };
        match found {
            Some(v) => v,
            None => {
                self.fail(key, format!("unknown value (see the {}* names)", prefix));
                0
            }
        }
    }

    fn timestamp(&mut self, key: &str) -> Option<Timestamp> {
        let s = match self.get(key)? {
            Value::String(s) => s.trim().to_string(),
            _ => {
                self.fail(key, "must be an RFC 3339 time string");
                return None;
            }
        };
        match time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339) {
            Ok(t) => Some(Timestamp {
                seconds: t.unix_timestamp(),
                nanos: t.nanosecond() as i32,
            }),
            Err(_) => {
                self.fail(
                    key,
                    "must be an RFC 3339 time like 2020-03-01T09:00:00+08:00",
                );
                None
            }
        }
    }

    fn date(&mut self, key: &str) -> Option<PbDate> {
        let s = match self.get(key)? {
            Value::String(s) => s.trim().to_string(),
            _ => {
                self.fail(key, "must be a date string YYYY-MM-DD");
                return None;
            }
        };
        match crate::format::args::parse_date(&s) {
            Ok(d) => Some(crate::format::args::to_pb(d)),
            Err(e) => {
                self.fail(key, e.0);
                None
            }
        }
    }

    fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.get(key)? {
            Value::Object(m) => Some(m),
            _ => {
                self.fail(key, "must be an object");
                None
            }
        }
    }

    fn credit_code(&mut self, key: &str, required: bool) -> String {
        let code = self.string(key).trim().to_ascii_uppercase();
        if code.is_empty() {
            if required {
                self.fail(key, "required");
            }
        } else if talent_codes::credit_code::credit_code(&code).is_err() {
            self.fail(
                key,
                "not a unified social credit code (18 characters, GB 32100 check character)",
            );
        }
        code
    }

    /// A resident ID number in the normal form the services key it by.
    fn resident_id(&mut self, key: &str) -> String {
        let raw = self.string(key);
        if raw.trim().is_empty() {
            return String::new();
        }
        match talent_codes::ResidentId::parse(&raw) {
            Ok(id) => id.into_string(),
            Err(_) => {
                self.fail(key, "not a resident ID number (18 characters, GB 11643 check character, valid birth date)");
                raw.trim().to_string()
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<Violation>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

fn degree(f: &mut Fields, key: &str) -> i32 {
    f.enumeration(
        key,
        "DEGREE_LEVEL_",
        |s| DegreeLevel::from_str_name(s).map(|v| v as i32),
        |n| DegreeLevel::try_from(n).is_ok(),
    )
}

fn discipline(f: &mut Fields, key: &str) -> i32 {
    f.enumeration(
        key,
        "DISCIPLINE_",
        |s| Discipline::from_str_name(s).map(|v| v as i32),
        |n| Discipline::try_from(n).is_ok(),
    )
}

// ---------------------------------------------------------------------------
// The record kinds.

/// An employer record.
pub fn employer(map: &Map<String, Value>) -> Result<Employer, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "credit_code",
            "display_name",
            "district",
            "industry",
            "size",
        ],
    );
    let e = Employer {
        credit_code: f.credit_code("credit_code", true),
        display_name: f.string("display_name"),
        district: f.string("district"),
        industry: f.string("industry"),
        size: f.enumeration(
            "size",
            "EMPLOYER_SIZE_",
            |s| EmployerSize::from_str_name(s).map(|v| v as i32),
            |n| EmployerSize::try_from(n).is_ok(),
        ),
        ..Default::default()
    };
    f.finish(e)
}

/// A posting record.
pub fn posting(map: &Map<String, Value>) -> Result<Posting, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
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
    );
    let salary = f.object("salary").map(|m| {
        let mut s = Fields::new(m, "salary.", &["min_cny", "max_cny"]);
        let range = MonthlySalaryRange {
            min_cny: s.int("min_cny"),
            max_cny: s.int("max_cny"),
        };
        f.errors.append(&mut s.errors);
        range
    });
    let external_id = f.string("external_id");
    if external_id.is_empty() {
        f.fail("external_id", "required");
    }
    let p = Posting {
        external_id,
        title: f.string("title"),
        description: f.string("description"),
        employer_credit_code: f.credit_code("employer_credit_code", true),
        workplace_district: f.string("workplace_district"),
        industry: f.string("industry"),
        occupation_code: f.string("occupation_code"),
        minimum_degree_level: degree(&mut f, "minimum_degree_level"),
        experience_years: f.int("experience_years"),
        salary,
        headcount: f.int("headcount"),
        employment_type: f.enumeration(
            "employment_type",
            "EMPLOYMENT_TYPE_",
            |s| EmploymentType::from_str_name(s).map(|v| v as i32),
            |n| EmploymentType::try_from(n).is_ok(),
        ),
        publish_time: f.timestamp("publish_time"),
        expire_time: f.timestamp("expire_time"),
        fair: f.string("fair"),
        tags: f.strings("tags"),
        ..Default::default()
    };
    f.finish(p)
}

const EDUCATION_FIELDS: &[&str] = &[
    "degree_level",
    "university_code",
    "university_name",
    "discipline",
    "major",
    "graduation_date",
];

/// A résumé record.
pub fn resume(map: &Map<String, Value>) -> Result<Resume, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
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
    );
    let mut education = Vec::new();
    match f.get("education") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(m) = item else {
                    f.fail(&format!("education[{i}]"), "must be an object");
                    continue;
                };
                let mut e = Fields::new(m, &format!("education[{i}]."), EDUCATION_FIELDS);
                let entry = EducationEntry {
                    degree_level: degree(&mut e, "degree_level"),
                    university_code: e.string("university_code"),
                    university_name: e.string("university_name"),
                    discipline: discipline(&mut e, "discipline"),
                    major: e.string("major"),
                    graduation_date: e.date("graduation_date"),
                };
                f.errors.append(&mut e.errors);
                education.push(entry);
            }
        }
        Some(_) => f.fail("education", "must be a list of objects"),
    }
    let external_id = f.string("external_id");
    if external_id.is_empty() {
        f.fail("external_id", "required");
    }
    let resident_id_number = f.resident_id("resident_id_number");
    if resident_id_number.is_empty() {
        f.fail("resident_id_number", "required");
    }
    let r = Resume {
        external_id,
        resident_id_number,
        full_name: f.string("full_name"),
        phone: f.string("phone"),
        email: f.string("email"),
        education,
        professional_title_level: f.enumeration(
            "professional_title_level",
            "PROFESSIONAL_TITLE_LEVEL_",
            |s| ProfessionalTitleLevel::from_str_name(s).map(|v| v as i32),
            |n| ProfessionalTitleLevel::try_from(n).is_ok(),
        ),
        vocational_skill_level: f.enumeration(
            "vocational_skill_level",
            "VOCATIONAL_SKILL_LEVEL_",
            |s| VocationalSkillLevel::from_str_name(s).map(|v| v as i32),
            |n| VocationalSkillLevel::try_from(n).is_ok(),
        ),
        desired_districts: f.strings("desired_districts"),
        desired_industries: f.strings("desired_industries"),
        statistical_use_consent: f.boolean("statistical_use_consent"),
        consent_time: f.timestamp("consent_time"),
        receive_time: f.timestamp("receive_time"),
        ..Default::default()
    };
    f.finish(r)
}

/// A graduate roster record; `line` becomes the `row_id` when the record
/// has none, so rejections name the line.
pub fn roster_row(
    map: &Map<String, Value>,
    line: usize,
) -> Result<GraduateRosterRow, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "row_id",
            "resident_id_number",
            "person_key",
            "university_code",
            "university_name",
            "degree_level",
            "discipline",
            "graduation_date",
        ],
    );
    let id = f.resident_id("resident_id_number");
    let key = f.string("person_key");
    let person = match (id.is_empty(), key.is_empty()) {
        (false, true) => Some(graduate_roster_row::Person::ResidentIdNumber(id)),
        (true, false) => Some(graduate_roster_row::Person::PersonKey(key)),
        (true, true) => {
            f.fail(
                "resident_id_number",
                "one of resident_id_number and person_key is required",
            );
            None
        }
        (false, false) => {
            f.fail(
                "person_key",
                "give resident_id_number or person_key, not both",
            );
            None
        }
    };
    let row_id = match f.string("row_id") {
        s if s.is_empty() => line.to_string(),
        s => s,
    };
    let row = GraduateRosterRow {
        row_id,
        person,
        university_code: f.string("university_code"),
        university_name: f.string("university_name"),
        degree_level: degree(&mut f, "degree_level"),
        discipline: discipline(&mut f, "discipline"),
        graduation_date: f.date("graduation_date"),
    };
    f.finish(row)
}

/// Parses a whole roster file (the row id of each row is its line number
/// unless the file gives one).
pub fn parse_roster<R: BufRead>(
    reader: R,
    format: FileFormat,
) -> io::Result<Parsed<GraduateRosterRow>> {
    let mut out = Parsed {
        items: Vec::new(),
        rejects: Vec::new(),
    };
    for record in records(reader, format) {
        let record = record?;
        let result = record.fields.and_then(|m| roster_row(&m, record.line));
        match result {
            Ok(row) => out.items.push((record.line, row)),
            Err(violations) => out.rejects.push(LineError {
                line: record.line,
                violations,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
