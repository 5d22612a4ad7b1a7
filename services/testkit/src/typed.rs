//! The generated (prost) type of every request message, behind its full
//! name, so a test or fuzz target can decode bytes exactly as a server's
//! codec does.

use prost::Message;
use talent_proto::talent::{metrics::v1 as metrics, recruiting::v1 as recruiting};

/// Decodes `bytes` as a message of the type and encodes it again.
pub type RoundTrip = fn(&[u8]) -> Result<Vec<u8>, prost::DecodeError>;

fn round_trip_as<M: Message + Default>(bytes: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
    M::decode(bytes).map(|m| m.encode_to_vec())
}

/// `bytes` decoded as the request message `full_name` and encoded again;
/// `None` for a name that is not a request message of either service.
pub fn round_trip(full_name: &str, bytes: &[u8]) -> Option<Result<Vec<u8>, prost::DecodeError>> {
    TYPED
        .iter()
        .find(|(name, _)| *name == full_name)
        .map(|(_, round_trip)| round_trip(bytes))
}

/// Every request message of both services' RPCs, by full name.
pub const TYPED: &[(&str, RoundTrip)] = &[
    (
        "talent.metrics.v1.GetGraduateOutcomesRequest",
        round_trip_as::<metrics::GetGraduateOutcomesRequest>,
    ),
    (
        "talent.metrics.v1.GetPeriodReportRequest",
        round_trip_as::<metrics::GetPeriodReportRequest>,
    ),
    (
        "talent.metrics.v1.GetRecruitmentActivityRequest",
        round_trip_as::<metrics::GetRecruitmentActivityRequest>,
    ),
    (
        "talent.metrics.v1.GetTalentGatheredRequest",
        round_trip_as::<metrics::GetTalentGatheredRequest>,
    ),
    (
        "talent.metrics.v1.ImportGraduateRosterRequest",
        round_trip_as::<metrics::ImportGraduateRosterRequest>,
    ),
    (
        "talent.metrics.v1.IssueKeyRequest",
        round_trip_as::<metrics::IssueKeyRequest>,
    ),
    (
        "talent.metrics.v1.ListKeysRequest",
        round_trip_as::<metrics::ListKeysRequest>,
    ),
    (
        "talent.metrics.v1.PublishEventsRequest",
        round_trip_as::<metrics::PublishEventsRequest>,
    ),
    (
        "talent.metrics.v1.RevokeKeyRequest",
        round_trip_as::<metrics::RevokeKeyRequest>,
    ),
    (
        "talent.recruiting.v1.BatchCreateApplicationsRequest",
        round_trip_as::<recruiting::BatchCreateApplicationsRequest>,
    ),
    (
        "talent.recruiting.v1.BatchCreateFairsRequest",
        round_trip_as::<recruiting::BatchCreateFairsRequest>,
    ),
    (
        "talent.recruiting.v1.BatchRecordHiresRequest",
        round_trip_as::<recruiting::BatchRecordHiresRequest>,
    ),
    (
        "talent.recruiting.v1.BatchRecordSeparationsRequest",
        round_trip_as::<recruiting::BatchRecordSeparationsRequest>,
    ),
    (
        "talent.recruiting.v1.BatchRegisterParticipationsRequest",
        round_trip_as::<recruiting::BatchRegisterParticipationsRequest>,
    ),
    (
        "talent.recruiting.v1.BatchUpdateApplicationStatusRequest",
        round_trip_as::<recruiting::BatchUpdateApplicationStatusRequest>,
    ),
    (
        "talent.recruiting.v1.BatchUpsertEmployersRequest",
        round_trip_as::<recruiting::BatchUpsertEmployersRequest>,
    ),
    (
        "talent.recruiting.v1.BatchUpsertPostingsRequest",
        round_trip_as::<recruiting::BatchUpsertPostingsRequest>,
    ),
    (
        "talent.recruiting.v1.ClosePostingRequest",
        round_trip_as::<recruiting::ClosePostingRequest>,
    ),
    (
        "talent.recruiting.v1.CreateApplicationRequest",
        round_trip_as::<recruiting::CreateApplicationRequest>,
    ),
    (
        "talent.recruiting.v1.CreateFairRequest",
        round_trip_as::<recruiting::CreateFairRequest>,
    ),
    (
        "talent.recruiting.v1.CreatePlatformRequest",
        round_trip_as::<recruiting::CreatePlatformRequest>,
    ),
    (
        "talent.recruiting.v1.DisablePlatformRequest",
        round_trip_as::<recruiting::DisablePlatformRequest>,
    ),
    (
        "talent.recruiting.v1.ErasePersonRequest",
        round_trip_as::<recruiting::ErasePersonRequest>,
    ),
    (
        "talent.recruiting.v1.ExportPersonRequest",
        round_trip_as::<recruiting::ExportPersonRequest>,
    ),
    (
        "talent.recruiting.v1.GetApplicationRequest",
        round_trip_as::<recruiting::GetApplicationRequest>,
    ),
    (
        "talent.recruiting.v1.GetEmployerRequest",
        round_trip_as::<recruiting::GetEmployerRequest>,
    ),
    (
        "talent.recruiting.v1.GetFairRequest",
        round_trip_as::<recruiting::GetFairRequest>,
    ),
    (
        "talent.recruiting.v1.GetPostingRequest",
        round_trip_as::<recruiting::GetPostingRequest>,
    ),
    (
        "talent.recruiting.v1.GetResumeRequest",
        round_trip_as::<recruiting::GetResumeRequest>,
    ),
    (
        "talent.recruiting.v1.IssueApiKeyRequest",
        round_trip_as::<recruiting::IssueApiKeyRequest>,
    ),
    (
        "talent.recruiting.v1.ListApplicationsRequest",
        round_trip_as::<recruiting::ListApplicationsRequest>,
    ),
    (
        "talent.recruiting.v1.ListEmployersRequest",
        round_trip_as::<recruiting::ListEmployersRequest>,
    ),
    (
        "talent.recruiting.v1.ListEmploymentsRequest",
        round_trip_as::<recruiting::ListEmploymentsRequest>,
    ),
    (
        "talent.recruiting.v1.ListFairsRequest",
        round_trip_as::<recruiting::ListFairsRequest>,
    ),
    (
        "talent.recruiting.v1.ListPlatformsRequest",
        round_trip_as::<recruiting::ListPlatformsRequest>,
    ),
    (
        "talent.recruiting.v1.ListPostingsRequest",
        round_trip_as::<recruiting::ListPostingsRequest>,
    ),
    (
        "talent.recruiting.v1.RecordHireRequest",
        round_trip_as::<recruiting::RecordHireRequest>,
    ),
    (
        "talent.recruiting.v1.RecordSeparationRequest",
        round_trip_as::<recruiting::RecordSeparationRequest>,
    ),
    (
        "talent.recruiting.v1.RegisterParticipationRequest",
        round_trip_as::<recruiting::RegisterParticipationRequest>,
    ),
    (
        "talent.recruiting.v1.RotateApiKeyRequest",
        round_trip_as::<recruiting::RotateApiKeyRequest>,
    ),
    (
        "talent.recruiting.v1.UpdateApplicationStatusRequest",
        round_trip_as::<recruiting::UpdateApplicationStatusRequest>,
    ),
    (
        "talent.recruiting.v1.UpdatePostingRequest",
        round_trip_as::<recruiting::UpdatePostingRequest>,
    ),
    (
        "talent.recruiting.v1.UpsertPostingsRequest",
        round_trip_as::<recruiting::UpsertPostingsRequest>,
    ),
    (
        "talent.recruiting.v1.UpsertResumesRequest",
        round_trip_as::<recruiting::UpsertResumesRequest>,
    ),
];
