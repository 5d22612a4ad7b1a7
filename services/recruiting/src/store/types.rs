//! The domain types of the recruiting store: what callers give it and what
//! it returns, with the few rules that belong to the values themselves.

use std::collections::BTreeMap;

/// What an upsert did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// An idempotency key with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    pub fingerprint: Vec<u8>,
}

/// A platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRecord {
    pub id: String,
    pub display_name: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// The metadata of an API key (the secret is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub platform_id: String,
    pub secret_prefix: String,
    pub created_at: i64,
    pub expire_at: Option<i64>,
}

/// A new API key: its id, the SHA-256 of its secret, the secret's first
/// characters and when it stops working (none: never).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub platform_id: String,
    pub key_hash: Vec<u8>,
    pub secret_prefix: String,
    pub expire_at: Option<i64>,
}

/// Who an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    /// An active platform's key, valid until `expire_at` (None: no expiry).
    Active {
        platform: String,
        /// The key's id.
        key: String,
        expire_at: Option<i64>,
    },
    Disabled(String),
    Unknown,
}

/// One employer of an upsert; `None` fields keep the stored value.
#[derive(Debug, Clone)]
pub struct EmployerInput {
    pub credit_code: String,
    pub display_name: Option<String>,
    pub district: Option<String>,
    pub industry: Option<String>,
    pub size: Option<i32>,
}

/// Which platform wrote a field, and when.
pub type FieldSources = BTreeMap<String, (String, i64)>;

/// An employer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmployerRecord {
    pub credit_code: String,
    pub display_name: String,
    pub district: String,
    pub industry: String,
    pub size: i32,
    pub field_sources: FieldSources,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Filters of `ListEmployers`.
#[derive(Debug, Clone, Default)]
pub struct EmployerFilter {
    pub district_prefix: Option<String>,
    pub industry_prefix: Option<String>,
}

pub use crate::domain::postings::{DEFAULT_POSTING_LIFETIME_MICROS, MAX_POSTING_LIFETIME_MICROS};

/// A posting's stored input fields, every default resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostingFields {
    pub title: String,
    /// The normalised title of the opening match.
    pub title_key: String,
    pub description: String,
    pub employer_code: String,
    pub district: String,
    pub industry: String,
    pub occupation: String,
    pub min_degree: i32,
    pub experience_years: i32,
    pub salary: Option<(i32, i32)>,
    pub headcount: i32,
    pub employment_type: i32,
    pub publish_at: i64,
    pub expire_at: i64,
    pub fair_id: Option<String>,
    pub tags: Vec<String>,
}

/// One posting of an upsert, validated; `None` means "the documented
/// default", which the store resolves (the employer's district and
/// industry, the stored publish time, 30 days of lifetime).
#[derive(Debug, Clone)]
pub struct PostingInput {
    pub external_id: String,
    pub title: String,
    pub description: String,
    pub employer_code: String,
    pub district: Option<String>,
    pub industry: Option<String>,
    pub occupation: String,
    pub min_degree: i32,
    pub experience_years: i32,
    pub salary: Option<(i32, i32)>,
    pub headcount: i32,
    pub employment_type: i32,
    pub publish_at: Option<i64>,
    pub expire_at: Option<i64>,
    pub fair_id: Option<String>,
    pub tags: Vec<String>,
}

/// The fields an `UpdatePosting` changes: `Some` for each path of the mask,
/// holding the new value (`None` inside: the documented default).
#[derive(Debug, Clone, Default)]
pub struct PostingPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub district: Option<Option<String>>,
    pub industry: Option<Option<String>>,
    pub occupation: Option<String>,
    pub min_degree: Option<i32>,
    pub experience_years: Option<i32>,
    pub salary: Option<Option<(i32, i32)>>,
    pub headcount: Option<i32>,
    pub employment_type: Option<i32>,
    pub expire_at: Option<Option<i64>>,
    pub fair_id: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

impl PostingPatch {
    /// The upsert input equivalent to applying this patch to `current`.
    pub fn apply(self, external_id: &str, current: &PostingFields) -> PostingInput {
        PostingInput {
            external_id: external_id.to_owned(),
            title: self.title.unwrap_or_else(|| current.title.clone()),
            description: self
                .description
                .unwrap_or_else(|| current.description.clone()),
            employer_code: current.employer_code.clone(),
            district: self
                .district
                .unwrap_or_else(|| Some(current.district.clone())),
            industry: self
                .industry
                .unwrap_or_else(|| Some(current.industry.clone())),
            occupation: self
                .occupation
                .unwrap_or_else(|| current.occupation.clone()),
            min_degree: self.min_degree.unwrap_or(current.min_degree),
            experience_years: self.experience_years.unwrap_or(current.experience_years),
            salary: self.salary.unwrap_or(current.salary),
            headcount: self.headcount.unwrap_or(current.headcount),
            employment_type: self.employment_type.unwrap_or(current.employment_type),
            publish_at: Some(current.publish_at),
            expire_at: self.expire_at.unwrap_or(Some(current.expire_at)),
            fair_id: self.fair_id.unwrap_or_else(|| current.fair_id.clone()),
            tags: self.tags.unwrap_or_else(|| current.tags.clone()),
        }
    }
}

/// Why a posting is no longer open, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Open = 0,
    Closed = 1,
    Expired = 2,
}

impl CloseReason {
    pub fn from_i64(value: i64) -> Self {
        match value {
            1 => Self::Closed,
            2 => Self::Expired,
            _ => Self::Open,
        }
    }
}

/// The state of a posting as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostingState {
    Open,
    Closed,
    Expired,
}

/// A posting as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRecord {
    pub platform_id: String,
    pub external_id: String,
    pub fields: PostingFields,
    pub close_reason: CloseReason,
    pub closed_at: Option<i64>,
    pub opening_id: String,
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PostingRecord {
    /// The state at `now`: a posting whose expiry passed is EXPIRED even
    /// before the expiry sweep has recorded it.
    pub fn state(&self, now: i64) -> PostingState {
        match self.close_reason {
            CloseReason::Closed => PostingState::Closed,
            CloseReason::Expired => PostingState::Expired,
            CloseReason::Open if self.fields.expire_at <= now => PostingState::Expired,
            CloseReason::Open => PostingState::Open,
        }
    }

    /// When the posting stopped being open, if it has.
    pub fn close_time(&self, now: i64) -> Option<i64> {
        match self.state(now) {
            PostingState::Open => None,
            PostingState::Closed => self.closed_at,
            PostingState::Expired => self.closed_at.or(Some(self.fields.expire_at)),
        }
    }

    pub fn name(&self) -> String {
        posting_name(&self.platform_id, &self.external_id)
    }
}

/// A new id for a record or an event this service assigns: a UUIDv7, whose
/// leading bits are the time. Ids minted in time order land at the right
/// edge of the indexes that key them (the outbox's, an employment's
/// primary key, metrics' ledger of applied events) instead of on a random
/// page of an ever larger index.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn posting_name(platform: &str, external_id: &str) -> String {
    format!("platforms/{platform}/postings/{external_id}")
}

pub fn fair_name(platform: &str, fair_id: &str) -> String {
    format!("platforms/{platform}/fairs/{fair_id}")
}

/// The result of upserting one posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingSummary {
    pub outcome: Outcome,
    pub opening_id: String,
}

/// Filters of `ListPostings`.
#[derive(Debug, Clone, Default)]
pub struct PostingFilter {
    pub state: Option<PostingState>,
    pub district_prefix: Option<String>,
    pub industry_prefix: Option<String>,
    pub employer_code: Option<String>,
    pub fair_id: Option<String>,
    pub updated_since: Option<i64>,
}

/// One education entry of a résumé.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Education {
    pub degree_level: i32,
    pub university_code: String,
    /// Free text: stored sealed (`pii::FreeText`), not in `attributes`.
    #[serde(default)]
    pub university_name: String,
    pub discipline: i32,
    /// Free text, as `university_name`.
    #[serde(default)]
    pub major: String,
    /// Graduation date as (year, month, day).
    pub graduation: (i32, i32, i32),
}

/// The non-identifying fields of a résumé: the statistical attributes
/// and the free text (which is stored sealed with the personal fields).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ResumeAttributes {
    pub education: Vec<Education>,
    pub title_level: i32,
    pub skill_level: i32,
    /// Free text, as `Education::university_name`.
    #[serde(default)]
    pub desired_districts: Vec<String>,
    /// Free text, as `Education::university_name`.
    #[serde(default)]
    pub desired_industries: Vec<String>,
}

impl ResumeAttributes {
    /// Whether the statistical attributes (what `ResumeReceived` carries)
    /// differ.
    pub fn statistics_differ(&self, other: &Self) -> bool {
        let facts = |a: &Self| {
            (
                a.education
                    .iter()
                    .map(|e| {
                        (
                            e.degree_level,
                            e.university_code.clone(),
                            e.discipline,
                            e.graduation,
                        )
                    })
                    .collect::<Vec<_>>(),
                a.title_level,
                a.skill_level,
            )
        };
        facts(self) != facts(other)
    }
}

/// One résumé of an upsert, validated and normalised.
#[derive(Debug, Clone)]
pub struct ResumeInput {
    pub external_id: String,
    pub person_key: String,
    pub personal: crate::pii::Personal,
    pub attributes: ResumeAttributes,
    pub consent: bool,
    pub consent_at: Option<i64>,
    /// When the platform received the résumé (backfills); None: now. Only
    /// the first push sets it.
    pub received_at: Option<i64>,
}

/// A résumé as stored, its personal fields decrypted (None once erased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRecord {
    pub platform_id: String,
    pub external_id: String,
    pub person_key: String,
    pub personal: Option<crate::pii::Personal>,
    pub attributes: ResumeAttributes,
    pub consent: bool,
    pub consent_at: i64,
    pub erased_at: Option<i64>,
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ResumeRecord {
    pub fn name(&self) -> String {
        resume_name(&self.platform_id, &self.external_id)
    }
}

pub fn resume_name(platform: &str, external_id: &str) -> String {
    format!("platforms/{platform}/resumes/{external_id}")
}

/// The result of upserting one résumé.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeSummary {
    pub outcome: Outcome,
    pub person_key: String,
}

/// A calendar date (year, month, day), validated.
pub type Day = (i32, i32, i32);

/// `YYYY-MM-DD`, which sorts as the dates do.
pub fn day_text((y, m, d): Day) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// The inverse of [`day_text`].
pub fn parse_day(text: &str) -> Option<Day> {
    let mut parts = text.splitn(3, '-').map(str::parse::<i32>);
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    ))
}

/// A new fair.
#[derive(Debug, Clone)]
pub struct FairInput {
    pub fair_id: String,
    pub display_name: String,
    pub format: i32,
    pub start_at: i64,
    pub end_at: i64,
    pub district: String,
}

/// A fair as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairRecord {
    pub platform_id: String,
    pub fair_id: String,
    pub display_name: String,
    pub format: i32,
    pub start_at: i64,
    pub end_at: i64,
    pub district: String,
    pub created_at: i64,
    pub participation_count: i64,
}

/// Who was hired.
#[derive(Debug, Clone)]
pub enum HirePerson {
    /// A résumé of the calling platform (its external id).
    Resume(String),
    /// A person key derived from a resident ID number.
    PersonKey(String),
}

/// A hire to record; `None` district and industry default to the
/// posting's, else the employer's.
#[derive(Debug, Clone)]
pub struct HireInput {
    pub person: HirePerson,
    pub employer_code: String,
    pub district: Option<String>,
    pub industry: Option<String>,
    pub start: Day,
    pub posting_id: Option<String>,
}

/// An employment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmploymentRecord {
    pub platform_id: String,
    pub employment_id: String,
    pub resume_id: Option<String>,
    pub person_key: String,
    pub employer_code: String,
    pub district: String,
    pub industry: String,
    pub start: Day,
    pub end: Option<Day>,
    pub posting_id: Option<String>,
    pub application_id: Option<String>,
    pub separation_revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl EmploymentRecord {
    pub fn name(&self) -> String {
        format!(
            "platforms/{}/employments/{}",
            self.platform_id, self.employment_id
        )
    }
}

/// Filters of `ListEmployments`.
#[derive(Debug, Clone, Default)]
pub struct EmploymentFilter {
    pub employer_code: Option<String>,
    pub person_key: Option<String>,
    pub active_on: Option<Day>,
}

/// Application states (`talent.recruiting.v1.ApplicationState`).
pub use crate::domain::applications::app_state;

/// A new application.
#[derive(Debug, Clone)]
pub struct ApplicationInput {
    pub application_id: String,
    pub resume_id: String,
    pub posting_id: String,
    pub fair_id: Option<String>,
    pub submit_at: Option<i64>,
}

/// One move of an application: (from, to, time, reason).
pub type Transition = (i32, i32, i64, String);

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub platform_id: String,
    pub application_id: String,
    pub resume_id: String,
    pub posting_id: String,
    pub fair_id: Option<String>,
    pub state: i32,
    pub history: Vec<Transition>,
    pub submit_at: i64,
    pub employment_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The employment details of a move to HIRED.
#[derive(Debug, Clone)]
pub struct HireDetails {
    pub start: Day,
    pub district: Option<String>,
    pub industry: Option<String>,
}

/// A requested state change.
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub to: i32,
    pub at: Option<i64>,
    pub reason: String,
    pub hire: Option<HireDetails>,
}

/// Filters of `ListApplications`.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub posting_id: Option<String>,
    pub resume_id: Option<String>,
    pub state: Option<i32>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_ids_sort_in_the_order_they_were_minted() {
        // Outbox rows, employments and applied-event rows go to the end of
        // their unique index only while ids minted later sort later, as
        // text, even within one millisecond.
        let ids: Vec<String> = (0..10_000).map(|_| super::new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
    }
}
