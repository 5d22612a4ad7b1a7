//! `PostingService`: job postings, their openings and their lifecycle.

use std::collections::HashSet;

use talent_proto::talent::{recruiting::v1 as pb, r#type::v1 as types};
use talent_server::{
    ApiError, FieldViolations,
    group_commit::{self, AnswerStream},
};
use tonic::{Request, Response, Status, Streaming};

use super::{
    Context, check_parent, employers::outcome_pb, item_status, own_child, page_token,
    parse_child_name, read_page_token, violations_of,
};
use crate::{
    store::{
        PostingFilter, PostingInput, PostingPatch, PostingRecord, PostingState, RecruitingStore,
        fair_name,
    },
    validate::{self, Lines, now_micros, timestamp},
};

/// The most postings one request message may carry.
const MAX_BATCH: usize = 1000;
/// How far in the future a publish time may be.
const PUBLISH_LEEWAY_MICROS: i64 = 5 * 60 * 1_000_000;

pub struct Postings<S>(pub Context<S>);

fn state_pb(state: PostingState) -> pb::posting::State {
    match state {
        PostingState::Open => pb::posting::State::Open,
        PostingState::Closed => pb::posting::State::Closed,
        PostingState::Expired => pb::posting::State::Expired,
    }
}

pub fn posting_pb(p: PostingRecord, now: i64) -> pb::Posting {
    let state = state_pb(p.state(now));
    let close_time = p.close_time(now).map(timestamp);
    let name = p.name();
    let f = p.fields;
    pb::Posting {
        name,
        external_id: p.external_id,
        title: f.title,
        description: f.description,
        employer_credit_code: f.employer_code,
        workplace_district: f.district,
        industry: f.industry,
        occupation_code: f.occupation,
        minimum_degree_level: f.min_degree,
        experience_years: f.experience_years,
        salary: f
            .salary
            .map(|(min_cny, max_cny)| pb::MonthlySalaryRange { min_cny, max_cny }),
        headcount: f.headcount,
        employment_type: f.employment_type,
        publish_time: Some(timestamp(f.publish_at)),
        expire_time: Some(timestamp(f.expire_at)),
        fair: f
            .fair_id
            .map(|fair| fair_name(&p.platform_id, &fair))
            .unwrap_or_default(),
        tags: f.tags,
        state: state as i32,
        opening_id: p.opening_id,
        close_time,
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
    }
}

/// Validators of the individual posting fields, shared by upserts (every
/// field) and `UpdatePosting` (the fields of the mask). Paths are relative
/// to the posting.
struct FieldRules<'a> {
    platform: &'a str,
    now: i64,
}

impl FieldRules<'_> {
    fn title(&self, p: &pb::Posting, v: &mut FieldViolations) -> String {
        validate::text(&p.title, "title", 1, 200, Lines::Single, v)
    }

    fn description(&self, p: &pb::Posting, v: &mut FieldViolations) -> String {
        validate::text(&p.description, "description", 0, 10_000, Lines::Multi, v)
    }

    fn district(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<String> {
        (!p.workplace_district.is_empty()).then(|| {
            validate::district(&p.workplace_district, "workplace_district", v);
            p.workplace_district.clone()
        })
    }

    fn industry(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<String> {
        (!p.industry.is_empty()).then(|| validate::industry(&p.industry, "industry", v))
    }

    fn occupation(&self, p: &pb::Posting, v: &mut FieldViolations) -> String {
        validate::occupation(&p.occupation_code, "occupation_code", v)
    }

    fn min_degree(&self, p: &pb::Posting, v: &mut FieldViolations) -> i32 {
        let known = types::DegreeLevel::try_from(p.minimum_degree_level).is_ok();
        validate::enum_value(
            p.minimum_degree_level,
            known,
            true,
            "minimum_degree_level",
            v,
        );
        p.minimum_degree_level
    }

    fn experience(&self, p: &pb::Posting, v: &mut FieldViolations) -> i32 {
        if !(0..=50).contains(&p.experience_years) {
            v.add("experience_years", "must be 0 to 50");
        }
        p.experience_years
    }

    fn salary(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<(i32, i32)> {
        let s = p.salary.as_ref()?;
        if !(0..=1_000_000).contains(&s.min_cny) {
            v.add("salary.min_cny", "must be 0 to 1,000,000");
        }
        if s.max_cny > 1_000_000 {
            v.add("salary.max_cny", "must be at most 1,000,000");
        } else if s.max_cny < s.min_cny {
            v.add("salary.max_cny", "must be at least salary.min_cny");
        }
        Some((s.min_cny, s.max_cny))
    }

    fn headcount(&self, p: &pb::Posting, v: &mut FieldViolations) -> i32 {
        if !(1..=10_000).contains(&p.headcount) {
            v.add("headcount", "must be 1 to 10,000");
        }
        p.headcount
    }

    fn employment_type(&self, p: &pb::Posting, v: &mut FieldViolations) -> i32 {
        let known = types::EmploymentType::try_from(p.employment_type).is_ok();
        validate::enum_value(p.employment_type, known, true, "employment_type", v);
        if p.employment_type == 0 {
            types::EmploymentType::FullTime as i32
        } else {
            p.employment_type
        }
    }

    fn publish(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<i64> {
        let at = validate::micros(p.publish_time.as_ref()?, "publish_time", v)?;
        if at > self.now + PUBLISH_LEEWAY_MICROS {
            v.add(
                "publish_time",
                "must not be more than 5 minutes in the future",
            );
        }
        Some(at)
    }

    fn expire(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<i64> {
        validate::micros(p.expire_time.as_ref()?, "expire_time", v)
    }

    fn fair(&self, p: &pb::Posting, v: &mut FieldViolations) -> Option<String> {
        if p.fair.is_empty() {
            return None;
        }
        match parse_child_name(&p.fair, "fairs") {
            Some((owner, id)) if owner == self.platform => Some(id.to_owned()),
            _ => {
                v.add(
                    "fair",
                    "must be the resource name of a fair of the calling platform, platforms/{platform}/fairs/{fair}",
                );
                None
            }
        }
    }

    fn tags(&self, p: &pb::Posting, v: &mut FieldViolations) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        for (i, tag) in p.tags.iter().enumerate() {
            let tag = validate::text(tag, &format!("tags[{i}]"), 1, 32, Lines::Single, v);
            if seen.insert(tag.clone()) {
                tags.push(tag);
            }
        }
        if tags.len() > 20 {
            v.add("tags", "must hold at most 20 distinct tags");
        }
        tags
    }

    /// A whole posting of an upsert.
    fn posting(&self, p: &pb::Posting) -> Result<PostingInput, FieldViolations> {
        let mut v = FieldViolations::new();
        validate::external_id(&p.external_id, "external_id", &mut v);
        let input = PostingInput {
            external_id: p.external_id.clone(),
            title: self.title(p, &mut v),
            description: self.description(p, &mut v),
            employer_code: validate::credit_code(
                &p.employer_credit_code,
                "employer_credit_code",
                &mut v,
            ),
            district: self.district(p, &mut v),
            industry: self.industry(p, &mut v),
            occupation: self.occupation(p, &mut v),
            min_degree: self.min_degree(p, &mut v),
            experience_years: self.experience(p, &mut v),
            salary: self.salary(p, &mut v),
            headcount: self.headcount(p, &mut v),
            employment_type: self.employment_type(p, &mut v),
            publish_at: self.publish(p, &mut v),
            expire_at: self.expire(p, &mut v),
            fair_id: self.fair(p, &mut v),
            tags: self.tags(p, &mut v),
        };
        if v.is_empty() { Ok(input) } else { Err(v) }
    }
}

/// Checks one posting of an upsert by `platform` at `now` (paths relative
/// to the posting): the pure entry point of both upsert methods.
pub(super) fn check_posting(
    platform: &str,
    now: i64,
    posting: &pb::Posting,
) -> Result<PostingInput, FieldViolations> {
    FieldRules { platform, now }.posting(posting)
}

/// Re-roots violations relative to a posting under `prefix`.
fn prefixed(prefix: &str, violations: FieldViolations) -> FieldViolations {
    let mut out = FieldViolations::new();
    for v in violations.iter() {
        out.add(format!("{prefix}.{}", v.field), v.description.clone());
    }
    out
}

/// One request message's postings, validated, waiting for the store.
type Prepared = super::Prepared<PostingInput, pb::PostingResult>;

/// Validates one request message's postings, each on its own.
fn prepare(platform: &str, postings: Vec<pb::Posting>) -> Result<Prepared, ApiError> {
    if postings.is_empty() || postings.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "postings",
            "must hold 1 to 1,000 postings",
        ));
    }
    let now = now_micros();
    let rules = FieldRules { platform, now };
    let mut prepared = Prepared {
        now,
        results: Vec::with_capacity(postings.len()),
        valid: Vec::with_capacity(postings.len()),
        positions: Vec::with_capacity(postings.len()),
    };
    for (index, posting) in postings.iter().enumerate() {
        match rules.posting(posting) {
            Ok(input) => {
                prepared.positions.push(index);
                prepared.valid.push(input);
                prepared.results.push(None);
            }
            Err(v) => prepared.results.push(Some(rejected(
                index,
                posting.external_id.clone(),
                item_status(&format!("postings[{index}]"), violations_of(v)),
            ))),
        }
    }
    Ok(prepared)
}

/// Stores a message's valid postings in one store transaction; one result
/// per posting of the message, in order.
async fn store<S: RecruitingStore>(
    ctx: &Context<S>,
    platform: &str,
    prepared: Prepared,
) -> Result<Vec<pb::PostingResult>, ApiError> {
    let mut answers = store_group(ctx, platform, vec![prepared]).await?;
    Ok(answers.pop().unwrap_or_default())
}

/// Stores the valid postings of several messages in one store
/// transaction (see `super::store_group`); the results of each message.
async fn store_group<S: RecruitingStore>(
    ctx: &Context<S>,
    platform: &str,
    group: Vec<Prepared>,
) -> Result<Vec<Vec<pb::PostingResult>>, ApiError> {
    super::store_group(
        group,
        |p| p.external_id.clone(),
        |valid, now| ctx.store.upsert_postings(platform.to_owned(), valid, now),
        |index, external_id, result| match result {
            Ok(summary) => pb::PostingResult {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                name: crate::store::posting_name(platform, &external_id),
                external_id,
                outcome: outcome_pb(summary.outcome) as i32,
                opening_id: summary.opening_id,
                error: None,
            },
            Err(err) => rejected(
                index,
                external_id,
                item_status(&format!("postings[{index}]"), err),
            ),
        },
    )
    .await
}

fn rejected(
    index: usize,
    external_id: String,
    error: tonic_types::pb::Status,
) -> pb::PostingResult {
    pb::PostingResult {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        external_id,
        name: String::new(),
        outcome: pb::UpsertOutcome::Rejected as i32,
        opening_id: String::new(),
        error: Some(error),
    }
}

/// The fields `UpdatePosting` may change.
const MASKABLE: &[&str] = &[
    "title",
    "description",
    "workplace_district",
    "industry",
    "occupation_code",
    "minimum_degree_level",
    "experience_years",
    "salary",
    "headcount",
    "employment_type",
    "expire_time",
    "fair",
    "tags",
];

#[tonic::async_trait]
impl<S: RecruitingStore> pb::posting_service_server::PostingService for Postings<S> {
    #[tracing::instrument(skip_all, fields(platform))]
    async fn upsert_postings(
        &self,
        request: Request<Streaming<pb::UpsertPostingsRequest>>,
    ) -> Result<Response<AnswerStream<pb::UpsertPostingsResponse>>, Status> {
        let platform = super::platform(&request)?;
        tracing::Span::current().record("platform", platform.as_str());
        let ctx = self.0.clone();
        let draining = ctx.draining.clone();
        let group = ctx.store.stream_group();
        let owner = platform.clone();
        Ok(Response::new(group_commit::serve(
            request.into_inner(),
            draining,
            group,
            move |message: pb::UpsertPostingsRequest| prepare(&owner, message.postings),
            move |group| {
                let (ctx, platform) = (ctx.clone(), platform.clone());
                Box::pin(async move {
                    let answers = store_group(&ctx, &platform, group).await?;
                    Ok(answers
                        .into_iter()
                        .map(|results| pb::UpsertPostingsResponse { results })
                        .collect())
                })
            },
        )))
    }

    #[tracing::instrument(skip_all, fields(platform, items))]
    async fn batch_upsert_postings(
        &self,
        request: Request<pb::BatchUpsertPostingsRequest>,
    ) -> Result<Response<pb::BatchUpsertPostingsResponse>, Status> {
        let platform = super::platform(&request)?;
        let postings = request.into_inner().postings;
        tracing::Span::current()
            .record("platform", platform.as_str())
            .record("items", postings.len());
        let prepared = prepare(&platform, postings)?;
        let results = store(&self.0, &platform, prepared).await?;
        Ok(Response::new(pb::BatchUpsertPostingsResponse { results }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_posting(
        &self,
        request: Request<pb::GetPostingRequest>,
    ) -> Result<Response<pb::GetPostingResponse>, Status> {
        let platform = super::platform(&request)?;
        let name = request.into_inner().name;
        let id = own_child(&name, "postings", "name", &platform)?;
        let posting = self
            .0
            .store
            .get_posting(platform, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{name} not found")))?;
        Ok(Response::new(pb::GetPostingResponse {
            posting: Some(posting_pb(posting, now_micros())),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_postings(
        &self,
        request: Request<pb::ListPostingsRequest>,
    ) -> Result<Response<pb::ListPostingsResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        check_parent(&req.parent, &platform)?;
        let mut v = FieldViolations::new();
        let limit = validate::page_size(req.page_size, "page_size", &mut v);
        let mut filter = PostingFilter::default();
        match pb::posting::State::try_from(req.state) {
            Ok(pb::posting::State::Unspecified) => {}
            Ok(pb::posting::State::Open) => filter.state = Some(PostingState::Open),
            Ok(pb::posting::State::Closed) => filter.state = Some(PostingState::Closed),
            Ok(pb::posting::State::Expired) => filter.state = Some(PostingState::Expired),
            Err(_) => v.add("state", format!("unknown enum value {}", req.state)),
        }
        if !req.workplace_district.is_empty() {
            validate::district_prefix(&req.workplace_district, "workplace_district", &mut v);
            filter.district_prefix = Some(req.workplace_district.clone());
        }
        if !req.industry.is_empty() {
            filter.industry_prefix =
                Some(validate::industry_prefix(&req.industry, "industry", &mut v));
        }
        if !req.employer_credit_code.is_empty() {
            filter.employer_code = Some(validate::credit_code(
                &req.employer_credit_code,
                "employer_credit_code",
                &mut v,
            ));
        }
        if !req.fair.is_empty() {
            match parse_child_name(&req.fair, "fairs") {
                Some((owner, id)) if owner == platform => filter.fair_id = Some(id.to_owned()),
                _ => v.add(
                    "fair",
                    "must be the resource name of a fair of the calling platform",
                ),
            }
        }
        if let Some(since) = &req.updated_since {
            filter.updated_since = validate::micros(since, "updated_since", &mut v);
        }
        let filters = format!("{filter:?}");
        let cursor = read_page_token(&req.page_token, &filters, &mut v);
        v.into_result()?;
        let after =
            cursor.and_then(|c| Some((c.get(0)?.as_i64()?, c.get(1)?.as_str()?.to_owned())));
        let now = now_micros();
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut postings = self
            .0
            .store
            .list_postings(platform, filter, after, limit + 1, now)
            .await?;
        let more = postings.len() > size;
        postings.truncate(size);
        let next_page_token = match postings.last() {
            Some(last) if more => page_token(
                &filters,
                serde_json::json!([last.updated_at, last.external_id]),
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListPostingsResponse {
            postings: postings.into_iter().map(|p| posting_pb(p, now)).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_posting(
        &self,
        request: Request<pb::UpdatePostingRequest>,
    ) -> Result<Response<pb::UpdatePostingResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        let Some(posting) = req.posting else {
            return Err(ApiError::invalid("posting", "is required").into());
        };
        let id = own_child(&posting.name, "postings", "posting.name", &platform)?;
        let now = now_micros();
        let rules = FieldRules {
            platform: &platform,
            now,
        };
        let mut v = FieldViolations::new();
        let mut mask_v = FieldViolations::new();
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            mask_v.add("update_mask", "is required: name the fields to change");
        }
        let mut patch = PostingPatch::default();
        for (i, path) in paths.iter().enumerate() {
            let p = &posting;
            match path.as_str() {
                "title" => patch.title = Some(rules.title(p, &mut v)),
                "description" => patch.description = Some(rules.description(p, &mut v)),
                "workplace_district" => patch.district = Some(rules.district(p, &mut v)),
                "industry" => patch.industry = Some(rules.industry(p, &mut v)),
                "occupation_code" => patch.occupation = Some(rules.occupation(p, &mut v)),
                "minimum_degree_level" => patch.min_degree = Some(rules.min_degree(p, &mut v)),
                "experience_years" => patch.experience_years = Some(rules.experience(p, &mut v)),
                "salary" => patch.salary = Some(rules.salary(p, &mut v)),
                "headcount" => patch.headcount = Some(rules.headcount(p, &mut v)),
                "employment_type" => patch.employment_type = Some(rules.employment_type(p, &mut v)),
                "expire_time" => patch.expire_at = Some(rules.expire(p, &mut v)),
                "fair" => patch.fair_id = Some(rules.fair(p, &mut v)),
                "tags" => patch.tags = Some(rules.tags(p, &mut v)),
                other => mask_v.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "{other:?} cannot be updated; allowed: {}",
                        MASKABLE.join(", ")
                    ),
                ),
            }
        }
        let mut all = prefixed("posting", v);
        for violation in mask_v.iter() {
            all.add(violation.field.clone(), violation.description.clone());
        }
        all.into_result()?;
        let record = self
            .0
            .store
            .update_posting(platform, id, patch, now)
            .await?;
        Ok(Response::new(pb::UpdatePostingResponse {
            posting: Some(posting_pb(record, now)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn close_posting(
        &self,
        request: Request<pb::ClosePostingRequest>,
    ) -> Result<Response<pb::ClosePostingResponse>, Status> {
        let platform = super::platform(&request)?;
        let req = request.into_inner();
        let id = own_child(&req.name, "postings", "name", &platform)?;
        let now = now_micros();
        let mut v = FieldViolations::new();
        let close_at = req
            .close_time
            .as_ref()
            .and_then(|t| validate::micros(t, "close_time", &mut v));
        if close_at.is_some_and(|at| at > now) {
            v.add("close_time", "must not be in the future");
        }
        v.into_result()?;
        let record = self
            .0
            .store
            .close_posting(platform, id, close_at, now)
            .await?;
        Ok(Response::new(pb::ClosePostingResponse {
            posting: Some(posting_pb(record, now)),
        }))
    }
}
