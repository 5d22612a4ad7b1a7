//! `FairService`: recruitment fairs and the employers taking part.

use talent_proto::talent::{recruiting::v1 as pb, r#type::v1 as types};
use talent_server::{ApiError, FieldViolations};
use tonic::{Request, Response, Status};

use super::{
    Context, check_parent, fingerprint, own_child, page_token, read_page_token, request_id,
    serve_unary_batch,
};
use crate::{
    store::{FairInput, FairRecord, RecruitingStore, RequestId, fair_name},
    validate::{self, Lines, now_micros, timestamp},
};

pub struct Fairs<S>(pub Context<S>);

fn fair_pb(f: FairRecord) -> pb::Fair {
    pb::Fair {
        name: fair_name(&f.platform_id, &f.fair_id),
        fair_id: f.fair_id,
        display_name: f.display_name,
        format: f.format,
        start_time: Some(timestamp(f.start_at)),
        end_time: Some(timestamp(f.end_at)),
        district: f.district,
        organiser_platform_id: f.platform_id,
        participation_count: i32::try_from(f.participation_count).unwrap_or(i32::MAX),
        create_time: Some(timestamp(f.created_at)),
    }
}

/// Checks a fair as `CreateFair` receives it (field paths relative to the
/// request) and turns it into the store's input.
pub(super) fn fair_input(
    req: pb::CreateFairRequest,
    platform: &str,
) -> Result<(FairInput, Option<RequestId>), ApiError> {
    check_parent(&req.parent, platform)?;
    let mut v = FieldViolations::new();
    let fair = req.fair.unwrap_or_default();
    let display_name = validate::text(
        &fair.display_name,
        "fair.display_name",
        1,
        200,
        Lines::Single,
        &mut v,
    );
    let known = types::FairFormat::try_from(fair.format).is_ok();
    validate::enum_value(fair.format, known, true, "fair.format", &mut v);
    let format = if fair.format == 0 {
        types::FairFormat::Online as i32
    } else {
        fair.format
    };
    let start_at = match &fair.start_time {
        Some(t) => validate::micros(t, "fair.start_time", &mut v),
        None => {
            v.add("fair.start_time", "is required");
            None
        }
    };
    let end_at = match &fair.end_time {
        Some(t) => validate::micros(t, "fair.end_time", &mut v),
        None => {
            v.add("fair.end_time", "is required");
            None
        }
    };
    if let (Some(start), Some(end)) = (start_at, end_at) {
        if end <= start {
            v.add("fair.end_time", "must be after start_time");
        } else if end - start > 366 * validate::DAY_MICROS {
            v.add("fair.end_time", "must be at most 366 days after start_time");
        }
    }
    if !fair.district.is_empty() {
        validate::district(&fair.district, "fair.district", &mut v);
    }
    let fair_id = if req.fair_id.is_empty() {
        crate::store::new_id()
    } else {
        validate::external_id(&req.fair_id, "fair_id", &mut v);
        req.fair_id.clone()
    };
    let request_id = request_id(&req.request_id, "request_id", &mut v);
    v.into_result()?;
    let input = FairInput {
        fair_id,
        display_name,
        format,
        start_at: start_at.unwrap_or_default(),
        end_at: end_at.unwrap_or_default(),
        district: fair.district,
    };
    let canonical = (
        &req.fair_id,
        &input.display_name,
        input.format,
        input.start_at,
        input.end_at,
        &input.district,
    );
    let request_id = request_id.map(|id| RequestId {
        id,
        fingerprint: fingerprint(&canonical),
    });
    Ok((input, request_id))
}

/// Checks a participation as `RegisterParticipation` receives it: the
/// fair's id and the employer's credit code.
pub(super) fn participation_input(
    req: &pb::RegisterParticipationRequest,
    platform: &str,
) -> Result<(String, String), ApiError> {
    let fair_id = own_child(&req.parent, "fairs", "parent", platform)?;
    let mut v = FieldViolations::new();
    let code = match &req.participation {
        Some(p) => validate::credit_code(
            &p.employer_credit_code,
            "participation.employer_credit_code",
            &mut v,
        ),
        None => {
            v.add("participation", "is required");
            String::new()
        }
    };
    v.into_result()?;
    Ok((fair_id, code))
}

fn participation_pb(fair: &str, code: String, registered_at: i64) -> pb::Participation {
    pb::Participation {
        name: format!("{fair}/participations/{code}"),
        employer_credit_code: code,
        create_time: Some(timestamp(registered_at)),
    }
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::fair_service_server::FairService for Fairs<S> {
    #[tracing::instrument(skip_all)]
    async fn create_fair(
        &self,
        request: Request<pb::CreateFairRequest>,
    ) -> Result<Response<pb::CreateFairResponse>, Status> {
        let platform = super::platform(&request)?;
        let (input, request_id) = fair_input(request.into_inner(), &platform)?;
        let record = self
            .0
            .store
            .create_fair(platform, input, request_id, now_micros())
            .await?;
        Ok(Response::new(pb::CreateFairResponse {
            fair: Some(fair_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn register_participation(
        &self,
        request: Request<pb::RegisterParticipationRequest>,
    ) -> Result<Response<pb::RegisterParticipationResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        let (fair_id, code) = participation_input(&req, &platform)?;
        let (registered_at, created) = self
            .0
            .store
            .register_participation(platform, fair_id, code.clone(), now_micros())
            .await?;
        Ok(Response::new(pb::RegisterParticipationResponse {
            participation: Some(participation_pb(&req.parent, code, registered_at)),
            created,
        }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_create_fairs(
        &self,
        request: Request<pb::BatchCreateFairsRequest>,
    ) -> Result<Response<pb::BatchCreateFairsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        check_parent(&req.parent, &platform)?;
        let store = &self.0.store;
        let results = serve_unary_batch(
            req.requests,
            "fairs",
            |item| fair_input(item, &platform),
            |valid| store.create_fairs(platform.clone(), valid, now_micros()),
            |index, outcome| match outcome {
                Ok(record) => pb::FairResult {
                    index,
                    fair: Some(fair_pb(record)),
                    error: None,
                },
                Err(error) => pb::FairResult {
                    index,
                    fair: None,
                    error: Some(error),
                },
            },
        )
        .await?;
        Ok(Response::new(pb::BatchCreateFairsResponse { results }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_register_participations(
        &self,
        request: Request<pb::BatchRegisterParticipationsRequest>,
    ) -> Result<Response<pb::BatchRegisterParticipationsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        let fairs: Vec<String> = req.requests.iter().map(|r| r.parent.clone()).collect();
        let store = &self.0.store;
        let results = serve_unary_batch(
            req.requests,
            "participations",
            |item| participation_input(&item, &platform),
            |valid| store.register_participations(platform.clone(), valid, now_micros()),
            |index, outcome| match outcome {
                Ok((code, registered_at, created)) => pb::ParticipationResult {
                    index,
                    participation: Some(participation_pb(
                        &fairs[usize::try_from(index).unwrap_or_default()],
                        code,
                        registered_at,
                    )),
                    created,
                    error: None,
                },
                Err(error) => pb::ParticipationResult {
                    index,
                    participation: None,
                    created: false,
                    error: Some(error),
                },
            },
        )
        .await?;
        Ok(Response::new(pb::BatchRegisterParticipationsResponse {
            results,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_fair(
        &self,
        request: Request<pb::GetFairRequest>,
    ) -> Result<Response<pb::GetFairResponse>, Status> {
        let platform = super::platform(&request)?;
        let name = request.into_inner().name;
        let id = own_child(&name, "fairs", "name", &platform)?;
        let fair = self
            .0
            .store
            .get_fair(platform, id)
            .await?
            .ok_or_else(|| Status::from(ApiError::NotFound(format!("{name} not found"))))?;
        Ok(Response::new(pb::GetFairResponse {
            fair: Some(fair_pb(fair)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_fairs(
        &self,
        request: Request<pb::ListFairsRequest>,
    ) -> Result<Response<pb::ListFairsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        check_parent(&req.parent, &platform)?;
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let from = req
            .start_time_from
            .as_ref()
            .and_then(|t| validate::micros(t, "start_time_from", &mut v));
        let before = req
            .start_time_before
            .as_ref()
            .and_then(|t| validate::micros(t, "start_time_before", &mut v));
        let filters = format!("from={from:?};before={before:?}");
        let cursor = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after =
            cursor.and_then(|c| Some((c.get(0)?.as_i64()?, c.get(1)?.as_str()?.to_owned())));
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut fairs = self
            .0
            .store
            .list_fairs(platform, from, before, after, limit + 1)
            .await?;
        let more = fairs.len() > size;
        fairs.truncate(size);
        let next_page_token = match fairs.last() {
            Some(last) if more => {
                page_token(&filters, serde_json::json!([last.start_at, last.fair_id]))
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListFairsResponse {
            fairs: fairs.into_iter().map(fair_pb).collect(),
            next_page_token,
        }))
    }
}
