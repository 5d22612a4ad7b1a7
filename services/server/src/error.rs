//! The one place where errors become gRPC statuses.
//!
//! Domain code returns [`ApiError`]; handlers turn it into a
//! [`tonic::Status`] with `?`. Client errors carry `google.rpc` details
//! (`BadRequest` field violations, `ErrorInfo` reasons); an internal error is
//! logged with its cause chain and the caller only learns that it happened.

use tonic::{
    Code, Status,
    metadata::{MetadataMap, MetadataValue},
};
use tonic_types::{ErrorDetails, StatusExt};

use crate::db_error::{self, DbFault};

/// The error domain sent in `google.rpc.ErrorInfo`.
pub const ERROR_DOMAIN: &str = "talent.city";

/// A status travels in HTTP/2 trailers, whose size clients cap (8 KiB in
/// several gRPC implementations; a client past its cap drops the whole
/// connection). So a status names at most this many field violations, the
/// first ones found, and says how many there were ...
pub const MAX_VIOLATIONS: usize = 10;
/// ... each string of it (a message, a field path, a description) is cut
/// to at most this many bytes ...
const MAX_TEXT: usize = 160;
/// ... and its message, a summary of the violations, to at most this many.
const MAX_MESSAGE: usize = 512;

/// The size of `status` as HTTP/2 trailers, as a client counts it against
/// its header-list cap (each field's name and value, plus 32).
pub fn trailers_size(status: &Status) -> usize {
    status
        .clone()
        .into_http::<tonic::body::Body>()
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// `text` cut to at most `max` bytes at a character boundary, `…` marking
/// the cut.
fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// One invalid field: its path in the request (`postings[3].salary.max`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Collects the field violations of one request or one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is invalid because of `description`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was recorded, else `INVALID_ARGUMENT`.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self))
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument")]
    InvalidArgument(FieldViolations),
    /// A client error identified by a machine-readable reason
    /// (`REQUEST_ID_REUSED`), sent as `google.rpc.ErrorInfo`.
    #[error("{message}")]
    Reason {
        code: Code,
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    /// The database failed in a way that is no bug: unreachable, busy,
    /// full, corrupt, or a conflict retried until the service gave up
    /// ([`db_error`](crate::db_error)).
    #[error("database fault: {0:?}")]
    Database(DbFault),
    /// A bug or an unexpected failure of a dependency; never the caller's
    /// fault. The cause is logged, not sent.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// `INVALID_ARGUMENT` for one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        Self::InvalidArgument(violations)
    }
}

impl ApiError {
    /// Whether this is a transaction lost to a deadlock or a serialization
    /// failure, which may be run again ([`db_error::retry_conflicts`]).
    pub fn is_conflict(&self) -> bool {
        match self {
            ApiError::Database(fault) => *fault == DbFault::Conflict,
            ApiError::Internal(cause) => db_error::fault_in(cause) == Some(DbFault::Conflict),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// Storage faults and conflicts by their class; a constraint that
    /// reaches here was not mapped to a client mistake by the store, so it
    /// is a bug like every other error.
    fn from(err: sqlx::Error) -> Self {
        match db_error::classify(&err) {
            DbFault::Bug | DbFault::Constraint(_) => Self::Internal(err.into()),
            fault => {
                tracing::warn!(error = %err, ?fault, "database fault");
                Self::Database(fault)
            }
        }
    }
}

/// Marks a response whose call met a corrupt database, for the
/// [`RpcLayer`](crate::middleware::RpcLayer) to turn the service
/// NOT_SERVING; the layer removes it before the response leaves.
pub const CORRUPT_MARKER: &str = "x-talent-database-corrupt";

/// The status of a database fault: `UNAVAILABLE` with a retry delay for a
/// storage fault, with `DATABASE_CORRUPT` (and the marker) for corruption,
/// `ABORTED` for a conflict.
fn database_status(fault: DbFault) -> Status {
    match fault {
        DbFault::Unavailable { retry_after } => {
            let mut details = ErrorDetails::with_retry_info(Some(retry_after));
            details.set_error_info("DATABASE_UNAVAILABLE", ERROR_DOMAIN, []);
            Status::with_error_details(
                Code::Unavailable,
                "the database is unavailable; retry later",
                details,
            )
        }
        DbFault::Corrupt => {
            let mut metadata = MetadataMap::new();
            metadata.insert(CORRUPT_MARKER, MetadataValue::from_static("1"));
            Status::with_error_details_and_metadata(
                Code::Unavailable,
                "the database is damaged; an operator must restore it",
                ErrorDetails::with_error_info("DATABASE_CORRUPT", ERROR_DOMAIN, []),
                metadata,
            )
        }
        DbFault::Conflict => Status::with_error_details(
            Code::Aborted,
            "the transaction kept conflicting with others; retry it",
            ErrorDetails::with_error_info("TRANSACTION_CONFLICT", ERROR_DOMAIN, []),
        ),
        DbFault::Constraint(_) | DbFault::Bug => Status::internal("internal error"),
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                let mut summary = Vec::new();
                for v in violations.iter().take(MAX_VIOLATIONS) {
                    let field = bounded(v.field.clone(), MAX_TEXT);
                    let description = bounded(v.description.clone(), MAX_TEXT);
                    summary.push(format!("{field}: {description}"));
                    details.add_bad_request_violation(field, description);
                }
                let all = violations.iter().count();
                let mut message = summary.join("; ");
                if all > MAX_VIOLATIONS {
                    message =
                        format!("{all} fields are invalid, the first {MAX_VIOLATIONS}: {message}");
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    bounded(message, MAX_MESSAGE),
                    details,
                )
            }
            ApiError::Reason {
                code,
                reason,
                message,
            } => Status::with_error_details(
                code,
                bounded(message, MAX_MESSAGE),
                ErrorDetails::with_error_info(reason, ERROR_DOMAIN, []),
            ),
            ApiError::NotFound(m) => Status::not_found(bounded(m, MAX_MESSAGE)),
            ApiError::AlreadyExists(m) => Status::already_exists(bounded(m, MAX_MESSAGE)),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(bounded(m, MAX_MESSAGE)),
            ApiError::Unauthenticated(m) => Status::unauthenticated(bounded(m, MAX_MESSAGE)),
            ApiError::PermissionDenied(m) => Status::permission_denied(bounded(m, MAX_MESSAGE)),
            ApiError::ResourceExhausted(m) => Status::resource_exhausted(bounded(m, MAX_MESSAGE)),
            ApiError::Unavailable(m) => Status::unavailable(bounded(m, MAX_MESSAGE)),
            ApiError::Database(fault) => database_status(fault),
            ApiError::Internal(cause) if let Some(fault) = db_error::fault_in(&cause) => {
                tracing::warn!(error = format!("{cause:#}"), ?fault, "database fault");
                database_status(fault)
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_become_bad_request_details() {
        let mut v = FieldViolations::new();
        v.add("postings[3].salary.max", "must be at least salary.min");
        v.add("postings[3].headcount", "must be at least 1");
        let status: Status = v.into_result().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["postings[3].salary.max", "postings[3].headcount"]);
    }

    #[test]
    fn a_status_stays_small_whatever_the_request_did_wrong() {
        let mut v = FieldViolations::new();
        for i in 0..10_000 {
            v.add(
                format!("group_by[{i}]"),
                "dimension not offered by this method",
            );
        }
        v.add("filter.platform_ids[0]", "é".repeat(5_000));
        let status: Status = v.into_result().unwrap_err().into();
        let size = trailers_size(&status);
        assert!(size < 8 * 1024, "{size} bytes of trailers");
        assert!(
            status
                .message()
                .starts_with("10001 fields are invalid, the first 10:"),
            "{}",
            status.message()
        );
        let bad = status.get_details_bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        assert_eq!(bad.field_violations[0].field, "group_by[0]");

        let long: Status = ApiError::NotFound("ü".repeat(10_000)).into();
        assert!(long.message().len() <= MAX_MESSAGE);
        assert!(long.message().ends_with('…'));
    }

    #[test]
    fn reasons_become_error_info() {
        let status: Status = ApiError::Reason {
            code: Code::InvalidArgument,
            reason: "REQUEST_ID_REUSED",
            message: "request_id was used with another payload".into(),
        }
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "REQUEST_ID_REUSED"
        );
    }

    #[test]
    fn storage_faults_are_unavailable_with_a_retry_delay() {
        let status: Status = ApiError::from(sqlx::Error::PoolTimedOut).into();
        assert_eq!(status.code(), Code::Unavailable);
        let retry = status.get_details_retry_info().expect("RetryInfo detail");
        assert_eq!(retry.retry_delay, Some(db_error::RETRY_UNREACHABLE));
        assert!(status.metadata().get(CORRUPT_MARKER).is_none());
    }

    #[test]
    fn corruption_is_unavailable_and_marked() {
        let status: Status = ApiError::Database(DbFault::Corrupt).into();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "DATABASE_CORRUPT"
        );
        assert!(status.metadata().get(CORRUPT_MARKER).is_some());
    }

    #[test]
    fn conflicts_are_aborted_and_bugs_internal() {
        let status: Status = ApiError::Database(DbFault::Conflict).into();
        assert_eq!(status.code(), Code::Aborted);
        let status: Status = ApiError::from(sqlx::Error::RowNotFound).into();
        assert_eq!(status.code(), Code::Internal);
    }

    #[test]
    fn database_faults_inside_other_errors_are_found() {
        let wrapped = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("reading cells");
        let status: Status = ApiError::Internal(wrapped).into();
        assert_eq!(status.code(), Code::Unavailable);
        let wrapped = anyhow::Error::new(sqlx::Error::RowNotFound).context("reading cells");
        let status: Status = ApiError::Internal(wrapped).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(ApiError::Database(DbFault::Conflict).is_conflict());
        assert!(!ApiError::from(sqlx::Error::PoolTimedOut).is_conflict());
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status: Status = ApiError::Internal(anyhow::anyhow!("disk on fire at /secret")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
