//! Test settings and typed helpers for the metrics service: keys, event
//! builders, publishing, roster import and the statistics queries.

use std::sync::atomic::{AtomicU64, Ordering};

use talent_proto::google::r#type::Date;
use talent_proto::talent::events::v1::{self as ev, event::Payload};
use talent_proto::talent::metrics::v1::{
    self as pb, admin_service_client::AdminServiceClient,
    ingest_service_client::IngestServiceClient, statistics_service_client::StatisticsServiceClient,
};
use tonic::{Request, Status, transport::Channel};

use super::TestApp;

/// The admin key the metrics service gets in every test.
pub const ADMIN_KEY: &str = "test-metrics-admin-key";
/// The city secret of the person key in every test.
pub const CITY_SECRET: &str = "test-city-secret";
/// The secret of the record keys (disclosure control) in every test.
pub const RECORD_KEY_SECRET: &str = "test-record-key-secret";

/// Settings the metrics service gets in every test.
pub fn configure(config: &mut talent_metrics::Config) {
    config.server.admin_key = Some(ADMIN_KEY.into());
    config.person_key_secret = CITY_SECRET.into();
    config.record_key_secret = RECORD_KEY_SECRET.into();
}

/// Wraps a message with `authorization: Bearer <key>`.
pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ASCII"),
    );
    request
}

/// A connection to the metrics service with one key of each kind: a RELAY
/// key, a ROSTER key, a READ key as issued by default (PERTURBED), the
/// bureau's own READ key (EXACT) and an OPERATOR key.
pub struct Metrics {
    pub channel: Channel,
    pub relay_key: String,
    pub roster_key: String,
    pub read_key: String,
    pub exact_key: String,
    pub operator_key: String,
}

impl Metrics {
    pub async fn connect(app: &TestApp) -> Self {
        let channel = app.metrics_channel().await;
        let mut m = Self {
            channel,
            relay_key: String::new(),
            roster_key: String::new(),
            read_key: String::new(),
            exact_key: String::new(),
            operator_key: String::new(),
        };
        let unspecified = pb::Protection::Unspecified;
        m.relay_key = m
            .issue(pb::KeyKind::Relay, unspecified)
            .await
            .unwrap()
            .secret;
        m.roster_key = m
            .issue(pb::KeyKind::Roster, unspecified)
            .await
            .unwrap()
            .secret;
        m.read_key = m
            .issue(pb::KeyKind::Read, unspecified)
            .await
            .unwrap()
            .secret;
        m.exact_key = m
            .issue(pb::KeyKind::Read, pb::Protection::Exact)
            .await
            .unwrap()
            .secret;
        m.operator_key = m
            .issue(pb::KeyKind::Operator, unspecified)
            .await
            .unwrap()
            .secret;
        m
    }

    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    pub async fn issue(
        &self,
        kind: pb::KeyKind,
        protection: pb::Protection,
    ) -> Result<pb::IssueKeyResponse, Status> {
        self.admin()
            .issue_key(with_key(
                pb::IssueKeyRequest {
                    kind: kind as i32,
                    display_name: format!("{kind:?} key"),
                    protection: protection as i32,
                    ..Default::default()
                },
                ADMIN_KEY,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Publishes each batch as one request message of one stream; returns
    /// the acks of every batch.
    pub async fn publish_batches_with(
        &self,
        key: &str,
        batches: Vec<Vec<ev::Event>>,
    ) -> Result<Vec<Vec<pb::EventAck>>, Status> {
        let n = batches.len();
        let requests: Vec<_> = batches
            .into_iter()
            .map(|events| pb::PublishEventsRequest { events })
            .collect();
        let mut client = IngestServiceClient::new(self.channel.clone());
        let mut responses = client
            .publish_events(with_key(tokio_stream::iter(requests), key))
            .await?
            .into_inner();
        let mut out = Vec::new();
        for _ in 0..n {
            let r = responses
                .message()
                .await?
                .expect("one response per request");
            out.push(r.acks);
        }
        Ok(out)
    }

    /// Publishes events as one request message; panics unless all are
    /// applied.
    pub async fn publish(&self, events: Vec<ev::Event>) -> Vec<pb::EventAck> {
        self.publish_batches_with(&self.relay_key, vec![events])
            .await
            .expect("publishing succeeds")
            .remove(0)
    }

    /// Publishes events one message each, in order.
    pub async fn publish_each(&self, events: Vec<ev::Event>) {
        let batches = events.into_iter().map(|e| vec![e]).collect();
        let acks = self
            .publish_batches_with(&self.relay_key, batches)
            .await
            .expect("publishing succeeds");
        for ack in acks.iter().flatten() {
            assert_ne!(ack.outcome(), pb::EventOutcome::Rejected, "{ack:?}");
        }
    }

    pub async fn import_roster_with(
        &self,
        key: &str,
        batches: Vec<Vec<pb::GraduateRosterRow>>,
    ) -> Result<pb::ImportGraduateRosterResponse, Status> {
        let requests: Vec<_> = batches
            .into_iter()
            .map(|rows| pb::ImportGraduateRosterRequest { rows })
            .collect();
        IngestServiceClient::new(self.channel.clone())
            .import_graduate_roster(with_key(tokio_stream::iter(requests), key))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn import_roster(
        &self,
        rows: Vec<pb::GraduateRosterRow>,
    ) -> pb::ImportGraduateRosterResponse {
        self.import_roster_with(&self.roster_key, vec![rows])
            .await
            .expect("importing succeeds")
    }

    pub fn stats(&self) -> StatisticsServiceClient<Channel> {
        StatisticsServiceClient::new(self.channel.clone())
    }

    /// Graduate outcomes seen with the bureau's EXACT key.
    pub async fn outcomes(
        &self,
        req: pb::GetGraduateOutcomesRequest,
    ) -> pb::GetGraduateOutcomesResponse {
        self.stats()
            .get_graduate_outcomes(with_key(req, &self.exact_key))
            .await
            .expect("outcomes")
            .into_inner()
    }

    /// Talents gathered seen with the bureau's EXACT key.
    pub async fn gathered(
        &self,
        req: pb::GetTalentGatheredRequest,
    ) -> pb::GetTalentGatheredResponse {
        self.stats()
            .get_talent_gathered(with_key(req, &self.exact_key))
            .await
            .expect("gathered")
            .into_inner()
    }

    /// Recruitment activity seen with the bureau's EXACT key.
    pub async fn activity(
        &self,
        req: pb::GetRecruitmentActivityRequest,
    ) -> pb::GetRecruitmentActivityResponse {
        self.stats()
            .get_recruitment_activity(with_key(req, &self.exact_key))
            .await
            .expect("activity")
            .into_inner()
    }
}

// ----- builders -----

pub fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

pub fn period(start: Date, end: Date) -> Option<talent_proto::talent::r#type::v1::Period> {
    Some(talent_proto::talent::r#type::v1::Period {
        start_date: Some(start),
        end_date: Some(end),
    })
}

/// Midday in the city of a date, as an instant.
pub fn at(d: Date) -> prost_types::Timestamp {
    use talent_codes::day::{DAY_MICROS, day_start};
    let day = talent_codes::check_date(Some(&d), 1..=9999).expect("a valid date");
    talent_codes::timestamp_of_micros(day_start(day) + DAY_MICROS / 2)
}

/// A person key for test person `n`.
pub fn person(n: u64) -> String {
    format!("{n:064x}")
}

/// A valid unified social credit code for test employer `n`.
pub fn employer(n: u32) -> String {
    talent_codes::credit_code::with_check_character(&format!("913702{n:011}"))
        .expect("seventeen digits")
}

static EVENT_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh event id.
pub fn event_id() -> String {
    let n = EVENT_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// An event with a fresh id around `payload`.
pub fn event(platform: &str, payload: Payload) -> ev::Event {
    let now = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let sequence = EVENT_COUNTER.load(Ordering::Relaxed);
    ev::Event {
        event_id: event_id(),
        source: "recruiting".into(),
        sequence,
        occurred_at: Some(now),
        recorded_at: Some(prost_types::Timestamp {
            seconds: now.seconds + i64::try_from(sequence).unwrap(),
            nanos: 0,
        }),
        platform_id: platform.into(),
        traceparent: String::new(),
        payload: Some(payload),
    }
}

/// A hire of `person` in `district` and `industry` from `start`.
pub fn hired(
    employment: &str,
    person: &str,
    district: &str,
    industry: &str,
    start: Date,
    platform: &str,
) -> ev::Event {
    event(
        platform,
        Payload::Hired(ev::Hired {
            employment: format!("platforms/{platform}/employments/{employment}"),
            person_key: person.into(),
            employer_credit_code: employer(1),
            workplace_district: district.into(),
            industry: industry.into(),
            start_date: Some(start),
            reporting_platform_id: platform.into(),
            ..Default::default()
        }),
    )
}

/// The end of an employment (first day no longer employed).
pub fn separated(
    employment: &str,
    person: &str,
    end: Date,
    platform: &str,
    revision: i64,
) -> ev::Event {
    event(
        platform,
        Payload::Separated(ev::Separated {
            employment: format!("platforms/{platform}/employments/{employment}"),
            person_key: person.into(),
            end_date: Some(end),
            revision,
        }),
    )
}

/// A résumé with consent and one education entry of `degree`.
pub fn resume(
    id: &str,
    person: &str,
    degree: i32,
    received: Date,
    platform: &str,
    revision: i64,
) -> ev::Event {
    event(
        platform,
        Payload::ResumeReceived(ev::ResumeReceived {
            resume: format!("platforms/{platform}/resumes/{id}"),
            revision,
            person_key: person.into(),
            first_received_at: Some(at(received)),
            statistical_use_consent: true,
            attributes: Some(ev::ResumeAttributes {
                education: vec![ev::EducationFacts {
                    degree_level: degree,
                    university_code: String::new(),
                    discipline: 0,
                    graduation_date: Some(date(2020, 7, 1)),
                }],
                professional_title_level: 0,
                vocational_skill_level: 0,
            }),
        }),
    )
}

/// A roster row with a person key.
pub fn roster_row(
    person: &str,
    university: &str,
    degree: i32,
    discipline: i32,
    graduated: Date,
) -> pb::GraduateRosterRow {
    pb::GraduateRosterRow {
        row_id: String::new(),
        person: Some(pb::graduate_roster_row::Person::PersonKey(person.into())),
        university_code: university.into(),
        university_name: format!("University {university}"),
        degree_level: degree,
        discipline,
        graduation_date: Some(graduated),
    }
}

/// Posting facts of one copy.
#[allow(clippy::too_many_arguments)]
pub fn posting(
    platform: &str,
    id: &str,
    revision: i64,
    opening: &str,
    employer_code: &str,
    district: &str,
    headcount: i32,
    published: prost_types::Timestamp,
) -> ev::Event {
    let facts = ev::PostingFacts {
        posting: format!("platforms/{platform}/postings/{id}"),
        revision,
        opening_id: opening.into(),
        employer_credit_code: employer_code.into(),
        workplace_district: district.into(),
        industry: "I".into(),
        headcount,
        publish_time: Some(published),
        expire_time: None,
        fair: String::new(),
    };
    let payload = if revision == 1 {
        Payload::PostingPublished(ev::PostingPublished { facts: Some(facts) })
    } else {
        Payload::PostingUpdated(ev::PostingUpdated { facts: Some(facts) })
    };
    event(platform, payload)
}

/// An opening id for test opening `n`.
pub fn opening(n: u32) -> String {
    format!("00000000-0000-4000-9000-{n:012x}")
}

/// A breakdown row's dimension value as text: the code, month or platform
/// id, or the enum number.
pub fn label(d: &pb::DimensionValue) -> String {
    use pb::dimension_value::Value;
    match d.value.as_ref().expect("a dimension value") {
        Value::District(s)
        | Value::Industry(s)
        | Value::PlatformId(s)
        | Value::Month(s)
        | Value::UniversityCode(s) => s.clone(),
        Value::Tier(i) | Value::DegreeLevel(i) | Value::Discipline(i) => i.to_string(),
    }
}

/// The value of a figure that must be exact (panics when unset or
/// perturbed).
pub fn value(c: &Option<pb::Count>) -> i64 {
    let c = c.as_ref().expect("the figure is set");
    assert!(!c.perturbed, "unexpectedly perturbed");
    c.value
}

// ----- google.rpc error details, decoded with local prost messages -----

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    field_violations: Vec<FieldViolation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FieldViolation {
    #[prost(string, tag = "1")]
    field: String,
    #[prost(string, tag = "2")]
    description: String,
}

/// The field paths of the `BadRequest` among `details`.
pub fn violated_fields(details: &[prost_types::Any]) -> Vec<String> {
    details
        .iter()
        .filter(|a| a.type_url.ends_with("google.rpc.BadRequest"))
        .flat_map(|a| {
            <BadRequest as prost::Message>::decode(a.value.as_slice())
                .expect("a BadRequest")
                .field_violations
        })
        .map(|v| v.field)
        .collect()
}

/// The field paths of an `INVALID_ARGUMENT` status.
pub fn status_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let rpc = <RpcStatus as prost::Message>::decode(status.details()).expect("google.rpc.Status");
    violated_fields(&rpc.details)
}

/// Issues a RELAY key through the metrics AdminService (as an operator
/// does for the relay).
pub async fn issue_relay_key(channel: Channel) -> String {
    let mut admin = AdminServiceClient::new(channel);
    admin
        .issue_key(with_key(
            pb::IssueKeyRequest {
                kind: pb::KeyKind::Relay as i32,
                display_name: "test relay".into(),
                ..Default::default()
            },
            ADMIN_KEY,
        ))
        .await
        .expect("issuing a relay key")
        .into_inner()
        .secret
}
