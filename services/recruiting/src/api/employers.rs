//! `EmployerService`: the shared employer records, by credit code.

use talent_proto::talent::{recruiting::v1 as pb, r#type::v1 as types};
use talent_server::{ApiError, FieldViolations};
use tonic::{Request, Response, Status};

use super::{Context, item_status, page_token, read_page_token, violations_of};
use crate::{
    auth::Caller,
    store::{EmployerFilter, EmployerInput, EmployerRecord, Outcome, RecruitingStore},
    validate::{self, Lines, timestamp},
};

/// The most employers one call may carry.
const MAX_BATCH: usize = 1000;

pub struct Employers<S>(pub Context<S>);

/// An employer as `viewer` sees it: a platform learns of each field only
/// whether the value is its own, never which other platform wrote it or
/// when; the admin key (None) sees every source.
pub fn employer_pb(e: EmployerRecord, viewer: Option<&str>) -> pb::Employer {
    pb::Employer {
        name: format!("employers/{}", e.credit_code),
        credit_code: e.credit_code,
        display_name: e.display_name,
        district: e.district,
        industry: e.industry,
        size: e.size,
        field_sources: e
            .field_sources
            .into_iter()
            .map(|(field, (platform_id, at))| {
                let source = if viewer.is_none_or(|viewer| viewer == platform_id) {
                    pb::FieldSource {
                        platform_id,
                        write_time: Some(timestamp(at)),
                        other_platform: false,
                    }
                } else {
                    pb::FieldSource {
                        platform_id: String::new(),
                        write_time: None,
                        other_platform: true,
                    }
                };
                (field, source)
            })
            .collect(),
        create_time: Some(timestamp(e.created_at)),
        update_time: Some(timestamp(e.updated_at)),
    }
}

pub fn outcome_pb(outcome: Outcome) -> pb::UpsertOutcome {
    match outcome {
        Outcome::Created => pb::UpsertOutcome::Created,
        Outcome::Updated => pb::UpsertOutcome::Updated,
        Outcome::Unchanged => pb::UpsertOutcome::Unchanged,
    }
}

/// Validates one employer; violations have paths relative to it.
pub(super) fn employer_input(e: &pb::Employer) -> Result<EmployerInput, FieldViolations> {
    let mut v = FieldViolations::new();
    let credit_code = validate::credit_code(&e.credit_code, "credit_code", &mut v);
    let display_name = (!e.display_name.is_empty()).then(|| {
        validate::text(
            &e.display_name,
            "display_name",
            1,
            200,
            Lines::Single,
            &mut v,
        )
    });
    let district = (!e.district.is_empty()).then(|| {
        validate::district(&e.district, "district", &mut v);
        e.district.clone()
    });
    let industry =
        (!e.industry.is_empty()).then(|| validate::industry(&e.industry, "industry", &mut v));
    validate::enum_value(
        e.size,
        types::EmployerSize::try_from(e.size).is_ok(),
        true,
        "size",
        &mut v,
    );
    if !v.is_empty() {
        return Err(v);
    }
    Ok(EmployerInput {
        credit_code,
        display_name,
        district,
        industry,
        size: (e.size != 0).then_some(e.size),
    })
}

/// A credit code from `employers/{credit_code}`.
fn credit_code_of(name: &str) -> Result<String, ApiError> {
    name.strip_prefix("employers/")
        .and_then(|code| talent_codes::credit_code::credit_code(code).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "name",
                "must be employers/{credit_code} with a valid credit code",
            )
        })
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::employer_service_server::EmployerService for Employers<S> {
    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_upsert_employers(
        &self,
        request: Request<pb::BatchUpsertEmployersRequest>,
    ) -> Result<Response<pb::BatchUpsertEmployersResponse>, Status> {
        let platform = super::platform(&request)?;
        let employers = request.into_inner().employers;
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", employers.len());
        if employers.is_empty() || employers.len() > MAX_BATCH {
            return Err(ApiError::invalid("employers", "must hold 1 to 1,000 employers").into());
        }
        let mut results: Vec<Option<pb::EmployerResult>> = Vec::with_capacity(employers.len());
        let mut valid = Vec::new();
        let mut positions = Vec::new();
        for (index, employer) in employers.iter().enumerate() {
            let code = employer.credit_code.to_ascii_uppercase();
            match employer_input(employer) {
                Ok(input) => {
                    positions.push(index);
                    valid.push(input);
                    results.push(None);
                }
                Err(v) => results.push(Some(rejected(
                    index,
                    code,
                    item_status(&format!("employers[{index}]"), violations_of(v)),
                ))),
            }
        }
        if !valid.is_empty() {
            let stored = self
                .0
                .store
                .upsert_employers(platform, valid.clone(), validate::now_micros())
                .await?;
            for ((index, input), outcome) in positions.into_iter().zip(valid).zip(stored) {
                results[index] = Some(match outcome {
                    Ok(outcome) => pb::EmployerResult {
                        index: i32::try_from(index).unwrap_or(i32::MAX),
                        name: format!("employers/{}", input.credit_code),
                        credit_code: input.credit_code,
                        outcome: outcome_pb(outcome) as i32,
                        error: None,
                    },
                    Err(err) => rejected(
                        index,
                        input.credit_code,
                        item_status(&format!("employers[{index}]"), err),
                    ),
                });
            }
        }
        Ok(Response::new(pb::BatchUpsertEmployersResponse {
            results: results.into_iter().flatten().collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_employer(
        &self,
        request: Request<pb::GetEmployerRequest>,
    ) -> Result<Response<pb::GetEmployerResponse>, Status> {
        let viewer = viewer(&request)?;
        let name = request.into_inner().name;
        let code = credit_code_of(&name)?;
        let employer = self
            .0
            .store
            .get_employer(viewer.clone(), code)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{name} not found")))?;
        Ok(Response::new(pb::GetEmployerResponse {
            employer: Some(employer_pb(employer, viewer.as_deref())),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_employers(
        &self,
        request: Request<pb::ListEmployersRequest>,
    ) -> Result<Response<pb::ListEmployersResponse>, Status> {
        let viewer = viewer(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let mut filter = EmployerFilter::default();
        if !req.district.is_empty() {
            validate::district_prefix(&req.district, "district", &mut v);
            filter.district_prefix = Some(req.district.clone());
        }
        if !req.industry.is_empty() {
            filter.industry_prefix =
                Some(validate::industry_prefix(&req.industry, "industry", &mut v));
        }
        let filters = format!(
            "district={:?};industry={:?}",
            filter.district_prefix, filter.industry_prefix
        );
        let after = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after = after.and_then(|c| c.as_str().map(str::to_owned));
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut employers = self
            .0
            .store
            .list_employers(viewer.clone(), filter, after, limit + 1)
            .await?;
        let more = employers.len() > size;
        employers.truncate(size);
        let next_page_token = match employers.last() {
            Some(last) if more => page_token(&filters, serde_json::json!(last.credit_code)),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListEmployersResponse {
            employers: employers
                .into_iter()
                .map(|e| employer_pb(e, viewer.as_deref()))
                .collect(),
            next_page_token,
        }))
    }
}

/// The calling platform, or None for the admin key.
fn viewer<T>(request: &Request<T>) -> Result<Option<String>, ApiError> {
    Ok(match super::caller(request)? {
        Caller::Platform { platform, .. } => Some(platform),
        Caller::Admin => None,
    })
}

fn rejected(
    index: usize,
    credit_code: String,
    error: tonic_types::pb::Status,
) -> pb::EmployerResult {
    pb::EmployerResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        credit_code,
        name: String::new(),
        outcome: pb::UpsertOutcome::Rejected as i32,
        error: Some(error),
    }
}
