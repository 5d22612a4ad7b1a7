//! Storage of the recruiting service: [`RecruitingStore`], the sum of one
//! trait per aggregate ([`PlatformStore`], [`EmployerStore`],
//! [`PostingStore`], …), and its SQL implementation, written once for
//! SQLite and PostgreSQL ([`SqlStore`], one file per aggregate; what differs
//! by back end is [`RecruitingSql`]). Every method that changes something
//! writes its `talent.events.v1` events into the outbox in the same
//! transaction, so an event exists exactly when its change committed.
//!
//! The store speaks domain types (validated input, records); it knows
//! nothing of gRPC. Problems an item of a batch can have that only the
//! database can see (an unknown employer, a changed immutable field) come
//! back as [`ItemError`]s with field paths relative to the item.

use std::future::Future;

use talent_server::{ApiError, FieldViolations};

mod applications;
mod backend;
mod coalesce;
mod employers;
mod employments;
mod fairs;
mod idempotency;
mod openings;
mod outbox;
mod platforms;
mod posting_batch;
mod postings;
mod resumes;
mod sql;
mod types;

pub use backend::{POSTING_UPSERT_TAIL, RecruitingSql, pg_posting_insert};
pub use postings::POSTING_COLUMNS;
pub use sql::{PgStore, SqlStore, SqliteStore};
pub use types::*;

/// Why one item of a batch was rejected, without failing the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemError {
    /// Field violations, with paths relative to the item (`title`,
    /// `salary.max_cny`).
    Invalid(Vec<(String, String)>),
    /// The item is valid but its resource is in the wrong state.
    FailedPrecondition(String),
}

impl ItemError {
    pub fn field(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![(field.to_owned(), description.into())])
    }
}

/// The result of one item of a batch.
pub type ItemResult<T> = Result<T, ItemError>;

/// Failures of a store call as a whole.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("invalid argument")]
    Invalid(FieldViolations),
    #[error("request_id was already used with a different request")]
    RequestIdReused,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::AlreadyExists(m) => ApiError::AlreadyExists(m),
            StoreError::FailedPrecondition(m) => ApiError::FailedPrecondition(m),
            StoreError::Invalid(v) => ApiError::InvalidArgument(v),
            StoreError::RequestIdReused => ApiError::Reason {
                code: tonic::Code::InvalidArgument,
                reason: "REQUEST_ID_REUSED",
                message: "request_id was already used with a different request".into(),
            },
            StoreError::Database(e) => e.into(),
            StoreError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// Lets a handler answer a store error with `?`, through the one mapping
/// above and [`ApiError`]'s.
impl From<StoreError> for tonic::Status {
    fn from(err: StoreError) -> Self {
        ApiError::from(err).into()
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Splits the result of one item of a batch that runs in one transaction:
/// a failure of the item alone (checked before it writes anything) becomes
/// its result, leaving the others to be stored; a database or internal
/// failure fails the whole batch.
pub(crate) fn per_item<T>(result: StoreResult<T>) -> StoreResult<StoreResult<T>> {
    match result {
        Err(err @ (StoreError::Database(_) | StoreError::Internal(_))) => Err(err),
        other => Ok(other),
    }
}

/// The storage of the recruiting service: every aggregate's trait, one
/// implementation for both back ends ([`SqlStore`]).
pub trait RecruitingStore:
    PlatformStore
    + EmployerStore
    + PostingStore
    + ResumeStore
    + FairStore
    + EmploymentStore
    + ApplicationStore
    + Clone
    + Send
    + Sync
    + 'static
{
    /// Messages of an upsert stream stored together in one transaction at
    /// most (group commit, see `talent_server::group_commit`).
    fn stream_group(&self) -> usize {
        1
    }
}

/// Platforms and their API keys.
pub trait PlatformStore {
    /// Creates a platform; `ALREADY_EXISTS` when the id is taken. With a
    /// request id seen before: the platform, or `RequestIdReused`.
    fn create_platform(
        &self,
        platform: PlatformRecord,
        request_id: Option<RequestId>,
    ) -> impl Future<Output = StoreResult<PlatformRecord>> + Send;

    /// Platforms ordered by id, after `after`.
    fn list_platforms(
        &self,
        after: Option<String>,
        limit: i64,
        show_disabled: bool,
    ) -> impl Future<Output = StoreResult<Vec<PlatformRecord>>> + Send;

    /// Disables a platform (unchanged when disabled already).
    fn disable_platform(
        &self,
        id: String,
        now: i64,
    ) -> impl Future<Output = StoreResult<PlatformRecord>> + Send;

    /// Stores a new key. With `rotate_expire_at`, every other active key of
    /// the platform expires at that instant (or keeps an earlier expiry) and
    /// is returned; without it, a sixth active key is refused.
    fn issue_api_key(
        &self,
        key: NewApiKey,
        now: i64,
        rotate_expire_at: Option<i64>,
    ) -> impl Future<Output = StoreResult<(ApiKeyRecord, Vec<ApiKeyRecord>)>> + Send;

    /// The platform owning an unexpired key with this hash.
    fn authenticate(
        &self,
        key_hash: Vec<u8>,
        now: i64,
    ) -> impl Future<Output = StoreResult<KeyOwner>> + Send;
}

/// Employers, shared by every platform; each field keeps the platform that last wrote it.
pub trait EmployerStore {
    fn upsert_employers(
        &self,
        platform: String,
        items: Vec<EmployerInput>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<ItemResult<Outcome>>>> + Send;

    /// An employer the platform has upserted (None: any employer, for the
    /// admin key).
    fn get_employer(
        &self,
        platform: Option<String>,
        credit_code: String,
    ) -> impl Future<Output = StoreResult<Option<EmployerRecord>>> + Send;

    /// The platform's employers (None: every employer) ordered by credit
    /// code, after `after`.
    fn list_employers(
        &self,
        platform: Option<String>,
        filter: EmployerFilter,
        after: Option<String>,
        limit: i64,
    ) -> impl Future<Output = StoreResult<Vec<EmployerRecord>>> + Send;
}

/// Postings, and the openings they are matched to.
pub trait PostingStore {
    /// Upserts postings in one transaction, one result per item in order.
    fn upsert_postings(
        &self,
        platform: String,
        items: Vec<PostingInput>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<ItemResult<PostingSummary>>>> + Send;

    fn get_posting(
        &self,
        platform: String,
        external_id: String,
    ) -> impl Future<Output = StoreResult<Option<PostingRecord>>> + Send;

    /// The platform's postings ordered by (update time, external id), after
    /// the cursor.
    fn list_postings(
        &self,
        platform: String,
        filter: PostingFilter,
        after: Option<(i64, String)>,
        limit: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<PostingRecord>>> + Send;

    /// Applies a field-mask update; `NOT_FOUND`, `FAILED_PRECONDITION` for
    /// a closed posting, field violations relative to `posting`.
    fn update_posting(
        &self,
        platform: String,
        external_id: String,
        patch: PostingPatch,
        now: i64,
    ) -> impl Future<Output = StoreResult<PostingRecord>> + Send;

    /// Closes an open posting at `close_at` (default `now`); a closed or
    /// expired posting is returned unchanged.
    fn close_posting(
        &self,
        platform: String,
        external_id: String,
        close_at: Option<i64>,
        now: i64,
    ) -> impl Future<Output = StoreResult<PostingRecord>> + Send;

    /// Records every open posting whose expiry has passed as EXPIRED, with
    /// its `PostingClosed` event. Returns how many it expired.
    fn expire_postings(&self, now: i64) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Derives again the openings of every match key queued in
    /// `openings_to_regroup` (by the migration that brought the current
    /// rule, for a database written before it), with a `PostingUpdated`
    /// for each posting whose opening moves, and empties the queue. Returns
    /// how many moved; idempotent, and one empty read once nothing is left.
    fn regroup_legacy_openings(&self, now: i64) -> impl Future<Output = StoreResult<usize>> + Send;
}

/// Résumés and the persons they belong to.
pub trait ResumeStore {
    /// Upserts résumés in one transaction, one result per item in order.
    fn upsert_resumes(
        &self,
        platform: String,
        items: Vec<ResumeInput>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<ItemResult<ResumeSummary>>>> + Send;

    fn get_resume(
        &self,
        platform: String,
        external_id: String,
    ) -> impl Future<Output = StoreResult<Option<ResumeRecord>>> + Send;

    /// Deletes the personal fields and free text of every résumé of the
    /// person (both live only in the sealed `pii`) and emits
    /// `PersonErased` when anything was erased. Returns how many of
    /// `platform`'s résumés this call erased (all platforms' for None).
    fn erase_person(
        &self,
        platform: Option<String>,
        person_key: String,
        now: i64,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    /// The person's résumés, of one platform or (None) of all.
    fn person_resumes(
        &self,
        platform: Option<String>,
        person_key: String,
    ) -> impl Future<Output = StoreResult<Vec<ResumeRecord>>> + Send;

    /// Seals the free text of résumés written before it was sealed (still
    /// in the clear in `attributes`) with their personal fields, and drops
    /// it from erased ones. Returns how many résumés it rewrote;
    /// idempotent, and cheap once nothing is left.
    fn seal_legacy_free_text(&self) -> impl Future<Output = StoreResult<usize>> + Send;
}

/// Job fairs and the employers registered in them.
pub trait FairStore {
    /// Creates a fair (`ALREADY_EXISTS` for a taken id) and emits
    /// `FairHeld`; idempotent with a request id.
    fn create_fair(
        &self,
        platform: String,
        fair: FairInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> impl Future<Output = StoreResult<FairRecord>> + Send;

    /// Creates fairs in one transaction, in order, one result per fair: one
    /// that fails (as `create_fair` would) leaves the others created.
    fn create_fairs(
        &self,
        platform: String,
        fairs: Vec<(FairInput, Option<RequestId>)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<FairRecord>>>> + Send;

    /// Registers an employer in a fair of the platform; returns when it
    /// registered and whether this call did.
    fn register_participation(
        &self,
        platform: String,
        fair_id: String,
        employer_code: String,
        now: i64,
    ) -> impl Future<Output = StoreResult<(i64, bool)>> + Send;

    /// Registers `(fair id, employer code)` participations in one
    /// transaction, in order, one result per participation (the employer
    /// code, when it registered, whether this item did): one that fails
    /// leaves the others registered.
    fn register_participations(
        &self,
        platform: String,
        participations: Vec<(String, String)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<(String, i64, bool)>>>> + Send;

    fn get_fair(
        &self,
        platform: String,
        fair_id: String,
    ) -> impl Future<Output = StoreResult<Option<FairRecord>>> + Send;

    /// The platform's fairs starting in `[from, before)`, ordered by
    /// (start, id), after the cursor.
    fn list_fairs(
        &self,
        platform: String,
        from: Option<i64>,
        before: Option<i64>,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> impl Future<Output = StoreResult<Vec<FairRecord>>> + Send;
}

/// Employments: hires and separations.
pub trait EmploymentStore {
    /// Records a hire and emits `Hired`; idempotent with a request id.
    /// Field violations are relative to the request.
    fn record_hire(
        &self,
        platform: String,
        hire: HireInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> impl Future<Output = StoreResult<EmploymentRecord>> + Send;

    /// Records hires in one transaction, one result per hire in order: a
    /// hire that fails (field violations relative to the hire, a reused
    /// request id) leaves the others to be recorded. `record_hire` is this
    /// with one hire.
    fn record_hires(
        &self,
        platform: String,
        hires: Vec<(HireInput, Option<RequestId>)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<EmploymentRecord>>>> + Send;

    /// Ends (or corrects the end of) an employment and emits `Separated`;
    /// the same end date again changes nothing.
    fn record_separation(
        &self,
        platform: String,
        employment_id: String,
        end: Day,
        now: i64,
    ) -> impl Future<Output = StoreResult<EmploymentRecord>> + Send;

    /// Records separations in one transaction, in order, one result per
    /// separation: one that fails leaves the others recorded.
    fn record_separations(
        &self,
        platform: String,
        separations: Vec<(String, Day)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<EmploymentRecord>>>> + Send;

    /// The platform's employments ordered by (start date, id), after the
    /// cursor.
    fn list_employments(
        &self,
        platform: String,
        filter: EmploymentFilter,
        after: Option<(String, String)>,
        limit: i64,
    ) -> impl Future<Output = StoreResult<Vec<EmploymentRecord>>> + Send;
}

/// Applications and their states.
pub trait ApplicationStore {
    /// Creates an application in SUBMITTED and emits
    /// `ApplicationSubmitted`; idempotent with a request id.
    fn create_application(
        &self,
        platform: String,
        input: ApplicationInput,
        request_id: Option<RequestId>,
        now: i64,
    ) -> impl Future<Output = StoreResult<ApplicationRecord>> + Send;

    /// Creates applications in one transaction, in order, one result per
    /// application: one that fails (as `create_application` would) leaves
    /// the others to be created.
    fn create_applications(
        &self,
        platform: String,
        inputs: Vec<(ApplicationInput, Option<RequestId>)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<ApplicationRecord>>>> + Send;

    /// Moves an application along the state machine; HIRED records the
    /// employment and emits `Hired`.
    fn update_application_status(
        &self,
        platform: String,
        application_id: String,
        change: StatusChange,
        now: i64,
    ) -> impl Future<Output = StoreResult<ApplicationRecord>> + Send;

    /// Applies status changes in one transaction, in order (a later change
    /// of the same application sees the earlier one), one result per
    /// change: one that fails leaves the others applied.
    fn update_application_statuses(
        &self,
        platform: String,
        changes: Vec<(String, StatusChange)>,
        now: i64,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<ApplicationRecord>>>> + Send;

    fn get_application(
        &self,
        platform: String,
        application_id: String,
    ) -> impl Future<Output = StoreResult<Option<ApplicationRecord>>> + Send;

    /// The platform's applications ordered by (create time, id), after the
    /// cursor.
    fn list_applications(
        &self,
        platform: String,
        filter: ApplicationFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> impl Future<Output = StoreResult<Vec<ApplicationRecord>>> + Send;

    /// The applications made with the person's résumés and the person's
    /// employments, of one platform or (None) of all.
    fn person_records(
        &self,
        platform: Option<String>,
        person_key: String,
    ) -> impl Future<Output = StoreResult<(Vec<ApplicationRecord>, Vec<EmploymentRecord>)>> + Send;
}
