//! The `talent.events.v1` facts this service emits, built from stored
//! records. Only pseudonymous, statistical fields: never a name, an ID
//! number, a phone number, an e-mail address or free text.

use prost::Message;
use talent_proto::talent::events::v1 as ev;

use crate::{
    store::{PostingRecord, fair_name},
    validate::timestamp,
};

/// The outbox `source` of every event of this service.
pub const SOURCE: &str = "recruiting";

/// An event waiting for its outbox row (and sequence number).
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub event_id: String,
    pub platform_id: String,
    pub occurred_at: i64,
    pub payload: ev::event::Payload,
}

impl OutboxEvent {
    pub fn new(platform_id: &str, occurred_at: i64, payload: ev::event::Payload) -> Self {
        Self {
            event_id: crate::store::new_id(),
            platform_id: platform_id.to_owned(),
            occurred_at,
            payload,
        }
    }

    /// The encoded envelope, with the outbox position as its sequence.
    pub fn encode(&self, sequence: i64, recorded_at: i64) -> Vec<u8> {
        ev::Event {
            event_id: self.event_id.clone(),
            source: SOURCE.to_owned(),
            sequence: u64::try_from(sequence).unwrap_or(0),
            occurred_at: Some(timestamp(self.occurred_at)),
            recorded_at: Some(timestamp(recorded_at.max(self.occurred_at))),
            platform_id: self.platform_id.clone(),
            // Filled by the relay from the outbox row.
            traceparent: String::new(),
            payload: Some(self.payload.clone()),
        }
        .encode_to_vec()
    }
}

pub fn posting_facts(posting: &PostingRecord) -> ev::PostingFacts {
    let f = &posting.fields;
    ev::PostingFacts {
        posting: posting.name(),
        revision: posting.revision,
        opening_id: posting.opening_id.clone(),
        employer_credit_code: f.employer_code.clone(),
        workplace_district: f.district.clone(),
        industry: f.industry.clone(),
        headcount: f.headcount,
        publish_time: Some(timestamp(f.publish_at)),
        expire_time: Some(timestamp(f.expire_at)),
        fair: f
            .fair_id
            .as_deref()
            .map(|fair| fair_name(&posting.platform_id, fair))
            .unwrap_or_default(),
    }
}

pub fn posting_published(posting: &PostingRecord) -> ev::event::Payload {
    ev::event::Payload::PostingPublished(ev::PostingPublished {
        facts: Some(posting_facts(posting)),
    })
}

pub fn posting_updated(posting: &PostingRecord) -> ev::event::Payload {
    ev::event::Payload::PostingUpdated(ev::PostingUpdated {
        facts: Some(posting_facts(posting)),
    })
}

pub fn posting_closed(posting: &PostingRecord, close_at: i64, expired: bool) -> ev::event::Payload {
    let reason = if expired {
        ev::posting_closed::Reason::Expired
    } else {
        ev::posting_closed::Reason::Closed
    };
    ev::event::Payload::PostingClosed(ev::PostingClosed {
        posting: posting.name(),
        revision: posting.revision,
        opening_id: posting.opening_id.clone(),
        close_time: Some(timestamp(close_at)),
        reason: reason as i32,
    })
}

/// An employer joined a fair.
pub struct Participation<'a> {
    pub platform_id: &'a str,
    pub fair_id: &'a str,
    pub fair_start_at: i64,
    pub employer_code: &'a str,
    pub employer_district: &'a str,
    pub employer_industry: &'a str,
    pub register_at: i64,
}

pub fn fair_participation(p: &Participation<'_>) -> ev::event::Payload {
    ev::event::Payload::FairParticipation(ev::FairParticipation {
        fair: fair_name(p.platform_id, p.fair_id),
        employer_credit_code: p.employer_code.to_owned(),
        employer_district: p.employer_district.to_owned(),
        employer_industry: p.employer_industry.to_owned(),
        fair_start_time: Some(timestamp(p.fair_start_at)),
        register_time: Some(timestamp(p.register_at)),
    })
}

/// A calendar date as `google.type.Date`.
pub fn date((year, month, day): (i32, i32, i32)) -> talent_proto::google::r#type::Date {
    talent_proto::google::r#type::Date { year, month, day }
}

/// A résumé's statistical snapshot; attributes only with consent.
pub fn resume_received(resume: &crate::store::ResumeRecord) -> ev::event::Payload {
    let attributes = resume.consent.then(|| ev::ResumeAttributes {
        education: resume
            .attributes
            .education
            .iter()
            .map(|e| ev::EducationFacts {
                degree_level: e.degree_level,
                university_code: e.university_code.clone(),
                discipline: e.discipline,
                graduation_date: Some(date(e.graduation)),
            })
            .collect(),
        professional_title_level: resume.attributes.title_level,
        vocational_skill_level: resume.attributes.skill_level,
    });
    ev::event::Payload::ResumeReceived(ev::ResumeReceived {
        resume: resume.name(),
        revision: resume.revision,
        person_key: resume.person_key.clone(),
        first_received_at: Some(timestamp(resume.created_at)),
        statistical_use_consent: resume.consent,
        attributes,
    })
}

pub fn person_erased(person_key: &str, erase_at: i64) -> ev::event::Payload {
    ev::event::Payload::PersonErased(ev::PersonErased {
        person_key: person_key.to_owned(),
        erase_time: Some(timestamp(erase_at)),
    })
}

pub fn fair_held(fair: &crate::store::FairRecord) -> ev::event::Payload {
    ev::event::Payload::FairHeld(ev::FairHeld {
        fair: fair_name(&fair.platform_id, &fair.fair_id),
        organiser_platform_id: fair.platform_id.clone(),
        format: fair.format,
        start_time: Some(timestamp(fair.start_at)),
        end_time: Some(timestamp(fair.end_at)),
    })
}

pub fn hired(e: &crate::store::EmploymentRecord, opening_id: &str) -> ev::event::Payload {
    ev::event::Payload::Hired(ev::Hired {
        employment: e.name(),
        person_key: e.person_key.clone(),
        employer_credit_code: e.employer_code.clone(),
        workplace_district: e.district.clone(),
        industry: e.industry.clone(),
        start_date: Some(date(e.start)),
        reporting_platform_id: e.platform_id.clone(),
        posting: e
            .posting_id
            .as_deref()
            .map(|p| crate::store::posting_name(&e.platform_id, p))
            .unwrap_or_default(),
        opening_id: opening_id.to_owned(),
        application: e
            .application_id
            .as_deref()
            .map(|a| format!("platforms/{}/applications/{a}", e.platform_id))
            .unwrap_or_default(),
    })
}

pub fn separated(e: &crate::store::EmploymentRecord) -> ev::event::Payload {
    ev::event::Payload::Separated(ev::Separated {
        employment: e.name(),
        person_key: e.person_key.clone(),
        end_date: e.end.map(date),
        revision: e.separation_revision,
    })
}

pub fn application_submitted(
    a: &crate::store::ApplicationRecord,
    posting: &PostingRecord,
) -> ev::event::Payload {
    ev::event::Payload::ApplicationSubmitted(ev::ApplicationSubmitted {
        application: format!(
            "platforms/{}/applications/{}",
            a.platform_id, a.application_id
        ),
        resume: crate::store::resume_name(&a.platform_id, &a.resume_id),
        posting: posting.name(),
        opening_id: posting.opening_id.clone(),
        employer_credit_code: posting.fields.employer_code.clone(),
        workplace_district: posting.fields.district.clone(),
        industry: posting.fields.industry.clone(),
        submit_time: Some(timestamp(a.submit_at)),
        fair: a
            .fair_id
            .as_deref()
            .map(|f| fair_name(&a.platform_id, f))
            .unwrap_or_default(),
    })
}
