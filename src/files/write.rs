//! Writing records in the file schema: the inverse of the parsers, so the
//! demo city can be exported as files (fixtures for `talent push` and
//! `talent roster import`), and so a round trip tests the schema.
//! Unset fields (empty, zero, UNSPECIFIED) are left out, as the parsers
//! read a missing field as unset.

use std::io::{self, Write};

use prost_types::Timestamp;
use serde_json::{Map, Value, json};
use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::metrics::v1::{GraduateRosterRow, graduate_roster_row};
use talent_proto::talent::recruiting::v1::{Employer, Posting, Resume};
use talent_proto::talent::r#type::v1::{
    DegreeLevel, Discipline, EmployerSize, EmploymentType, ProfessionalTitleLevel,
    VocationalSkillLevel,
};

use crate::format::csv_field;

/// Builds an object leaving out unset values.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Self {
        Obj(Map::new())
    }
    fn s(mut self, k: &str, v: &str) -> Self {
        if !v.is_empty() {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn n(mut self, k: &str, v: i32) -> Self {
        if v != 0 {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn e(mut self, k: &str, name: Option<&str>) -> Self {
        if let Some(name) = name {
            self.0.insert(k.into(), json!(name));
        }
        self
    }
    fn v(mut self, k: &str, v: Option<Value>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.into(), v);
        }
        self
    }
    fn list(mut self, k: &str, v: &[String]) -> Self {
        if !v.is_empty() {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// The short name of a non-zero enum value ("BACHELOR"), `None` for 0.
fn short(v: i32, full: Option<&'static str>, prefix: &str) -> Option<&'static str> {
    if v == 0 {
        return None;
    }
    full.map(|f| f.strip_prefix(prefix).unwrap_or(f))
}

/// RFC 3339 in the city's offset (+08:00), as people write them.
pub fn time_text(t: &Timestamp) -> Option<String> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()?
        .replace_nanosecond(nanos)
        .ok()?
        .to_offset(offset)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn date_text(d: &PbDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn degree(v: i32) -> Option<&'static str> {
    short(
        v,
        DegreeLevel::try_from(v).ok().map(|d| d.as_str_name()),
        "DEGREE_LEVEL_",
    )
}

fn discipline(v: i32) -> Option<&'static str> {
    short(
        v,
        Discipline::try_from(v).ok().map(|d| d.as_str_name()),
        "DISCIPLINE_",
    )
}

/// An employer as a record.
pub fn employer_record(e: &Employer) -> Value {
    Obj::new()
        .s("credit_code", &e.credit_code)
        .s("display_name", &e.display_name)
        .s("district", &e.district)
        .s("industry", &e.industry)
        .e(
            "size",
            short(
                e.size,
                EmployerSize::try_from(e.size).ok().map(|s| s.as_str_name()),
                "EMPLOYER_SIZE_",
            ),
        )
        .done()
}

/// A posting as a record (input fields only).
pub fn posting_record(p: &Posting) -> Value {
    Obj::new()
        .s("external_id", &p.external_id)
        .s("title", &p.title)
        .s("description", &p.description)
        .s("employer_credit_code", &p.employer_credit_code)
        .s("workplace_district", &p.workplace_district)
        .s("industry", &p.industry)
        .s("occupation_code", &p.occupation_code)
        .e("minimum_degree_level", degree(p.minimum_degree_level))
        .n("experience_years", p.experience_years)
        .v(
            "salary",
            p.salary
                .map(|s| json!({"min_cny": s.min_cny, "max_cny": s.max_cny})),
        )
        .n("headcount", p.headcount)
        .e(
            "employment_type",
            short(
                p.employment_type,
                EmploymentType::try_from(p.employment_type)
                    .ok()
                    .map(|t| t.as_str_name()),
                "EMPLOYMENT_TYPE_",
            ),
        )
        .v(
            "publish_time",
            p.publish_time.as_ref().and_then(time_text).map(Value::from),
        )
        .v(
            "expire_time",
            p.expire_time.as_ref().and_then(time_text).map(Value::from),
        )
        .s("fair", &p.fair)
        .list("tags", &p.tags)
        .done()
}

/// A résumé as a record (input fields only).
pub fn resume_record(r: &Resume) -> Value {
    let education: Vec<Value> = r
        .education
        .iter()
        .map(|e| {
            Obj::new()
                .e("degree_level", degree(e.degree_level))
                .s("university_code", &e.university_code)
                .s("university_name", &e.university_name)
                .e("discipline", discipline(e.discipline))
                .s("major", &e.major)
                .v(
                    "graduation_date",
                    e.graduation_date
                        .as_ref()
                        .map(|d| Value::from(date_text(d))),
                )
                .done()
        })
        .collect();
    let mut o = Obj::new()
        .s("external_id", &r.external_id)
        .s("resident_id_number", &r.resident_id_number)
        .s("full_name", &r.full_name)
        .s("phone", &r.phone)
        .s("email", &r.email)
        .v(
            "education",
            (!education.is_empty()).then_some(Value::Array(education)),
        )
        .e(
            "professional_title_level",
            short(
                r.professional_title_level,
                ProfessionalTitleLevel::try_from(r.professional_title_level)
                    .ok()
                    .map(|t| t.as_str_name()),
                "PROFESSIONAL_TITLE_LEVEL_",
            ),
        )
        .e(
            "vocational_skill_level",
            short(
                r.vocational_skill_level,
                VocationalSkillLevel::try_from(r.vocational_skill_level)
                    .ok()
                    .map(|t| t.as_str_name()),
                "VOCATIONAL_SKILL_LEVEL_",
            ),
        )
        .list("desired_districts", &r.desired_districts)
        .list("desired_industries", &r.desired_industries)
        .v(
            "consent_time",
            r.consent_time.as_ref().and_then(time_text).map(Value::from),
        )
        .v(
            "receive_time",
            r.receive_time.as_ref().and_then(time_text).map(Value::from),
        );
    o.0.insert(
        "statistical_use_consent".into(),
        json!(r.statistical_use_consent),
    );
    o.done()
}

/// The roster CSV header [`roster_csv_line`] writes under.
pub const ROSTER_CSV_HEADER: &str = "resident_id_number,person_key,university_code,university_name,degree_level,discipline,graduation_date";

/// One roster row as a CSV line (without the row id: the importer uses the
/// line number).
pub fn roster_csv_line(row: &GraduateRosterRow) -> String {
    let (id, key) = match &row.person {
        Some(graduate_roster_row::Person::ResidentIdNumber(id)) => (id.as_str(), ""),
        Some(graduate_roster_row::Person::PersonKey(k)) => ("", k.as_str()),
        None => ("", ""),
    };
    [
        id.to_string(),
        key.to_string(),
        row.university_code.clone(),
        row.university_name.clone(),
        degree(row.degree_level).unwrap_or_default().to_string(),
        discipline(row.discipline).unwrap_or_default().to_string(),
        row.graduation_date
            .as_ref()
            .map(date_text)
            .unwrap_or_default(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// Writes records as JSON Lines.
pub fn write_jsonl<W: Write>(
    mut out: W,
    records: impl IntoIterator<Item = Value>,
) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut out, &r)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
