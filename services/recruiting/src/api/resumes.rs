//! `ResumeService`: résumés with their encrypted personal fields, and the
//! job seeker's rights of access (export) and erasure.

use std::collections::HashSet;

use serde_json::json;
use talent_codes::ResidentId;
use talent_proto::talent::{recruiting::v1 as pb, r#type::v1 as types};
use talent_server::{
    ApiError, FieldViolations,
    group_commit::{self, AnswerStream},
};
use tonic::{Request, Response, Status, Streaming};

use super::{Context, employers::outcome_pb, item_status, own_child, violations_of};
use crate::{
    auth::Caller,
    pii,
    store::{Education, RecruitingStore, ResumeAttributes, ResumeInput, ResumeRecord},
    validate::{self, Lines, now_micros, timestamp},
};

/// The most résumés one request message may carry.
const MAX_BATCH: usize = 1000;

pub struct Resumes<S>(pub Context<S>);

/// A `google.type.Date` that is a full, valid date in 1900..=2100, as
/// (year, month, day) with its day number (days since the epoch).
pub(crate) fn calendar_date(
    date: Option<&talent_proto::google::r#type::Date>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<((i32, i32, i32), i64)> {
    let day = talent_codes::check_date(date, 1900..=2100)
        .map_err(|why| v.add(field, why))
        .ok()?;
    date.map(|d| ((d.year, d.month, d.day), day))
}

/// Validates one résumé; paths relative to it.
pub(super) fn resume_input(
    r: &pb::Resume,
    secret: &[u8],
    now: i64,
) -> Result<ResumeInput, FieldViolations> {
    let mut v = FieldViolations::new();
    validate::external_id(&r.external_id, "external_id", &mut v);
    let resident_id = ResidentId::parse(&r.resident_id_number)
        .map_err(|why| v.add("resident_id_number", why))
        .ok();
    let full_name = validate::text(&r.full_name, "full_name", 1, 64, Lines::Single, &mut v);
    let phone = if r.phone.is_empty() {
        String::new()
    } else {
        pii::phone(&r.phone).unwrap_or_else(|| {
            v.add(
                "phone",
                "must be an 11-digit mainland mobile number (optionally +86) or an E.164 number",
            );
            String::new()
        })
    };
    let email = validate::text(&r.email, "email", 0, 254, Lines::Single, &mut v);
    if !email.is_empty() && !pii::email(&email) {
        v.add(
            "email",
            "must have exactly one \"@\" with non-empty parts and no white space",
        );
    }
    if r.education.len() > 10 {
        v.add("education", "must hold at most 10 entries");
    }
    let today = talent_codes::day_of_micros(now);
    let mut education = Vec::new();
    for (i, e) in r.education.iter().enumerate() {
        let path = |field: &str| format!("education[{i}].{field}");
        let known = types::DegreeLevel::try_from(e.degree_level).is_ok();
        validate::enum_value(e.degree_level, known, false, &path("degree_level"), &mut v);
        if !e.university_code.is_empty() && !talent_codes::is_university_code(&e.university_code) {
            v.add(path("university_code"), talent_codes::university::RULE);
        }
        let university_name = validate::text(
            &e.university_name,
            &path("university_name"),
            0,
            100,
            Lines::Single,
            &mut v,
        );
        let known = types::Discipline::try_from(e.discipline).is_ok();
        validate::enum_value(e.discipline, known, true, &path("discipline"), &mut v);
        let major = validate::text(&e.major, &path("major"), 0, 100, Lines::Single, &mut v);
        let graduation =
            calendar_date(e.graduation_date.as_ref(), &path("graduation_date"), &mut v);
        if let Some((_, day)) = graduation
            && day > today + 6 * 366
        {
            v.add(
                path("graduation_date"),
                "must be at most 6 years in the future",
            );
        }
        education.push(Education {
            degree_level: e.degree_level,
            university_code: e.university_code.clone(),
            university_name,
            discipline: e.discipline,
            major,
            graduation: graduation.map(|(d, _)| d).unwrap_or_default(),
        });
    }
    let known = types::ProfessionalTitleLevel::try_from(r.professional_title_level).is_ok();
    validate::enum_value(
        r.professional_title_level,
        known,
        true,
        "professional_title_level",
        &mut v,
    );
    let known = types::VocationalSkillLevel::try_from(r.vocational_skill_level).is_ok();
    validate::enum_value(
        r.vocational_skill_level,
        known,
        true,
        "vocational_skill_level",
        &mut v,
    );
    let mut desired_districts = Vec::new();
    for (i, d) in r.desired_districts.iter().enumerate() {
        validate::district(d, &format!("desired_districts[{i}]"), &mut v);
        if !desired_districts.contains(d) {
            desired_districts.push(d.clone());
        }
    }
    if desired_districts.len() > 20 {
        v.add("desired_districts", "must hold at most 20 districts");
    }
    let mut desired_industries = Vec::new();
    let mut seen = HashSet::new();
    for (i, code) in r.desired_industries.iter().enumerate() {
        let code = validate::industry(code, &format!("desired_industries[{i}]"), &mut v);
        if seen.insert(code.clone()) {
            desired_industries.push(code);
        }
    }
    if desired_industries.len() > 20 {
        v.add("desired_industries", "must hold at most 20 industries");
    }
    let consent_at = r
        .consent_time
        .as_ref()
        .and_then(|t| validate::micros(t, "consent_time", &mut v));
    let received_at = validate::past_time(r.receive_time.as_ref(), "receive_time", now, &mut v);
    match resident_id {
        Some(id) if v.is_empty() => Ok(ResumeInput {
            external_id: r.external_id.clone(),
            person_key: talent_codes::person_key(secret, &id),
            personal: pii::Personal {
                resident_id_number: id.into_string(),
                full_name,
                phone,
                email,
            },
            attributes: ResumeAttributes {
                education,
                title_level: r.professional_title_level,
                skill_level: r.vocational_skill_level,
                desired_districts,
                desired_industries,
            },
            consent: r.statistical_use_consent,
            consent_at,
            received_at,
        }),
        _ => Err(v),
    }
}

pub fn resume_pb(r: ResumeRecord) -> pb::Resume {
    let name = r.name();
    let personal = r.personal.unwrap_or_default();
    let a = r.attributes;
    pb::Resume {
        name,
        external_id: r.external_id,
        resident_id_number: personal.resident_id_number,
        person_key: r.person_key,
        full_name: personal.full_name,
        phone: personal.phone,
        email: personal.email,
        education: a
            .education
            .into_iter()
            .map(|e| pb::EducationEntry {
                degree_level: e.degree_level,
                university_code: e.university_code,
                university_name: e.university_name,
                discipline: e.discipline,
                major: e.major,
                graduation_date: Some(crate::events::date(e.graduation)),
            })
            .collect(),
        professional_title_level: a.title_level,
        vocational_skill_level: a.skill_level,
        desired_districts: a.desired_districts,
        desired_industries: a.desired_industries,
        statistical_use_consent: r.consent,
        consent_time: Some(timestamp(r.consent_at)),
        erased: r.erased_at.is_some(),
        create_time: Some(timestamp(r.created_at)),
        receive_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
    }
}

/// One request message's résumés, validated, waiting for the store.
type Prepared = super::Prepared<ResumeInput, pb::ResumeResult>;

/// Validates one request message's résumés, each on its own.
fn prepare(person_key_secret: &[u8], resumes: Vec<pb::Resume>) -> Result<Prepared, ApiError> {
    if resumes.is_empty() || resumes.len() > MAX_BATCH {
        return Err(ApiError::invalid("resumes", "must hold 1 to 1,000 résumés"));
    }
    let now = now_micros();
    let mut prepared = Prepared {
        now,
        results: Vec::with_capacity(resumes.len()),
        valid: Vec::with_capacity(resumes.len()),
        positions: Vec::with_capacity(resumes.len()),
    };
    for (index, resume) in resumes.iter().enumerate() {
        match resume_input(resume, person_key_secret, now) {
            Ok(input) => {
                prepared.positions.push(index);
                prepared.valid.push(input);
                prepared.results.push(None);
            }
            Err(v) => prepared.results.push(Some(rejected(
                index,
                resume.external_id.clone(),
                item_status(&format!("resumes[{index}]"), violations_of(v)),
            ))),
        }
    }
    Ok(prepared)
}

/// Stores the valid résumés of several messages in one store transaction
/// (see `super::store_group`); the results of each message.
async fn store_group<S: RecruitingStore>(
    ctx: &Context<S>,
    platform: &str,
    group: Vec<Prepared>,
) -> Result<Vec<Vec<pb::ResumeResult>>, ApiError> {
    super::store_group(
        group,
        |r| r.external_id.clone(),
        |valid, now| ctx.store.upsert_resumes(platform.to_owned(), valid, now),
        |index, external_id, result| match result {
            Ok(summary) => pb::ResumeResult {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                name: crate::store::resume_name(platform, &external_id),
                external_id,
                outcome: outcome_pb(summary.outcome) as i32,
                person_key: summary.person_key,
                error: None,
            },
            Err(err) => rejected(
                index,
                external_id,
                item_status(&format!("resumes[{index}]"), err),
            ),
        },
    )
    .await
}

fn rejected(index: usize, external_id: String, error: tonic_types::pb::Status) -> pb::ResumeResult {
    pb::ResumeResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        external_id,
        name: String::new(),
        outcome: pb::UpsertOutcome::Rejected as i32,
        person_key: String::new(),
        error: Some(error),
    }
}

/// The person key named by a request's `person` oneof.
fn person_key_of(
    secret: &[u8],
    resident_id_number: Option<&str>,
    person_key: Option<&str>,
) -> Result<String, ApiError> {
    match (resident_id_number, person_key) {
        (Some(id), _) => ResidentId::parse(id)
            .map(|id| talent_codes::person_key(secret, &id))
            .map_err(|why| ApiError::invalid("resident_id_number", why)),
        (None, Some(key)) if talent_codes::is_person_key(key) => Ok(key.to_owned()),
        (None, Some(_)) => Err(ApiError::invalid(
            "person_key",
            talent_codes::person_key::RULE,
        )),
        (None, None) => Err(ApiError::invalid(
            "person",
            "one of resident_id_number or person_key is required",
        )),
    }
}

fn enum_name<E: TryFrom<i32>>(value: i32, name: impl Fn(E) -> &'static str) -> serde_json::Value {
    E::try_from(value).map_or(json!(value), |e| json!(name(e)))
}

/// A résumé in the proto3 JSON mapping.
fn resume_json(r: &pb::Resume) -> serde_json::Value {
    let ts = |t: &Option<prost_types::Timestamp>| {
        t.as_ref().and_then(talent_server::rfc3339::of_timestamp)
    };
    json!({
        "name": r.name,
        "externalId": r.external_id,
        "residentIdNumber": r.resident_id_number,
        "personKey": r.person_key,
        "fullName": r.full_name,
        "phone": r.phone,
        "email": r.email,
        "education": r.education.iter().map(|e| json!({
            "degreeLevel": enum_name(e.degree_level, |d: types::DegreeLevel| d.as_str_name()),
            "universityCode": e.university_code,
            "universityName": e.university_name,
            "discipline": enum_name(e.discipline, |d: types::Discipline| d.as_str_name()),
            "major": e.major,
            "graduationDate": e.graduation_date.as_ref().map(|d| json!({
                "year": d.year, "month": d.month, "day": d.day
            })),
        })).collect::<Vec<_>>(),
        "professionalTitleLevel": enum_name(
            r.professional_title_level,
            |d: types::ProfessionalTitleLevel| d.as_str_name(),
        ),
        "vocationalSkillLevel": enum_name(
            r.vocational_skill_level,
            |d: types::VocationalSkillLevel| d.as_str_name(),
        ),
        "desiredDistricts": r.desired_districts,
        "desiredIndustries": r.desired_industries,
        "statisticalUseConsent": r.statistical_use_consent,
        "consentTime": ts(&r.consent_time),
        "erased": r.erased,
        "createTime": ts(&r.create_time),
        "updateTime": ts(&r.update_time),
    })
}

fn ts_json(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref().and_then(talent_server::rfc3339::of_timestamp)
}

fn date_json(d: &Option<talent_proto::google::r#type::Date>) -> serde_json::Value {
    d.as_ref().map_or(
        serde_json::Value::Null,
        |d| json!({"year": d.year, "month": d.month, "day": d.day}),
    )
}

fn state_json(value: i32) -> serde_json::Value {
    enum_name(value, |s: pb::ApplicationState| s.as_str_name())
}

/// An application in the proto3 JSON mapping.
fn application_json(a: &pb::Application) -> serde_json::Value {
    json!({
        "name": a.name,
        "applicationId": a.application_id,
        "resume": a.resume,
        "posting": a.posting,
        "fair": a.fair,
        "state": state_json(a.state),
        "history": a.history.iter().map(|t| json!({
            "fromState": state_json(t.from_state),
            "toState": state_json(t.to_state),
            "transitionTime": ts_json(&t.transition_time),
            "reason": t.reason,
        })).collect::<Vec<_>>(),
        "submitTime": ts_json(&a.submit_time),
        "employment": a.employment,
        "createTime": ts_json(&a.create_time),
        "updateTime": ts_json(&a.update_time),
    })
}

/// An employment in the proto3 JSON mapping.
fn employment_json(e: &pb::Employment) -> serde_json::Value {
    json!({
        "name": e.name,
        "resume": e.resume,
        "personKey": e.person_key,
        "employerCreditCode": e.employer_credit_code,
        "workplaceDistrict": e.workplace_district,
        "industry": e.industry,
        "startDate": date_json(&e.start_date),
        "endDate": date_json(&e.end_date),
        "reportingPlatformId": e.reporting_platform_id,
        "posting": e.posting,
        "application": e.application,
        "createTime": ts_json(&e.create_time),
        "updateTime": ts_json(&e.update_time),
    })
}

#[tonic::async_trait]
impl<S: RecruitingStore> pb::resume_service_server::ResumeService for Resumes<S> {
    #[tracing::instrument(skip_all, fields(platform))]
    async fn upsert_resumes(
        &self,
        request: Request<Streaming<pb::UpsertResumesRequest>>,
    ) -> Result<Response<AnswerStream<pb::UpsertResumesResponse>>, Status> {
        let platform = super::platform(&request)?;
        tracing::Span::current().record("platform", platform.as_str());
        let ctx = self.0.clone();
        let draining = ctx.draining.clone();
        let group = ctx.store.stream_group();
        let secret = ctx.person_key_secret.clone();
        Ok(Response::new(group_commit::serve(
            request.into_inner(),
            draining,
            group,
            move |message: pb::UpsertResumesRequest| prepare(&secret, message.resumes),
            move |group| {
                let (ctx, platform) = (ctx.clone(), platform.clone());
                Box::pin(async move {
                    let answers = store_group(&ctx, &platform, group).await?;
                    Ok(answers
                        .into_iter()
                        .map(|results| pb::UpsertResumesResponse { results })
                        .collect())
                })
            },
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn get_resume(
        &self,
        request: Request<pb::GetResumeRequest>,
    ) -> Result<Response<pb::GetResumeResponse>, Status> {
        let platform = super::platform(&request)?;
        let name = request.into_inner().name;
        let id = own_child(&name, "resumes", "name", &platform)?;
        let resume = self
            .0
            .store
            .get_resume(platform, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{name} not found")))?;
        Ok(Response::new(pb::GetResumeResponse {
            resume: Some(resume_pb(resume)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn erase_person(
        &self,
        request: Request<pb::ErasePersonRequest>,
    ) -> Result<Response<pb::ErasePersonResponse>, Status> {
        let caller = super::caller(&request)?;
        let req = request.into_inner();
        use pb::erase_person_request::Person;
        let (id, key) = match &req.person {
            Some(Person::ResidentIdNumber(id)) => (Some(id.as_str()), None),
            Some(Person::PersonKey(key)) => (None, Some(key.as_str())),
            None => (None, None),
        };
        let person_key = person_key_of(&self.0.person_key_secret, id, key)?;
        let mut v = FieldViolations::new();
        validate::text(&req.reason, "reason", 0, 200, Lines::Single, &mut v);
        v.into_result()?;
        let platform = match caller {
            Caller::Admin => None,
            Caller::Platform { platform, .. } => Some(platform),
        };
        let now = now_micros();
        let count = self
            .0
            .store
            .erase_person(platform, person_key.clone(), now)
            .await?;
        Ok(Response::new(pb::ErasePersonResponse {
            person_key,
            erased_resume_count: i32::try_from(count).unwrap_or(i32::MAX),
            erase_time: Some(timestamp(now)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn export_person(
        &self,
        request: Request<pb::ExportPersonRequest>,
    ) -> Result<Response<pb::ExportPersonResponse>, Status> {
        let caller = super::caller(&request)?;
        let req = request.into_inner();
        use pb::export_person_request::Person;
        let (id, key) = match &req.person {
            Some(Person::ResidentIdNumber(id)) => (Some(id.as_str()), None),
            Some(Person::PersonKey(key)) => (None, Some(key.as_str())),
            None => (None, None),
        };
        let person_key = person_key_of(&self.0.person_key_secret, id, key)?;
        let platform = match caller {
            Caller::Admin => None,
            Caller::Platform { platform, .. } => Some(platform),
        };
        let (applications, employments) = self
            .0
            .store
            .person_records(platform.clone(), person_key.clone())
            .await?;
        let applications: Vec<pb::Application> = applications
            .into_iter()
            .map(super::applications::application_pb)
            .collect();
        let employments: Vec<pb::Employment> = employments
            .into_iter()
            .map(super::employments::employment_pb)
            .collect();
        let resumes: Vec<pb::Resume> = self
            .0
            .store
            .person_resumes(platform, person_key.clone())
            .await?
            .into_iter()
            .map(resume_pb)
            .collect();
        let now = now_micros();
        let document = json!({
            "person_key": person_key,
            "resumes": resumes.iter().map(resume_json).collect::<Vec<_>>(),
            "applications": applications.iter().map(application_json).collect::<Vec<_>>(),
            "employments": employments.iter().map(employment_json).collect::<Vec<_>>(),
            "exported_at": talent_server::rfc3339::of_micros(now).unwrap_or_default(),
        });
        Ok(Response::new(pb::ExportPersonResponse {
            person_key,
            json: document.to_string(),
            resumes,
            applications,
            employments,
            export_time: Some(timestamp(now)),
        }))
    }
}
