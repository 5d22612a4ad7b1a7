//! `ApplicationService`: résumés delivered to postings, and their progress
//! through the state machine.

use talent_proto::talent::recruiting::v1 as pb;
use talent_server::{ApiError, FieldViolations};
use tonic::{Request, Response, Status};

use super::{
    Context, check_parent, fingerprint, own_child, page_token, read_page_token, request_id,
    resumes::calendar_date, serve_unary_batch,
};
use crate::{
    store::{
        ApplicationFilter, ApplicationInput, ApplicationRecord, HireDetails, RecruitingStore,
        RequestId, StatusChange, app_state, fair_name, posting_name, resume_name,
    },
    validate::{self, Lines, now_micros, timestamp},
};

pub struct Applications<S>(pub Context<S>);

pub(crate) fn application_pb(a: ApplicationRecord) -> pb::Application {
    let platform = a.platform_id;
    pb::Application {
        name: format!("platforms/{platform}/applications/{}", a.application_id),
        application_id: a.application_id,
        resume: resume_name(&platform, &a.resume_id),
        posting: posting_name(&platform, &a.posting_id),
        fair: a
            .fair_id
            .as_deref()
            .map(|f| fair_name(&platform, f))
            .unwrap_or_default(),
        state: a.state,
        history: a
            .history
            .into_iter()
            .map(|(from, to, at, reason)| pb::StateTransition {
                from_state: from,
                to_state: to,
                transition_time: Some(timestamp(at)),
                reason,
            })
            .collect(),
        submit_time: Some(timestamp(a.submit_at)),
        employment: a
            .employment_id
            .as_deref()
            .map(|e| format!("platforms/{platform}/employments/{e}"))
            .unwrap_or_default(),
        create_time: Some(timestamp(a.created_at)),
        update_time: Some(timestamp(a.updated_at)),
    }
}

/// Checks an application as `CreateApplication` receives it (field paths
/// relative to the request) and turns it into the store's input.
pub(super) fn application_input(
    req: &pb::CreateApplicationRequest,
    platform: &str,
) -> Result<(ApplicationInput, Option<RequestId>), ApiError> {
    check_parent(&req.parent, platform)?;
    let Some(application) = &req.application else {
        return Err(ApiError::invalid("application", "is required"));
    };
    let resume_id = own_child(
        &application.resume,
        "resumes",
        "application.resume",
        platform,
    )?;
    let posting_id = own_child(
        &application.posting,
        "postings",
        "application.posting",
        platform,
    )?;
    let fair_id = if application.fair.is_empty() {
        None
    } else {
        Some(own_child(
            &application.fair,
            "fairs",
            "application.fair",
            platform,
        )?)
    };
    let now = now_micros();
    let mut v = FieldViolations::new();
    let submit_at = validate::past_time(
        application.submit_time.as_ref(),
        "application.submit_time",
        now,
        &mut v,
    );
    let application_id = if req.application_id.is_empty() {
        crate::store::new_id()
    } else {
        validate::external_id(&req.application_id, "application_id", &mut v);
        req.application_id.clone()
    };
    let request_id = request_id(&req.request_id, "request_id", &mut v);
    v.into_result()?;
    let canonical = (
        &req.application_id,
        &resume_id,
        &posting_id,
        &fair_id,
        submit_at,
    );
    let request_id = request_id.map(|id| RequestId {
        id,
        fingerprint: fingerprint(&canonical),
    });
    let input = ApplicationInput {
        application_id,
        resume_id,
        posting_id,
        fair_id,
        submit_at,
    };
    Ok((input, request_id))
}

/// Checks a move as `UpdateApplicationStatus` receives it: the
/// application's id and the change.
pub(super) fn status_change(
    req: &pb::UpdateApplicationStatusRequest,
    platform: &str,
) -> Result<(String, StatusChange), ApiError> {
    let id = own_child(&req.name, "applications", "name", platform)?;
    let now = now_micros();
    let mut v = FieldViolations::new();
    let known = pb::ApplicationState::try_from(req.state).is_ok();
    validate::enum_value(req.state, known, false, "state", &mut v);
    let at = validate::past_time(req.transition_time.as_ref(), "transition_time", now, &mut v);
    let reason = validate::text(&req.reason, "reason", 0, 200, Lines::Single, &mut v);
    let mut hire = None;
    if req.state == app_state::HIRED {
        match &req.hire {
            None => v.add("hire", "is required when state is HIRED"),
            Some(h) => {
                let start = calendar_date(h.start_date.as_ref(), "hire.start_date", &mut v);
                let district = (!h.workplace_district.is_empty()).then(|| {
                    validate::district(&h.workplace_district, "hire.workplace_district", &mut v);
                    h.workplace_district.clone()
                });
                let industry = (!h.industry.is_empty())
                    .then(|| validate::industry(&h.industry, "hire.industry", &mut v));
                hire = start.map(|(start, _)| HireDetails {
                    start,
                    district,
                    industry,
                });
            }
        }
    }
    v.into_result()?;
    Ok((
        id,
        StatusChange {
            to: req.state,
            at,
            reason,
            hire,
        },
    ))
}

fn application_result(
    index: i32,
    outcome: Result<ApplicationRecord, tonic_types::pb::Status>,
) -> pb::ApplicationResult {
    match outcome {
        Ok(record) => pb::ApplicationResult {
            index,
            application: Some(application_pb(record)),
            error: None,
        },
        Err(error) => pb::ApplicationResult {
            index,
            application: None,
            error: Some(error),
        },
    }
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::application_service_server::ApplicationService for Applications<S> {
    #[tracing::instrument(skip_all)]
    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::CreateApplicationResponse>, Status> {
        let platform = super::platform(&request)?;
        let (input, request_id) = application_input(&request.into_inner(), &platform)?;
        let record = self
            .0
            .store
            .create_application(platform, input, request_id, now_micros())
            .await?;
        Ok(Response::new(pb::CreateApplicationResponse {
            application: Some(application_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_application_status(
        &self,
        request: Request<pb::UpdateApplicationStatusRequest>,
    ) -> Result<Response<pb::UpdateApplicationStatusResponse>, Status> {
        let platform = super::platform(&request)?;
        let (id, change) = status_change(&request.into_inner(), &platform)?;
        let record = self
            .0
            .store
            .update_application_status(platform, id, change, now_micros())
            .await?;
        Ok(Response::new(pb::UpdateApplicationStatusResponse {
            application: Some(application_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_create_applications(
        &self,
        request: Request<pb::BatchCreateApplicationsRequest>,
    ) -> Result<Response<pb::BatchCreateApplicationsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        check_parent(&req.parent, &platform)?;
        let store = &self.0.store;
        let results = serve_unary_batch(
            req.requests,
            "applications",
            |item| application_input(&item, &platform),
            |valid| store.create_applications(platform.clone(), valid, now_micros()),
            application_result,
        )
        .await?;
        Ok(Response::new(pb::BatchCreateApplicationsResponse {
            results,
        }))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_update_application_status(
        &self,
        request: Request<pb::BatchUpdateApplicationStatusRequest>,
    ) -> Result<Response<pb::BatchUpdateApplicationStatusResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", req.requests.len());
        let store = &self.0.store;
        let results = serve_unary_batch(
            req.requests,
            "moves",
            |item| status_change(&item, &platform),
            |valid| store.update_application_statuses(platform.clone(), valid, now_micros()),
            application_result,
        )
        .await?;
        Ok(Response::new(pb::BatchUpdateApplicationStatusResponse {
            results,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::GetApplicationResponse>, Status> {
        let platform = super::platform(&request)?;
        let name = request.into_inner().name;
        let id = own_child(&name, "applications", "name", &platform)?;
        let record = self
            .0
            .store
            .get_application(platform, id)
            .await?
            .ok_or_else(|| Status::from(ApiError::NotFound(format!("{name} not found"))))?;
        Ok(Response::new(pb::GetApplicationResponse {
            application: Some(application_pb(record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        check_parent(&req.parent, &platform)?;
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let mut filter = ApplicationFilter::default();
        // Another platform's posting or résumé matches nothing of ours.
        let own = |name: &str, collection: &str| {
            super::parse_child_name(name, collection)
                .map(|(owner, id)| (owner == platform).then(|| id.to_owned()))
        };
        if !req.posting.is_empty() {
            match own(&req.posting, "postings") {
                Some(id) => filter.posting_id = Some(id.unwrap_or_default()),
                None => v.add("posting", "must be a posting resource name"),
            }
        }
        if !req.resume.is_empty() {
            match own(&req.resume, "resumes") {
                Some(id) => filter.resume_id = Some(id.unwrap_or_default()),
                None => v.add("resume", "must be a résumé resource name"),
            }
        }
        match pb::ApplicationState::try_from(req.state) {
            Ok(pb::ApplicationState::Unspecified) => {}
            Ok(_) => filter.state = Some(req.state),
            Err(_) => v.add("state", format!("unknown enum value {}", req.state)),
        }
        let filters = format!("{filter:?}");
        let cursor = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after =
            cursor.and_then(|c| Some((c.get(0)?.as_i64()?, c.get(1)?.as_str()?.to_owned())));
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut applications = self
            .0
            .store
            .list_applications(platform.clone(), filter, after, limit + 1)
            .await?;
        let more = applications.len() > size;
        applications.truncate(size);
        let next_page_token = match applications.last() {
            Some(last) if more => page_token(
                &filters,
                serde_json::json!([last.created_at, last.application_id]),
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListApplicationsResponse {
            applications: applications.into_iter().map(application_pb).collect(),
            next_page_token,
        }))
    }
}
