//! The pure entry points of recruiting's RPCs: for each message a handler
//! checks, the function that turns it into the store's input or into
//! field violations, callable without a database. Property tests
//! (`api/fuzz_tests.rs`) and the fuzz targets (`fuzz/`) drive them through
//! [`ENTRY_POINTS`]; `tests/it/fuzz.rs` drives every RPC through the
//! running service.

use prost::Message;
use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{ApiError, FieldViolations};

use super::{applications, employers, employments, fairs, postings, resumes};

/// What an entry point made of a message: the input it became (its
/// `Debug` form), or the paths of its field violations (none when it was
/// refused whole for another reason: not found, permission).
pub type Checked = Result<String, Vec<String>>;

/// Decodes the message an entry point takes and checks it; `None` when
/// the bytes do not decode.
pub type EntryPoint = fn(&[u8]) -> Option<Checked>;

/// The instant and the platform the entry points check for.
const NOW: i64 = 1_764_900_000_000_000;
const PLATFORM: &str = "fz";
const SECRET: &[u8] = b"fuzz person key secret";

/// Every entry point, behind the full name of the message it checks.
pub const ENTRY_POINTS: &[(&str, EntryPoint)] = &[
    ("talent.recruiting.v1.Posting", |b| {
        item::<pb::Posting, _>(b, |p| postings::check_posting(PLATFORM, NOW, p))
    }),
    ("talent.recruiting.v1.Resume", |b| {
        item::<pb::Resume, _>(b, |r| resumes::resume_input(r, SECRET, NOW))
    }),
    ("talent.recruiting.v1.Employer", |b| {
        item::<pb::Employer, _>(b, employers::employer_input)
    }),
    ("talent.recruiting.v1.CreateApplicationRequest", |b| {
        call::<pb::CreateApplicationRequest, _>(b, |r| {
            applications::application_input(r, PLATFORM).map(|(input, _)| input)
        })
    }),
    ("talent.recruiting.v1.UpdateApplicationStatusRequest", |b| {
        // The change is stamped with the server's clock: only whether it
        // passes is comparable.
        call::<pb::UpdateApplicationStatusRequest, _>(b, |r| {
            applications::status_change(r, PLATFORM).map(|_| ())
        })
    }),
    ("talent.recruiting.v1.CreateFairRequest", |b| {
        call::<pb::CreateFairRequest, _>(b, |r| {
            fairs::fair_input(r.clone(), PLATFORM).map(|(input, _)| input)
        })
    }),
    ("talent.recruiting.v1.RegisterParticipationRequest", |b| {
        call::<pb::RegisterParticipationRequest, _>(b, |r| fairs::participation_input(r, PLATFORM))
    }),
    ("talent.recruiting.v1.RecordSeparationRequest", |b| {
        call::<pb::RecordSeparationRequest, _>(b, |r| employments::separation_input(r, PLATFORM))
    }),
];

/// A batch item's check, with paths relative to the item.
fn item<M: Message + Default, T: std::fmt::Debug>(
    bytes: &[u8],
    check: impl Fn(&M) -> Result<T, FieldViolations>,
) -> Option<Checked> {
    let message = M::decode(bytes).ok()?;
    Some(match check(&message) {
        Ok(input) => Ok(format!("{input:?}")),
        Err(v) => Err(paths(&v)),
    })
}

/// A whole request's check, with paths relative to the request.
fn call<M: Message + Default, T: std::fmt::Debug>(
    bytes: &[u8],
    check: impl Fn(&M) -> Result<T, ApiError>,
) -> Option<Checked> {
    let message = M::decode(bytes).ok()?;
    Some(match check(&message) {
        Ok(input) => Ok(format!("{input:?}")),
        Err(ApiError::InvalidArgument(v)) => Err(paths(&v)),
        Err(_) => Err(Vec::new()),
    })
}

fn paths(violations: &FieldViolations) -> Vec<String> {
    violations.iter().map(|v| v.field.clone()).collect()
}
