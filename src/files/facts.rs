//! The facts a platform reports besides employers, postings and résumés:
//! applications and their status moves, direct hires, separations, fairs
//! and employers' participations in fairs (`talent push applications|
//! application-moves|hires|separations|fairs|participations FILE`).
//!
//! Records name other resources by the platform's own ids (a résumé's or
//! posting's `external_id`, an `application_id`, a `fair_id`); the push
//! turns them into resource names (`platforms/{platform}/resumes/{id}`)
//! with [`resource`], so a file need not know its platform's id. A value
//! that is already a resource name is kept as it is.
//!
//! * **applications**: `application_id`, `resume`, `posting`, `fair`,
//!   `submit_time`, `request_id`.
//! * **application-moves**: `application`, `state` (`SCREENING`,
//!   `INTERVIEW`, `OFFERED`, `HIRED`, `REJECTED`, `WITHDRAWN`),
//!   `transition_time`, `reason`, and for HIRED `hire` (`{"start_date",
//!   "workplace_district", "industry"}`; CSV columns `hire_start_date`, ...).
//! * **hires**: `resume` or `resident_id_number`, `employer_credit_code`,
//!   `workplace_district`, `industry`, `start_date`, `posting`,
//!   `request_id`.
//! * **separations**: `employment` (its id or resource name), or the hire
//!   it ends by `employer_credit_code`, `resume` and `start_date`; and
//!   `end_date`.
//! * **fairs**: `fair_id`, `display_name`, `format` (`ONLINE`, `ONSITE`,
//!   `HYBRID`), `start_time`, `end_time`, `district`, `request_id`.
//! * **participations**: `fair`, `employer_credit_code`.

use serde_json::{Map, Value};
use talent_proto::google::r#type::Date as PbDate;
use talent_proto::talent::recruiting::v1::{
    Application, ApplicationState, CreateApplicationRequest, CreateFairRequest, Fair, HireDetails,
    Participation, RecordHireRequest, RegisterParticipationRequest, UpdateApplicationStatusRequest,
    record_hire_request,
};
use talent_proto::talent::r#type::v1::FairFormat;

use super::{Fields, Violation};

/// The resource name of `id` in `collection` of `platform`; a value that is
/// already a resource name (`platforms/...`) is kept, an empty one stays
/// empty.
pub fn resource(platform: &str, collection: &str, id: &str) -> String {
    if id.is_empty() || id.starts_with("platforms/") {
        id.to_owned()
    } else {
        format!("platforms/{platform}/{collection}/{id}")
    }
}

impl Fields<'_> {
    /// A required string: "required" when empty.
    fn required(&mut self, key: &str) -> String {
        let s = self.string(key).trim().to_owned();
        if s.is_empty() && !self.errors.iter().any(|e| e.field == self.path(key)) {
            self.fail(key, "required");
        }
        s
    }

    /// A required date.
    fn required_date(&mut self, key: &str) -> Option<PbDate> {
        let d = self.date(key);
        if d.is_none() && self.get(key).is_none() {
            self.fail(key, "required");
        }
        d
    }

    /// A required time.
    fn required_time(&mut self, key: &str) -> Option<prost_types::Timestamp> {
        let t = self.timestamp(key);
        if t.is_none() && self.get(key).is_none() {
            self.fail(key, "required");
        }
        t
    }
}

/// An application record: a `CreateApplicationRequest` whose `resume`,
/// `posting` and `fair` still hold the file's ids.
pub fn application(map: &Map<String, Value>) -> Result<CreateApplicationRequest, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "application_id",
            "resume",
            "posting",
            "fair",
            "submit_time",
            "request_id",
        ],
    );
    let application = Application {
        resume: f.required("resume"),
        posting: f.required("posting"),
        fair: f.string("fair").trim().to_owned(),
        submit_time: f.timestamp("submit_time"),
        ..Default::default()
    };
    let r = CreateApplicationRequest {
        parent: String::new(),
        application: Some(application),
        application_id: f.string("application_id").trim().to_owned(),
        request_id: f.string("request_id").trim().to_owned(),
    };
    f.finish(r)
}

const HIRE_FIELDS: &[&str] = &["start_date", "workplace_district", "industry"];

/// An application move record: an `UpdateApplicationStatusRequest` whose
/// `name` still holds the file's application id.
pub fn application_move(
    map: &Map<String, Value>,
) -> Result<UpdateApplicationStatusRequest, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &["application", "state", "transition_time", "reason", "hire"],
    );
    let name = f.required("application");
    let state = f.enumeration(
        "state",
        "APPLICATION_STATE_",
        |s| ApplicationState::from_str_name(s).map(|v| v as i32),
        |n| ApplicationState::try_from(n).is_ok(),
    );
    if state == 0 && f.get("state").is_none() {
        f.fail("state", "required");
    }
    let hire = f.object("hire").map(|m| {
        let mut h = Fields::new(m, "hire.", HIRE_FIELDS);
        let details = HireDetails {
            start_date: h.date("start_date"),
            workplace_district: h.string("workplace_district").trim().to_owned(),
            industry: h.string("industry").trim().to_owned(),
        };
        f.errors.append(&mut h.errors);
        details
    });
    let hired = state == ApplicationState::Hired as i32;
    if hired && hire.as_ref().and_then(|h| h.start_date.as_ref()).is_none() {
        let path = f.path("hire.start_date");
        if !f.errors.iter().any(|e| e.field == path) {
            f.fail("hire.start_date", "required when the state is HIRED");
        }
    }
    let r = UpdateApplicationStatusRequest {
        name,
        state,
        transition_time: f.timestamp("transition_time"),
        reason: f.string("reason"),
        hire: if hired { hire } else { None },
    };
    f.finish(r)
}

/// A direct hire record: a `RecordHireRequest` whose `resume` and `posting`
/// still hold the file's ids.
pub fn hire(map: &Map<String, Value>) -> Result<RecordHireRequest, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "resume",
            "resident_id_number",
            "employer_credit_code",
            "workplace_district",
            "industry",
            "start_date",
            "posting",
            "request_id",
        ],
    );
    let resume = f.string("resume").trim().to_owned();
    let id = f.resident_id("resident_id_number");
    let person = match (resume.is_empty(), id.is_empty()) {
        (false, true) => Some(record_hire_request::Person::Resume(resume)),
        (true, false) => Some(record_hire_request::Person::ResidentIdNumber(id)),
        (true, true) => {
            f.fail("resume", "one of resume and resident_id_number is required");
            None
        }
        (false, false) => {
            f.fail(
                "resident_id_number",
                "give resume or resident_id_number, not both",
            );
            None
        }
    };
    let r = RecordHireRequest {
        parent: String::new(),
        person,
        employer_credit_code: f.credit_code("employer_credit_code", true),
        workplace_district: f.string("workplace_district").trim().to_owned(),
        industry: f.string("industry").trim().to_owned(),
        start_date: f.required_date("start_date"),
        posting: f.string("posting").trim().to_owned(),
        request_id: f.string("request_id").trim().to_owned(),
    };
    f.finish(r)
}

/// A separation record: the employment it ends, by id or by the hire.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Separation {
    /// The employment's id or resource name; empty when it is found by the
    /// hire's fields below.
    pub employment: String,
    /// The employer of the hire (when `employment` is empty).
    pub employer_credit_code: String,
    /// The résumé of the hire (when `employment` is empty).
    pub resume: String,
    /// The first day of work of the hire (when `employment` is empty).
    pub start_date: Option<PbDate>,
    /// First day no longer employed.
    pub end_date: Option<PbDate>,
}

/// A separation record.
pub fn separation(map: &Map<String, Value>) -> Result<Separation, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "employment",
            "employer_credit_code",
            "resume",
            "start_date",
            "end_date",
        ],
    );
    let employment = f.string("employment").trim().to_owned();
    let mut s = Separation {
        employment,
        end_date: f.required_date("end_date"),
        ..Default::default()
    };
    if s.employment.is_empty() {
        s.employer_credit_code = f.credit_code("employer_credit_code", true);
        s.resume = f.string("resume").trim().to_owned();
        if s.resume.is_empty() {
            f.fail(
                "resume",
                "required when no employment is given (or give employment)",
            );
        }
        s.start_date = f.required_date("start_date");
    } else {
        for key in ["employer_credit_code", "resume", "start_date"] {
            if f.get(key).is_some() {
                f.fail(key, "give employment or the hire's fields, not both");
            }
        }
    }
    f.finish(s)
}

/// A fair record.
pub fn fair(map: &Map<String, Value>) -> Result<CreateFairRequest, Vec<Violation>> {
    let mut f = Fields::new(
        map,
        "",
        &[
            "fair_id",
            "display_name",
            "format",
            "start_time",
            "end_time",
            "district",
            "request_id",
        ],
    );
    let fair = Fair {
        display_name: f.required("display_name"),
        format: f.enumeration(
            "format",
            "FAIR_FORMAT_",
            |s| FairFormat::from_str_name(s).map(|v| v as i32),
            |n| FairFormat::try_from(n).is_ok(),
        ),
        start_time: f.required_time("start_time"),
        end_time: f.required_time("end_time"),
        district: f.string("district").trim().to_owned(),
        ..Default::default()
    };
    let r = CreateFairRequest {
        parent: String::new(),
        fair: Some(fair),
        fair_id: f.string("fair_id").trim().to_owned(),
        request_id: f.string("request_id").trim().to_owned(),
    };
    f.finish(r)
}

/// A participation record: a `RegisterParticipationRequest` whose `parent`
/// still holds the file's fair id.
pub fn participation(
    map: &Map<String, Value>,
) -> Result<RegisterParticipationRequest, Vec<Violation>> {
    let mut f = Fields::new(map, "", &["fair", "employer_credit_code"]);
    let r = RegisterParticipationRequest {
        parent: f.required("fair"),
        participation: Some(Participation {
            employer_credit_code: f.credit_code("employer_credit_code", true),
            ..Default::default()
        }),
    };
    f.finish(r)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::super::{Convert, FileFormat, Parsed, parse_all};
    use super::*;

    fn parse<T>(text: &str, format: FileFormat, convert: Convert<T>) -> Parsed<T> {
        parse_all(Cursor::new(text.as_bytes()), format, convert).unwrap()
    }

    fn fields<T>(parsed: &Parsed<T>, i: usize) -> Vec<&str> {
        parsed.rejects[i]
            .violations
            .iter()
            .map(|v| v.field.as_str())
            .collect()
    }

    #[test]
    fn resource_names() {
        assert_eq!(resource("p", "resumes", "r1"), "platforms/p/resumes/r1");
        assert_eq!(
            resource("p", "resumes", "platforms/q/resumes/r1"),
            "platforms/q/resumes/r1"
        );
        assert_eq!(resource("p", "resumes", ""), "");
    }

    #[test]
    fn applications_from_csv() {
        let text = "application_id,resume,posting,fair,submit_time\n\
                    a1,r1,p1,,2020-03-02T10:00:00+08:00\n\
                    a2,,p1,,yesterday\n\
                    a3,r1,p1,f1,\n";
        let parsed = parse(text, FileFormat::Csv, application);
        assert_eq!(parsed.items.len(), 2);
        let (line, a) = &parsed.items[0];
        assert_eq!(*line, 2);
        assert_eq!(a.application_id, "a1");
        let app = a.application.as_ref().unwrap();
        assert_eq!((app.resume.as_str(), app.posting.as_str()), ("r1", "p1"));
        assert_eq!(app.submit_time.unwrap().seconds, 1_583_114_400);
        assert_eq!(parsed.items[1].1.application.as_ref().unwrap().fair, "f1");
        assert_eq!(parsed.rejects[0].line, 3);
        assert_eq!(fields(&parsed, 0), vec!["resume", "submit_time"]);
    }

    #[test]
    fn application_moves_with_hire_details() {
        let text = r#"{"application":"a1","state":"screening","transition_time":"2020-03-03T10:00:00+08:00","reason":"looks good"}
{"application":"a1","state":"HIRED","hire":{"start_date":"2020-04-01","industry":"I65"}}
{"application":"a1","state":"HIRED"}
{"application":"a1","state":"promoted","hire":{"start":"2020-04-01"}}
{"state":"REJECTED"}
"#;
        let parsed = parse(text, FileFormat::JsonLines, application_move);
        assert_eq!(parsed.items.len(), 2);
        let m = &parsed.items[0].1;
        assert_eq!(m.state, ApplicationState::Screening as i32);
        assert!(m.hire.is_none());
        let h = &parsed.items[1].1;
        assert_eq!(h.state, ApplicationState::Hired as i32);
        let hire = h.hire.as_ref().unwrap();
        assert_eq!(hire.start_date.as_ref().unwrap().month, 4);
        assert_eq!(hire.industry, "I65");
        assert_eq!(fields(&parsed, 0), vec!["hire.start_date"]);
        assert_eq!(fields(&parsed, 1), vec!["state", "hire.start"]);
        assert_eq!(fields(&parsed, 2), vec!["application"]);

        let csv = "application,state,hire_start_date,hire_workplace_district\n\
                   a1,hired,2020-04-01,370212\n";
        let parsed = parse(csv, FileFormat::Csv, application_move);
        let hire = parsed.items[0].1.hire.as_ref().unwrap();
        assert_eq!(hire.workplace_district, "370212");
    }

    #[test]
    fn hires_need_one_person() {
        let text = "resume,resident_id_number,employer_credit_code,start_date\n\
                    r1,,91370212MA3C000013,2020-04-01\n\
                    ,370212199801010016,91370212MA3C000013,2020-04-01\n\
                    ,,91370212MA3C000013,2020-04-01\n\
                    r1,370212199801010016,91370212MA3C000014,\n";
        let parsed = parse(text, FileFormat::Csv, hire);
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(
            parsed.items[0].1.person,
            Some(record_hire_request::Person::Resume("r1".into()))
        );
        assert_eq!(fields(&parsed, 0), vec!["resume"]);
        assert_eq!(
            fields(&parsed, 1),
            vec!["resident_id_number", "employer_credit_code", "start_date"]
        );
    }

    #[test]
    fn separations_by_employment_or_by_hire() {
        let text = r#"{"employment":"0b6f","end_date":"2020-09-01"}
{"employer_credit_code":"91370212MA3C000013","resume":"r1","start_date":"2020-04-01","end_date":"2020-09-01"}
{"employment":"0b6f","resume":"r1","end_date":"2020-09-01"}
{"employer_credit_code":"91370212MA3C000013","start_date":"2020-04-01"}
"#;
        let parsed = parse(text, FileFormat::JsonLines, separation);
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(parsed.items[0].1.employment, "0b6f");
        assert_eq!(parsed.items[1].1.resume, "r1");
        assert_eq!(fields(&parsed, 0), vec!["resume"]);
        assert_eq!(fields(&parsed, 1), vec!["end_date", "resume"]);
    }

    #[test]
    fn fairs_and_participations() {
        let text = "fair_id,display_name,format,start_time,end_time,district\n\
                    f1,Spring fair,onsite,2020-03-10T09:00:00+08:00,2020-03-10T17:00:00+08:00,370212\n\
                    f2,,webinar,2020-03-10T09:00:00+08:00,,\n";
        let parsed = parse(text, FileFormat::Csv, fair);
        assert_eq!(parsed.items.len(), 1);
        let f = parsed.items[0].1.fair.as_ref().unwrap();
        assert_eq!(f.format, FairFormat::Onsite as i32);
        assert_eq!(
            fields(&parsed, 0),
            vec!["display_name", "format", "end_time"]
        );

        let text = "fair,employer_credit_code\nf1,91370212MA3C000013\nf1,91370212MA3C000014\n";
        let parsed = parse(text, FileFormat::Csv, participation);
        assert_eq!(parsed.items[0].1.parent, "f1");
        assert_eq!(fields(&parsed, 0), vec!["employer_credit_code"]);
    }
}
