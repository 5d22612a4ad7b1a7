//! `EmploymentService`: hires and separations reported by platforms.

use talent_codes::ResidentId;
use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{ApiError, FieldViolations};
use tonic::{Request, Response, Status};

use super::{
    Context, at_item, check_parent, fingerprint, own_child, page_token, read_page_token,
    request_id, resumes::calendar_date, rpc_status, serve_unary_batch,
};
use crate::{
    events::date,
    store::{
        Day, EmploymentFilter, EmploymentRecord, HireInput, HirePerson, RecruitingStore, RequestId,
        day_text, posting_name, resume_name,
    },
    validate::{self, now_micros, timestamp},
};

pub struct Employments<S>(pub Context<S>);

pub(crate) fn employment_pb(e: EmploymentRecord) -> pb::Employment {
    pb::Employment {
        name: e.name(),
        resume: e
            .resume_id
            .as_deref()
            .map(|r| resume_name(&e.platform_id, r))
            .unwrap_or_default(),
        person_key: e.person_key,
        employer_credit_code: e.employer_code,
        workplace_district: e.district,
        industry: e.industry,
        start_date: Some(date(e.start)),
        end_date: e.end.map(date),
        posting: e
            .posting_id
            .as_deref()
            .map(|p| posting_name(&e.platform_id, p))
            .unwrap_or_default(),
        application: e
            .application_id
            .as_deref()
            .map(|a| format!("platforms/{}/applications/{a}", e.platform_id))
            .unwrap_or_default(),
        reporting_platform_id: e.platform_id,
        create_time: Some(timestamp(e.created_at)),
        update_time: Some(timestamp(e.updated_at)),
    }
}

/// A required date field.
fn day(
    value: Option<&talent_proto::google::r#type::Date>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<(Day, i64)> {
    calendar_date(value, field, v)
}

/// Most hires in one `BatchRecordHires` request.
const MAX_BATCH: usize = 1000;

impl<S: RecruitingStore> Employments<S> {
    /// Checks a hire as `RecordHire` receives it (field paths relative to
    /// the hire) and turns it into the store's input.
    fn hire_input(
        &self,
        req: &pb::RecordHireRequest,
        platform: &str,
    ) -> Result<(HireInput, Option<RequestId>), ApiError> {
        check_parent(&req.parent, platform)?;
        let mut v = FieldViolations::new();
        use pb::record_hire_request::Person;
        let person = match &req.person {
            Some(Person::Resume(name)) => Some(HirePerson::Resume(own_child(
                name, "resumes", "resume", platform,
            )?)),
            Some(Person::ResidentIdNumber(id)) => match ResidentId::parse(id) {
                Ok(id) => Some(HirePerson::PersonKey(talent_codes::person_key(
                    &self.0.person_key_secret,
                    &id,
                ))),
                Err(why) => {
                    v.add("resident_id_number", why);
                    None
                }
            },
            None => {
                v.add("person", "one of resume or resident_id_number is required");
                None
            }
        };
        let employer_code =
            validate::credit_code(&req.employer_credit_code, "employer_credit_code", &mut v);
        let district = (!req.workplace_district.is_empty()).then(|| {
            validate::district(&req.workplace_district, "workplace_district", &mut v);
            req.workplace_district.clone()
        });
        let industry = (!req.industry.is_empty())
            .then(|| validate::industry(&req.industry, "industry", &mut v));
        let start = day(req.start_date.as_ref(), "start_date", &mut v);
        let today = talent_codes::today();
        if let Some((_, n)) = start
            && n > today + 366
        {
            v.add("start_date", "must be at most 1 year in the future");
        }
        let posting_id = if req.posting.is_empty() {
            None
        } else {
            Some(own_child(&req.posting, "postings", "posting", platform)?)
        };
        let request_id = request_id(&req.request_id, "request_id", &mut v);
        v.into_result()?;
        let (Some(person), Some((start, _))) = (person, start) else {
            return Err(ApiError::invalid("person", "is required"));
        };
        let canonical = (
            &req.person,
            &employer_code,
            &district,
            &industry,
            start,
            &posting_id,
        );
        let request_id = request_id.map(|id| RequestId {
            id,
            fingerprint: fingerprint(&canonical),
        });
        let hire = HireInput {
            person,
            employer_code,
            district,
            industry,
            start,
            posting_id,
        };
        Ok((hire, request_id))
    }
}

fn item_error(index: usize, err: ApiError) -> tonic_types::pb::Status {
    rpc_status(at_item(index, err))
}

fn failed(index: usize, error: tonic_types::pb::Status) -> pb::HireResult {
    pb::HireResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        employment: None,
        error: Some(error),
    }
}

/// Checks a separation as `RecordSeparation` receives it: the employment's
/// id and the end date.
pub(super) fn separation_input(
    req: &pb::RecordSeparationRequest,
    platform: &str,
) -> Result<(String, Day), ApiError> {
    let id = own_child(&req.name, "employments", "name", platform)?;
    let mut v = FieldViolations::new();
    let end = day(req.end_date.as_ref(), "end_date", &mut v);
    v.into_result()?;
    let Some((end, _)) = end else {
        return Err(ApiError::invalid("end_date", "is required"));
    };
    Ok((id, end))
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::employment_service_server::EmploymentService for Employments<S> {
    #[tracing::instrument(skip_all, fields(platform))]
    async fn record_hire(
        &self,
        request: Request<pb::RecordHireRequest>,
    ) -> Result<Response<pb::RecordHireResponse>, Status> {
        let platform = super::platform(&request)?;
        tracing::Span::current().record("platform", platform.as_str());
        let (hire, request_id) = self.hire_input(&request.into_inner(), &platform)?;
        let record = self
            .0
            .store
            .record_hire(platform, hire, request_id, now_micros())
            .await?;
        Ok(Response::new(pb::RecordHireResponse {
            employment: Some(employment_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_record_hires(
        &self,
        request: Request<pb::BatchRecordHiresRequest>,
    ) -> Result<Response<pb::BatchRecordHiresResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        check_parent(&req.parent, &platform)?;
        if req.requests.is_empty() || req.requests.len() > MAX_BATCH {
            return Err(Status::from(ApiError::invalid(
                "requests",
                "must hold 1 to 1,000 hires",
            )));
        }
        let mut results: Vec<Option<pb::HireResult>> = Vec::with_capacity(req.requests.len());
        let mut valid = Vec::new();
        let mut positions = Vec::new();
        for (index, item) in req.requests.iter().enumerate() {
            match self.hire_input(item, &platform) {
                Ok(input) => {
                    positions.push(index);
                    valid.push(input);
                    results.push(None);
                }
                Err(err) => results.push(Some(failed(index, item_error(index, err)))),
            }
        }
        if !valid.is_empty() {
            let stored = self
                .0
                .store
                .record_hires(platform, valid, now_micros())
                .await?;
            for (index, outcome) in positions.into_iter().zip(stored) {
                results[index] = Some(match outcome {
                    Ok(record) => pb::HireResult {
                        index: i32::try_from(index).unwrap_or(i32::MAX),
                        employment: Some(employment_pb(record)),
                        error: None,
                    },
                    Err(err) => failed(index, item_error(index, err.into())),
                });
            }
        }
        Ok(Response::new(pb::BatchRecordHiresResponse {
            results: results.into_iter().flatten().collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn record_separation(
        &self,
        request: Request<pb::RecordSeparationRequest>,
    ) -> Result<Response<pb::RecordSeparationResponse>, Status> {
        let platform = super::platform(&request)?;
        let (id, end) = separation_input(&request.into_inner(), &platform)?;
        let record = self
            .0
            .store
            .record_separation(platform, id, end, now_micros())
            .await?;
        Ok(Response::new(pb::RecordSeparationResponse {
            employment: Some(employment_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_record_separations(
        &self,
        request: Request<pb::BatchRecordSeparationsRequest>,
    ) -> Result<Response<pb::BatchRecordSeparationsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        let store = &self.0.store;
        let results = serve_unary_batch(
            req.requests,
            "separations",
            |item| separation_input(&item, &platform),
            |valid| store.record_separations(platform.clone(), valid, now_micros()),
            |index, outcome| match outcome {
                Ok(record) => pb::SeparationResult {
                    index,
                    employment: Some(employment_pb(record)),
                    error: None,
                },
                Err(error) => pb::SeparationResult {
                    index,
                    employment: None,
                    error: Some(error),
                },
            },
        )
        .await?;
        Ok(Response::new(pb::BatchRecordSeparationsResponse {
            results,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_employments(
        &self,
        request: Request<pb::ListEmploymentsRequest>,
    ) -> Result<Response<pb::ListEmploymentsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        check_parent(&req.parent, &platform)?;
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let mut filter = EmploymentFilter::default();
        if !req.employer_credit_code.is_empty() {
            filter.employer_code = Some(validate::credit_code(
                &req.employer_credit_code,
                "employer_credit_code",
                &mut v,
            ));
        }
        if !req.person_key.is_empty() {
            if !talent_codes::is_person_key(&req.person_key) {
                v.add("person_key", talent_codes::person_key::RULE);
            }
            filter.person_key = Some(req.person_key.clone());
        }
        if req.active_on.is_some() {
            filter.active_on = day(req.active_on.as_ref(), "active_on", &mut v).map(|(d, _)| d);
        }
        let filters = format!(
            "{:?};{:?};{:?}",
            filter.employer_code,
            filter.person_key,
            filter.active_on.map(day_text)
        );
        let cursor = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after = cursor.and_then(|c| {
            Some((
                c.get(0)?.as_str()?.to_owned(),
                c.get(1)?.as_str()?.to_owned(),
            ))
        });
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut employments = self
            .0
            .store
            .list_employments(platform, filter, after, limit + 1)
            .await?;
        let more = employments.len() > size;
        employments.truncate(size);
        let next_page_token = match employments.last() {
            Some(last) if more => page_token(
                &filters,
                serde_json::json!([day_text(last.start), last.employment_id]),
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListEmploymentsResponse {
            employments: employments.into_iter().map(employment_pb).collect(),
            next_page_token,
        }))
    }
}
