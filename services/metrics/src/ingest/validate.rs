//! Validation of the facts that events carry: every violation with its
//! field path, and each event normalised into a [`Fact`] that application
//! (`work.rs`) understands.

use talent_codes as codes;
use talent_proto::talent::events::v1::{self as ev, event::Payload};
use talent_server::FieldViolations;

use super::IngestSettings;
use crate::domain::{Employment, Posting};
use crate::names;
use crate::store::RosterRecord;

/// A validated, normalised fact.
pub(super) enum Fact {
    Hired {
        person_key: String,
        employment: Employment,
    },
    Separated {
        employment: String,
        person_key: String,
        end_day: i64,
        revision: i64,
    },
    Posting {
        revision: i64,
        posting: Posting,
    },
    Nothing,
    Resume {
        id: String,
        revision: i64,
        person_key: String,
        platform: String,
        first_day: i64,
        degree: i64,
        title: i64,
        skill: i64,
    },
    Application {
        id: String,
        district: String,
        industry: String,
        platform: String,
        day: i64,
    },
    Fair {
        id: String,
        platform: String,
        start_day: i64,
    },
    Participation {
        fair: String,
        employer: String,
        district: String,
        industry: String,
        platform: String,
        start_day: i64,
        register_at: i64,
    },
    Erased {
        person_key: String,
        at: i64,
    },
    /// A graduate roster row.
    Roster(RosterRecord),
}

struct Checker {
    v: FieldViolations,
    prefix: &'static str,
}

impl Checker {
    fn path(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }
    fn add(&mut self, field: &str, why: impl Into<String>) {
        let p = self.path(field);
        self.v.add(p, why);
    }
    fn person_key(&mut self, field: &str, s: &str) -> String {
        if !codes::is_person_key(s) {
            self.add(field, codes::person_key::RULE);
        }
        s.to_string()
    }
    fn district(&mut self, field: &str, s: &str) -> String {
        if !codes::is_district(s) {
            self.add(field, codes::district::RULE);
        }
        s.to_string()
    }
    fn industry(&mut self, field: &str, s: &str) -> String {
        match codes::industry::industry(s) {
            Ok(i) => i,
            Err(why) => {
                self.add(field, why);
                String::new()
            }
        }
    }
    fn employer(&mut self, field: &str, s: &str) -> String {
        match codes::credit_code::credit_code(s) {
            Ok(c) => c,
            Err(why) => {
                self.add(field, why);
                String::new()
            }
        }
    }
    fn name(&mut self, field: &str, s: &str, collection: &str) -> String {
        match names::resource_platform(s, collection) {
            Some(p) => p.to_string(),
            None => {
                self.add(
                    field,
                    format!("must be platforms/{{platform}}/{collection}/{{id}}"),
                );
                String::new()
            }
        }
    }
    fn uuid(&mut self, field: &str, s: &str) {
        if !names::is_uuid(s) {
            self.add(field, "must be a lower-case hyphenated UUID");
        }
    }
    /// A required instant as unix microseconds; `None` when invalid.
    fn time(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> Option<i64> {
        let Some(t) = t else {
            self.add(field, "required");
            return None;
        };
        codes::micros(t).map_err(|why| self.add(field, why)).ok()
    }
    /// An optional instant as unix microseconds; 0 when unset or invalid.
    fn optional_time(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> i64 {
        t.map_or(0, |t| self.time(field, Some(t)).unwrap_or(0))
    }
    /// The city's day of a required instant.
    fn day(&mut self, field: &str, t: Option<&prost_types::Timestamp>) -> i64 {
        self.time(field, t).map_or(0, codes::day_of_micros)
    }
    fn date(&mut self, field: &str, d: Option<&talent_proto::google::r#type::Date>) -> i64 {
        match codes::check_date(d, 1900..=2100) {
            Ok(day) => day,
            Err(why) => {
                self.add(field, why);
                0
            }
        }
    }
    fn revision(&mut self, field: &str, r: i64) -> i64 {
        if r < 1 {
            self.add(field, "must be at least 1");
        }
        r
    }
}

pub(super) fn check_event(
    e: &ev::Event,
    settings: &IngestSettings,
) -> Result<Fact, FieldViolations> {
    let mut c = Checker {
        v: FieldViolations::new(),
        prefix: "",
    };
    c.uuid("event_id", &e.event_id);
    if e.source.is_empty() || e.source.len() > 128 || !e.source.is_ascii() {
        c.add("source", "must be 1 to 128 ASCII characters");
    }
    if e.sequence == 0 {
        c.add("sequence", "must be at least 1");
    }
    let occurred = c.time("occurred_at", e.occurred_at.as_ref());
    let recorded = c.time("recorded_at", e.recorded_at.as_ref());
    if let (Some(occurred), Some(recorded)) = (occurred, recorded)
        && recorded < occurred
    {
        c.add("recorded_at", "must not be before occurred_at");
    }
    let recorded = recorded.unwrap_or(0);
    let in_city = |district: &str| codes::in_city(district, &settings.city_prefix);
    let fact = match &e.payload {
        None => {
            c.add("payload", "exactly one fact is required");
            Fact::Nothing
        }
        Some(Payload::Hired(h)) => {
            c.prefix = "hired";
            let platform = c.name("employment", &h.employment, "employments");
            let person_key = c.person_key("person_key", &h.person_key);
            c.employer("employer_credit_code", &h.employer_credit_code);
            let district = c.district("workplace_district", &h.workplace_district);
            let industry = c.industry("industry", &h.industry);
            let start_day = c.date("start_date", h.start_date.as_ref());
            let reporter = if !h.reporting_platform_id.is_empty() {
                h.reporting_platform_id.clone()
            } else if !e.platform_id.is_empty() {
                e.platform_id.clone()
            } else {
                platform
            };
            Fact::Hired {
                person_key,
                employment: Employment {
                    id: h.employment.clone(),
                    hired: true,
                    in_city: in_city(&district),
                    district,
                    industry,
                    start_day,
                    platform: reporter,
                    recorded_at: recorded,
                    end_day: None,
                },
            }
        }
        Some(Payload::Separated(s)) => {
            c.prefix = "separated";
            c.name("employment", &s.employment, "employments");
            let person_key = c.person_key("person_key", &s.person_key);
            let end_day = c.date("end_date", s.end_date.as_ref());
            let revision = c.revision("revision", s.revision);
            Fact::Separated {
                employment: s.employment.clone(),
                person_key,
                end_day,
                revision,
            }
        }
        Some(Payload::PostingPublished(ev::PostingPublished { facts }))
        | Some(Payload::PostingUpdated(ev::PostingUpdated { facts })) => {
            c.prefix = if matches!(e.payload, Some(Payload::PostingPublished(_))) {
                "posting_published"
            } else {
                "posting_updated"
            };
            match facts {
                None => {
                    c.add("facts", "required");
                    Fact::Nothing
                }
                Some(f) => check_posting(&mut c, f),
            }
        }
        Some(Payload::PostingClosed(p)) => {
            c.prefix = "posting_closed";
            c.name("posting", &p.posting, "postings");
            c.revision("revision", p.revision);
            // Closing changes no figure: postings count when published.
            Fact::Nothing
        }
        Some(Payload::ResumeReceived(r)) => {
            c.prefix = "resume_received";
            let platform = c.name("resume", &r.resume, "resumes");
            let revision = c.revision("revision", r.revision);
            let person_key = c.person_key("person_key", &r.person_key);
            let first_day = c.day("first_received_at", r.first_received_at.as_ref());
            let (mut degree, mut title, mut skill) = (0, 0, 0);
            match (&r.attributes, r.statistical_use_consent) {
                (Some(_), false) => c.add(
                    "attributes",
                    "must be unset without statistical_use_consent",
                ),
                (Some(a), true) => {
                    if a.education.len() > 10 {
                        c.add("attributes.education", "at most 10 entries");
                    }
                    for (i, ed) in a.education.iter().enumerate() {
                        if !(1..=5).contains(&ed.degree_level) {
                            c.add(
                                &format!("attributes.education[{i}].degree_level"),
                                "must be a known degree level",
                            );
                        }
                        degree = degree.max(i64::from(ed.degree_level));
                    }
                    if !(0..=5).contains(&a.professional_title_level) {
                        c.add("attributes.professional_title_level", "unknown value");
                    }
                    if !(0..=8).contains(&a.vocational_skill_level) {
                        c.add("attributes.vocational_skill_level", "unknown value");
                    }
                    title = i64::from(a.professional_title_level);
                    skill = i64::from(a.vocational_skill_level);
                }
                (None, _) => {}
            }
            Fact::Resume {
                id: r.resume.clone(),
                revision,
                person_key,
                platform,
                first_day,
                degree,
                title,
                skill,
            }
        }
        Some(Payload::ApplicationSubmitted(a)) => {
            c.prefix = "application_submitted";
            let platform = c.name("application", &a.application, "applications");
            c.name("resume", &a.resume, "resumes");
            c.name("posting", &a.posting, "postings");
            let district = c.district("workplace_district", &a.workplace_district);
            let industry = c.industry("industry", &a.industry);
            let day = c.day("submit_time", a.submit_time.as_ref());
            Fact::Application {
                id: a.application.clone(),
                district,
                industry,
                platform,
                day,
            }
        }
        Some(Payload::FairHeld(f)) => {
            c.prefix = "fair_held";
            let platform = c.name("fair", &f.fair, "fairs");
            if f.format == 0 || f.format > 3 {
                c.add("format", "must be ONLINE, ONSITE or HYBRID");
            }
            let start_day = c.day("start_time", f.start_time.as_ref());
            Fact::Fair {
                id: f.fair.clone(),
                platform,
                start_day,
            }
        }
        Some(Payload::FairParticipation(p)) => {
            c.prefix = "fair_participation";
            let platform = c.name("fair", &p.fair, "fairs");
            let employer = c.employer("employer_credit_code", &p.employer_credit_code);
            let district = c.district("employer_district", &p.employer_district);
            let industry = c.industry("employer_industry", &p.employer_industry);
            let start_day = c.day("fair_start_time", p.fair_start_time.as_ref());
            let register = c.optional_time("register_time", p.register_time.as_ref());
            Fact::Participation {
                fair: p.fair.clone(),
                employer,
                district,
                industry,
                platform,
                start_day,
                register_at: register,
            }
        }
        Some(Payload::PersonErased(p)) => {
            c.prefix = "person_erased";
            let person_key = c.person_key("person_key", &p.person_key);
            let at = c.optional_time("erase_time", p.erase_time.as_ref());
            Fact::Erased { person_key, at }
        }
    };
    if c.v.is_empty() { Ok(fact) } else { Err(c.v) }
}

fn check_posting(c: &mut Checker, f: &ev::PostingFacts) -> Fact {
    let platform = c.name("facts.posting", &f.posting, "postings");
    let revision = c.revision("facts.revision", f.revision);
    c.uuid("facts.opening_id", &f.opening_id);
    let employer = c.employer("facts.employer_credit_code", &f.employer_credit_code);
    let district = c.district("facts.workplace_district", &f.workplace_district);
    let industry = c.industry("facts.industry", &f.industry);
    if f.headcount < 1 {
        c.add("facts.headcount", "must be at least 1");
    }
    let publish = c
        .time("facts.publish_time", f.publish_time.as_ref())
        .unwrap_or(0);
    if !f.fair.is_empty() {
        c.name("facts.fair", &f.fair, "fairs");
    }
    Fact::Posting {
        revision,
        posting: Posting {
            id: f.posting.clone(),
            opening_id: f.opening_id.clone(),
            employer,
            district,
            industry,
            headcount: i64::from(f.headcount),
            publish_at: publish,
            publish_day: codes::day_of_micros(publish),
            platform,
        },
    }
}
