//! The gRPC services of `talent.recruiting.v1`, one module per service.
//! Handlers are thin: read the caller the authentication layer verified
//! ([`ACCESS`] says who may call what) → validate (field violations with full
//! paths) → call the store → map the result. Services not implemented yet
//! answer `UNIMPLEMENTED` through the generated default methods.

use std::sync::Arc;

use prost::Message as _;
use sha2::{Digest, Sha256};
use talent_server::{
    ApiError, FieldViolations,
    audit::{Audit, Fields},
};
use tonic::Status;

use crate::auth::{Caller, KeyKind};
use crate::store::{ItemError, ItemResult, RecruitingStore, StoreResult};
use crate::validate::now_micros;

mod admin;
mod applications;
mod employers;
mod employments;
pub mod entry_points;
mod fairs;
#[cfg(test)]
mod fuzz_tests;
mod postings;
mod resumes;

pub use admin::Admin;
pub use applications::Applications;
pub use employers::Employers;
pub use employments::Employments;
pub use fairs::Fairs;
pub use postings::Postings;
pub use resumes::Resumes;

/// What every handler shares: the store and the person key secret.
#[derive(Clone)]
pub struct Context<S> {
    pub store: S,
    /// The city secret of person keys.
    pub person_key_secret: Arc<[u8]>,
    /// Cancelled when the service begins to shut down.
    pub draining: talent_server::CancellationToken,
    /// Platform keys verified recently in this replica.
    pub keys: Arc<crate::auth::KeyCache>,
    /// The audit log in the service's database, for `ListAuditEvents`.
    pub audit: talent_server::audit::list::AuditEvents,
}

impl<S: RecruitingStore> Context<S> {
    /// Forgets every verified key, after keys were rotated or a platform
    /// disabled, so that the change holds in this replica at once.
    pub fn keys_changed(&self) {
        self.keys.invalidate();
    }
}

const ADMIN: &[KeyKind] = &[KeyKind::Admin];
const PLATFORM: &[KeyKind] = &[KeyKind::Platform];
const EITHER: &[KeyKind] = &[KeyKind::Platform, KeyKind::Admin];

/// Who may call each method. A method not listed here is refused to every
/// key (see [`talent_server::auth`]).
pub const ACCESS: &[(&str, &[KeyKind])] = &[
    (
        "/talent.recruiting.v1.ApplicationService/BatchCreateApplications",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/BatchUpdateApplicationStatus",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/BatchRecordSeparations",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.FairService/BatchCreateFairs",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.FairService/BatchRegisterParticipations",
        PLATFORM,
    ),
    ("/talent.recruiting.v1.AdminService/CreatePlatform", ADMIN),
    ("/talent.recruiting.v1.AdminService/ListPlatforms", ADMIN),
    ("/talent.recruiting.v1.AdminService/DisablePlatform", ADMIN),
    ("/talent.recruiting.v1.AdminService/IssueApiKey", ADMIN),
    ("/talent.recruiting.v1.AdminService/RotateApiKey", ADMIN),
    ("/talent.recruiting.v1.AdminService/ListAuditEvents", ADMIN),
    (
        "/talent.recruiting.v1.ApplicationService/CreateApplication",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/UpdateApplicationStatus",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/GetApplication",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/ListApplications",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.EmployerService/BatchUpsertEmployers",
        PLATFORM,
    ),
    // A platform reads the employers it upserted, seeing only whether
    // each field's value is its own; the admin, every employer and who
    // wrote what.
    ("/talent.recruiting.v1.EmployerService/GetEmployer", EITHER),
    (
        "/talent.recruiting.v1.EmployerService/ListEmployers",
        EITHER,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/RecordHire",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/BatchRecordHires",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/RecordSeparation",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/ListEmployments",
        PLATFORM,
    ),
    ("/talent.recruiting.v1.FairService/CreateFair", PLATFORM),
    (
        "/talent.recruiting.v1.FairService/RegisterParticipation",
        PLATFORM,
    ),
    ("/talent.recruiting.v1.FairService/GetFair", PLATFORM),
    ("/talent.recruiting.v1.FairService/ListFairs", PLATFORM),
    (
        "/talent.recruiting.v1.PostingService/UpsertPostings",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.PostingService/BatchUpsertPostings",
        PLATFORM,
    ),
    ("/talent.recruiting.v1.PostingService/GetPosting", PLATFORM),
    (
        "/talent.recruiting.v1.PostingService/ListPostings",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.PostingService/UpdatePosting",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.PostingService/ClosePosting",
        PLATFORM,
    ),
    (
        "/talent.recruiting.v1.ResumeService/UpsertResumes",
        PLATFORM,
    ),
    ("/talent.recruiting.v1.ResumeService/GetResume", PLATFORM),
    // A platform erases or exports what it holds of a person; the admin,
    // what every platform holds.
    ("/talent.recruiting.v1.ResumeService/ErasePerson", EITHER),
    ("/talent.recruiting.v1.ResumeService/ExportPerson", EITHER),
];

/// How each method's calls are audited (see [`talent_server::audit`]):
/// every admin action and erasure or export, whoever calls, and the admin
/// key's reads of employers. A method not listed here fails the unit test
/// below.
pub const AUDIT: &[(&str, Audit)] = &[
    (
        "/talent.recruiting.v1.AdminService/CreatePlatform",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.AdminService/ListPlatforms",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.AdminService/DisablePlatform",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.AdminService/IssueApiKey",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.AdminService/RotateApiKey",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.AdminService/ListAuditEvents",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.ResumeService/ErasePerson",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.ResumeService/ExportPerson",
        Audit::Recorded,
    ),
    (
        "/talent.recruiting.v1.EmployerService/GetEmployer",
        Audit::RecordedForAdmin,
    ),
    (
        "/talent.recruiting.v1.EmployerService/ListEmployers",
        Audit::RecordedForAdmin,
    ),
    (
        "/talent.recruiting.v1.EmployerService/BatchUpsertEmployers",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/CreateApplication",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/BatchCreateApplications",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/UpdateApplicationStatus",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/BatchUpdateApplicationStatus",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/GetApplication",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ApplicationService/ListApplications",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/RecordHire",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/BatchRecordHires",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/RecordSeparation",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/BatchRecordSeparations",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.EmploymentService/ListEmployments",
        Audit::No,
    ),
    ("/talent.recruiting.v1.FairService/CreateFair", Audit::No),
    (
        "/talent.recruiting.v1.FairService/BatchCreateFairs",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.FairService/RegisterParticipation",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.FairService/BatchRegisterParticipations",
        Audit::No,
    ),
    ("/talent.recruiting.v1.FairService/GetFair", Audit::No),
    ("/talent.recruiting.v1.FairService/ListFairs", Audit::No),
    (
        "/talent.recruiting.v1.PostingService/UpsertPostings",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.PostingService/BatchUpsertPostings",
        Audit::No,
    ),
    ("/talent.recruiting.v1.PostingService/GetPosting", Audit::No),
    (
        "/talent.recruiting.v1.PostingService/ListPostings",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.PostingService/UpdatePosting",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.PostingService/ClosePosting",
        Audit::No,
    ),
    (
        "/talent.recruiting.v1.ResumeService/UpsertResumes",
        Audit::No,
    ),
    ("/talent.recruiting.v1.ResumeService/GetResume", Audit::No),
];

/// Which fields of the audited requests are recorded and which identify
/// or describe a person (never recorded). Every field must be named here.
pub const AUDIT_FIELDS: &[Fields] = &[
    Fields::of(
        "talent.recruiting.v1.CreatePlatformRequest",
        &["platform_id", "platform", "request_id"],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.Platform",
        &[
            "name",
            "platform_id",
            "display_name",
            "state",
            "create_time",
            "disable_time",
        ],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.ListPlatformsRequest",
        &["page_size", "page_token", "show_disabled"],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.DisablePlatformRequest",
        &["name"],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.IssueApiKeyRequest",
        &["parent", "expire_time"],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.RotateApiKeyRequest",
        &["parent", "grace_period", "expire_time"],
        &[],
    ),
    Fields::of(
        "talent.recruiting.v1.ListAuditEventsRequest",
        &["page_size", "page_token", "start_time", "end_time", "key"],
        &[],
    ),
    // The reason is for the audit log, and by contract names no person.
    Fields::of(
        "talent.recruiting.v1.ErasePersonRequest",
        &["reason"],
        &["resident_id_number", "person_key"],
    ),
    Fields::of(
        "talent.recruiting.v1.ExportPersonRequest",
        &[],
        &["resident_id_number", "person_key"],
    ),
    Fields::of("talent.recruiting.v1.GetEmployerRequest", &["name"], &[]),
    Fields::of(
        "talent.recruiting.v1.ListEmployersRequest",
        &["page_size", "page_token", "district", "industry"],
        &[],
    ),
];

/// The verified caller of a request (put there by the authentication
/// layer).
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, ApiError> {
    talent_server::auth::caller(request.extensions())
}

/// The calling platform; the admin key is `PERMISSION_DENIED` here (the
/// layer already refuses it on platform methods).
pub fn platform<T>(request: &tonic::Request<T>) -> Result<String, ApiError> {
    match caller(request)? {
        Caller::Platform { platform, .. } => Ok(platform),
        Caller::Admin => Err(ApiError::PermissionDenied(
            "this method takes a platform API key, not the admin key".into(),
        )),
    }
}

/// One request message's items, validated, waiting for the store.
struct Prepared<I, R> {
    now: i64,
    /// One slot per item: the rejection of an invalid one, `None` for one
    /// the store decides.
    results: Vec<Option<R>>,
    valid: Vec<I>,
    /// The position of each of `valid` in the message.
    positions: Vec<usize>,
}

/// Stores the valid items of several messages with one call of `store`
/// (one store transaction), applied in message order as one batch (an
/// item repeated in a later message sees what the earlier one stored, as
/// it would in its own transaction after it); `answer` makes the result
/// of the item at a position of its message, with its external id, from
/// what the store decided. The results of each message, in order.
async fn store_group<I, S, R, Fut>(
    group: Vec<Prepared<I, R>>,
    external_id: impl Fn(&I) -> String,
    store: impl FnOnce(Vec<I>, i64) -> Fut,
    answer: impl Fn(usize, String, ItemResult<S>) -> R,
) -> Result<Vec<Vec<R>>, ApiError>
where
    Fut: std::future::Future<Output = StoreResult<Vec<ItemResult<S>>>>,
{
    let now = group.iter().map(|p| p.now).max().unwrap_or_else(now_micros);
    let mut valid = Vec::new();
    let mut messages = Vec::with_capacity(group.len());
    for prepared in group {
        valid.extend(prepared.valid);
        messages.push((prepared.results, prepared.positions));
    }
    let ids: Vec<String> = valid.iter().map(external_id).collect();
    let mut stored = if valid.is_empty() {
        Vec::new()
    } else {
        store(valid, now).await?
    }
    .into_iter()
    .zip(ids);
    let mut answers = Vec::with_capacity(messages.len());
    for (mut results, positions) in messages {
        for (index, (result, id)) in positions.into_iter().zip(stored.by_ref()) {
            results[index] = Some(answer(index, id, result));
        }
        answers.push(results.into_iter().flatten().collect());
    }
    Ok(answers)
}

/// Most items in one request of a unary batch method.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Serves a unary batch method whose items are checked and stored as the
/// single call would store them: `check` each item (field paths relative
/// to the item), `store` the valid ones with one store call (one
/// transaction), and answer each item in request order with `answer`
/// (its record, or its error with field paths from the request root,
/// `requests[3].end_date`). An empty or oversized request is
/// `INVALID_ARGUMENT` on `requests` (`what` names the items).
pub async fn serve_unary_batch<Item, In, Rec, Out, Fut>(
    items: Vec<Item>,
    what: &str,
    check: impl Fn(Item) -> Result<In, ApiError>,
    store: impl FnOnce(Vec<In>) -> Fut,
    answer: impl Fn(i32, Result<Rec, tonic_types::pb::Status>) -> Out,
) -> Result<Vec<Out>, Status>
where
    Fut: std::future::Future<Output = StoreResult<Vec<StoreResult<Rec>>>>,
{
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(Status::from(ApiError::invalid(
            "requests",
            format!("must hold 1 to 1,000 {what}"),
        )));
    }
    let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let mut results: Vec<Option<Out>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match check(item) {
            Ok(input) => {
                positions.push(i);
                valid.push(input);
                results.push(None);
            }
            Err(err) => results.push(Some(answer(index(i), Err(rpc_status(at_item(i, err)))))),
        }
    }
    if !valid.is_empty() {
        let stored = store(valid).await?;
        for (i, outcome) in positions.into_iter().zip(stored) {
            let outcome = outcome.map_err(|err| rpc_status(at_item(i, err.into())));
            results[i] = Some(answer(index(i), outcome));
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// `err` of item `index` of a batch request with its field paths from the
/// request root (`requests[3].` before each).
pub fn at_item(index: usize, err: ApiError) -> ApiError {
    match err {
        ApiError::InvalidArgument(violations) => {
            let mut prefixed = FieldViolations::new();
            for v in violations.iter() {
                prefixed.add(
                    format!("requests[{index}].{}", v.field),
                    v.description.clone(),
                );
            }
            ApiError::InvalidArgument(prefixed)
        }
        other => other,
    }
}

/// The `google.rpc.Status` of a rejected batch item, with field paths under
/// `prefix` (`postings[3]`).
pub fn item_status(prefix: &str, err: ItemError) -> tonic_types::pb::Status {
    let api = match err {
        ItemError::Invalid(problems) => {
            let mut violations = FieldViolations::new();
            for (field, description) in problems {
                violations.add(format!("{prefix}.{field}"), description);
            }
            ApiError::InvalidArgument(violations)
        }
        ItemError::FailedPrecondition(message) => ApiError::FailedPrecondition(message),
    };
    rpc_status(api)
}

/// A whole-item error as a `google.rpc.Status`, built by the one mapping of
/// errors to statuses so that batch results and call errors agree.
pub fn rpc_status(err: ApiError) -> tonic_types::pb::Status {
    let status: Status = err.into();
    tonic_types::pb::Status::decode(status.details())
        .ok()
        .filter(|s| s.code != 0)
        .unwrap_or_else(|| tonic_types::pb::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        })
}

/// Field violations of one item, prefixed into `ItemError` form.
pub fn violations_of(items: FieldViolations) -> ItemError {
    ItemError::Invalid(
        items
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect(),
    )
}

/// The platform id of `platforms/{id}`.
pub fn parse_platform_name(name: &str) -> Option<&str> {
    let id = name.strip_prefix("platforms/")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// `(platform, id)` of `platforms/{platform}/{collection}/{id}`.
pub fn parse_child_name<'a>(name: &'a str, collection: &str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix("platforms/")?;
    let (platform, rest) = rest.split_once('/')?;
    let id = rest.strip_prefix(collection)?.strip_prefix('/')?;
    (!platform.is_empty() && !id.is_empty() && !id.contains('/')).then_some((platform, id))
}

/// The id named by `name` when it is a child of the calling platform;
/// another platform's resource is `NOT_FOUND`, as if it did not exist.
pub fn own_child(
    name: &str,
    collection: &str,
    field: &str,
    platform: &str,
) -> Result<String, ApiError> {
    let Some((owner, id)) = parse_child_name(name, collection) else {
        return Err(ApiError::invalid(
            field,
            format!("must be a resource name platforms/{{platform}}/{collection}/{{id}}"),
        ));
    };
    if owner != platform {
        return Err(ApiError::NotFound(format!("{name} not found")));
    }
    Ok(id.to_owned())
}

/// Checks a `parent`: empty, `platforms/-` or the calling platform.
pub fn check_parent(parent: &str, platform: &str) -> Result<(), ApiError> {
    if parent.is_empty() || parent == "platforms/-" {
        return Ok(());
    }
    match parse_platform_name(parent) {
        Some(id) if id == platform => Ok(()),
        Some(_) => Err(ApiError::PermissionDenied(
            "a platform may only list its own resources".into(),
        )),
        None => Err(ApiError::invalid(
            "parent",
            "must be platforms/{platform} or platforms/-",
        )),
    }
}

pub use talent_server::paging::{page_token, read_page_token};

/// Checks an optional `request_id`: empty or a UUID.
pub fn request_id(value: &str, field: &str, violations: &mut FieldViolations) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    match uuid::Uuid::parse_str(value) {
        Ok(id) => Some(id.to_string()),
        Err(_) => {
            violations.add(field, "must be a UUID");
            None
        }
    }
}

/// A SHA-256 fingerprint of a request's canonical form, for request ids.
pub fn fingerprint(canonical: &impl std::fmt::Debug) -> Vec<u8> {
    Sha256::digest(format!("{canonical:?}")).to_vec()
}

#[cfg(test)]
mod tests {
    use talent_proto::talent::recruiting::v1 as pb;
    use talent_server::{auth::Access, methods::Methods};

    use super::{ACCESS, AUDIT, AUDIT_FIELDS};

    fn served() -> Methods {
        Methods::of(
            &[
                pb::admin_service_server::SERVICE_NAME,
                pb::application_service_server::SERVICE_NAME,
                pb::employer_service_server::SERVICE_NAME,
                pb::employment_service_server::SERVICE_NAME,
                pb::fair_service_server::SERVICE_NAME,
                pb::posting_service_server::SERVICE_NAME,
                pb::resume_service_server::SERVICE_NAME,
            ],
            &[talent_proto::FILE_DESCRIPTOR_SET],
        )
        .unwrap()
    }

    #[test]
    fn every_served_method_has_exactly_one_access_entry() {
        let served = served();
        assert_eq!(
            Access::new(ACCESS).mismatches(&served),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_served_method_is_declared_audited_or_not_and_every_audited_field_classified() {
        assert_eq!(
            talent_server::audit::mismatches(
                AUDIT,
                AUDIT_FIELDS,
                &served(),
                talent_proto::FILE_DESCRIPTOR_SET
            ),
            Vec::<String>::new()
        );
    }
}
