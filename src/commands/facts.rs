//! `talent push` of the facts behind the recruiting service's batch calls:
//! applications, application moves, hires, separations, fairs and
//! participations, in calls of at most 1,000 items, each item's result
//! counted against its line.

use std::{collections::BTreeMap, io::BufRead};

use anyhow::{Context, anyhow};
use talent_proto::talent::recruiting::v1::{
    self as pb, UpsertOutcome, application_service_client::ApplicationServiceClient,
    employment_service_client::EmploymentServiceClient, fair_service_client::FairServiceClient,
    posting_service_client::PostingServiceClient,
};

use super::{ItemResult, PushKind, PushSummary, bar_if, tally_with};
use crate::{
    client::{self, Authed},
    files::{
        self, FileFormat, LineError, Violation,
        facts::{Separation, resource},
    },
};

/// Items per batch call: the most the service takes.
const BATCH: usize = 1000;

const WHAT: &str = "the recruiting service";

/// One item's result of any batch call of these kinds.
struct Answer {
    index: i32,
    outcome: UpsertOutcome,
    error: Option<tonic_types::pb::Status>,
}

impl ItemResult for Answer {
    fn index(&self) -> i32 {
        self.index
    }
    fn outcome(&self) -> UpsertOutcome {
        self.outcome
    }
    fn error(&self) -> Option<&tonic_types::pb::Status> {
        self.error.as_ref()
    }
}

fn answer(index: i32, error: Option<tonic_types::pb::Status>, ok: UpsertOutcome) -> Answer {
    let outcome = if error.is_some() {
        UpsertOutcome::Rejected
    } else {
        ok
    };
    Answer {
        index,
        outcome,
        error,
    }
}

/// The platform id of the key: read from the name of one of its own
/// resources. A platform with none of them cannot refer to any, so then
/// `-` (every reference is then NOT_FOUND, line by line).
async fn platform_of(channel: &Authed) -> anyhow::Result<String> {
    let explain = |s: tonic::Status| client::explain(&s, WHAT);
    let mut names = Vec::new();
    let postings = PostingServiceClient::new(channel.clone())
        .list_postings(pb::ListPostingsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .map_err(explain)?
        .into_inner();
    names.extend(postings.postings.into_iter().map(|p| p.name));
    if names.is_empty() {
        let fairs = FairServiceClient::new(channel.clone())
            .list_fairs(pb::ListFairsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .map_err(explain)?
            .into_inner();
        names.extend(fairs.fairs.into_iter().map(|f| f.name));
    }
    if names.is_empty() {
        let employments = EmploymentServiceClient::new(channel.clone())
            .list_employments(pb::ListEmploymentsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .map_err(explain)?
            .into_inner();
        names.extend(employments.employments.into_iter().map(|e| e.name));
    }
    Ok(names
        .first()
        .and_then(|n| n.strip_prefix("platforms/"))
        .and_then(|n| n.split('/').next())
        .unwrap_or("-")
        .to_owned())
}

/// The file's column for a field path of the request item.
fn column(kind: PushKind, field: &str) -> String {
    let field = field
        .strip_prefix("application.")
        .or_else(|| field.strip_prefix("fair."))
        .or_else(|| field.strip_prefix("participation."))
        .unwrap_or(field);
    match (kind, field) {
        (PushKind::ApplicationMoves, "name") => "application".into(),
        (PushKind::Separations, "name") => "employment".into(),
        (PushKind::Participations, "parent") => "fair".into(),
        (PushKind::Hires, "person") => "resume".into(),
        _ => field.to_owned(),
    }
}

fn parse<R: BufRead, T>(
    reader: R,
    format: FileFormat,
    convert: files::Convert<T>,
    rejects: &mut Vec<LineError>,
) -> anyhow::Result<Vec<(usize, T)>> {
    let parsed = files::parse_all(reader, format, convert)?;
    rejects.extend(parsed.rejects);
    Ok(parsed.items)
}

/// Sends `items` in batches with `call`, tallying each batch's answers.
async fn batches<T: Clone, F, Fut>(
    kind: PushKind,
    items: Vec<(usize, T)>,
    what: &str,
    show_progress: bool,
    summary: &mut PushSummary,
    rejects: &mut Vec<LineError>,
    mut call: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Answer>, tonic::Status>>,
{
    let bar = bar_if(show_progress, items.len(), what);
    for chunk in items.chunks(BATCH) {
        let (lines, batch): (Vec<usize>, Vec<T>) = chunk.iter().cloned().unzip();
        let answers = call(batch).await.map_err(|s| client::explain(&s, WHAT))?;
        tally_with(&answers, &lines, summary, rejects, &|f| column(kind, f))?;
        bar.inc(lines.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Pushes a file of one of the fact kinds (not employers, postings or
/// résumés) over `channel`.
pub(super) async fn push_facts<R: BufRead>(
    kind: PushKind,
    reader: R,
    format: FileFormat,
    channel: Authed,
    show_progress: bool,
    summary: &mut PushSummary,
    rejects: &mut Vec<LineError>,
) -> anyhow::Result<()> {
    let p = platform_of(&channel).await?;
    let p = p.as_str();
    match kind {
        PushKind::Applications => {
            let mut items = parse(reader, format, files::facts::application, rejects)?;
            for (_, r) in &mut items {
                if let Some(a) = r.application.as_mut() {
                    a.resume = resource(p, "resumes", &a.resume);
                    a.posting = resource(p, "postings", &a.posting);
                    a.fair = resource(p, "fairs", &a.fair);
                }
            }
            let api = ApplicationServiceClient::new(channel);
            batches(
                kind,
                items,
                "applications",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_create_applications(pb::BatchCreateApplicationsRequest {
                                parent: String::new(),
                                requests,
                            })
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| answer(r.index, r.error, UpsertOutcome::Created))
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::ApplicationMoves => {
            let mut items = parse(reader, format, files::facts::application_move, rejects)?;
            for (_, r) in &mut items {
                r.name = resource(p, "applications", &r.name);
            }
            let api = ApplicationServiceClient::new(channel);
            batches(
                kind,
                items,
                "moves",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_update_application_status(
                                pb::BatchUpdateApplicationStatusRequest { requests },
                            )
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| answer(r.index, r.error, UpsertOutcome::Updated))
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::Hires => {
            let mut items = parse(reader, format, files::facts::hire, rejects)?;
            for (_, r) in &mut items {
                if let Some(pb::record_hire_request::Person::Resume(id)) = r.person.as_mut() {
                    *id = resource(p, "resumes", id);
                }
                r.posting = resource(p, "postings", &r.posting);
            }
            let api = EmploymentServiceClient::new(channel);
            batches(
                kind,
                items,
                "hires",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_record_hires(pb::BatchRecordHiresRequest {
                                parent: String::new(),
                                requests,
                            })
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| answer(r.index, r.error, UpsertOutcome::Created))
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::Separations => {
            let items = parse(reader, format, files::facts::separation, rejects)?;
            let mut api = EmploymentServiceClient::new(channel);
            let items = find_employments(&mut api, p, items, rejects).await?;
            batches(
                kind,
                items,
                "separations",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_record_separations(pb::BatchRecordSeparationsRequest {
                                requests,
                            })
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| answer(r.index, r.error, UpsertOutcome::Updated))
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::Fairs => {
            let items = parse(reader, format, files::facts::fair, rejects)?;
            let api = FairServiceClient::new(channel);
            batches(
                kind,
                items,
                "fairs",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_create_fairs(pb::BatchCreateFairsRequest {
                                parent: String::new(),
                                requests,
                            })
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| answer(r.index, r.error, UpsertOutcome::Created))
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::Participations => {
            let mut items = parse(reader, format, files::facts::participation, rejects)?;
            for (_, r) in &mut items {
                r.parent = resource(p, "fairs", &r.parent);
            }
            let api = FairServiceClient::new(channel);
            batches(
                kind,
                items,
                "participations",
                show_progress,
                summary,
                rejects,
                |requests| {
                    let mut api = api.clone();
                    async move {
                        let r = api
                            .batch_register_participations(pb::BatchRegisterParticipationsRequest {
                                requests,
                            })
                            .await?;
                        Ok(r.into_inner()
                            .results
                            .into_iter()
                            .map(|r| {
                                let ok = if r.created {
                                    UpsertOutcome::Created
                                } else {
                                    UpsertOutcome::Unchanged
                                };
                                answer(r.index, r.error, ok)
                            })
                            .collect())
                    }
                },
            )
            .await
        }
        PushKind::Employers | PushKind::Postings | PushKind::Resumes => {
            Err(anyhow!("{kind:?} are not pushed as facts"))
        }
    }
}

/// Separation requests for the lines: an employment named by id as it is;
/// one named by its hire (employer, résumé, first day) looked up among the
/// employer's employments of the platform. A hire that matches no
/// employment, or several, is a rejected line.
async fn find_employments(
    api: &mut EmploymentServiceClient<Authed>,
    platform: &str,
    items: Vec<(usize, Separation)>,
    rejects: &mut Vec<LineError>,
) -> anyhow::Result<Vec<(usize, pb::RecordSeparationRequest)>> {
    // (employer, résumé name, start) → employment names.
    type Key = (String, String, (i32, i32, i32));
    let mut found: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let employers: std::collections::BTreeSet<&str> = items
        .iter()
        .filter(|(_, s)| s.employment.is_empty())
        .map(|(_, s)| s.employer_credit_code.as_str())
        .collect();
    for employer in employers {
        let mut page_token = String::new();
        loop {
            let page = api
                .list_employments(pb::ListEmploymentsRequest {
                    page_size: 1000,
                    page_token: page_token.clone(),
                    employer_credit_code: employer.to_owned(),
                    ..Default::default()
                })
                .await
                .map_err(|s| client::explain(&s, WHAT))
                .with_context(|| format!("looking up the employments of {employer}"))?
                .into_inner();
            for e in page.employments {
                let Some(d) = e.start_date else { continue };
                found
                    .entry((employer.to_owned(), e.resume, (d.year, d.month, d.day)))
                    .or_default()
                    .push(e.name);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    let mut out = Vec::new();
    for (line, s) in items {
        let name = if s.employment.is_empty() {
            let d = s.start_date.unwrap_or_default();
            let key = (
                s.employer_credit_code.clone(),
                resource(platform, "resumes", &s.resume),
                (d.year, d.month, d.day),
            );
            match found.get(&key).map(Vec::as_slice) {
                Some([one]) => one.clone(),
                Some(_) => {
                    rejects.push(LineError {
                        line,
                        violations: vec![Violation::new(
                            "start_date",
                            "several employments of this résumé start on this day at this employer: give employment",
                        )],
                    });
                    continue;
                }
                None => {
                    rejects.push(LineError {
                        line,
                        violations: vec![Violation::new(
                            "resume",
                            "no employment of this résumé starts on start_date at this employer",
                        )],
                    });
                    continue;
                }
            }
        } else {
            resource(platform, "employments", &s.employment)
        };
        out.push((
            line,
            pb::RecordSeparationRequest {
                name,
                end_date: s.end_date,
            },
        ));
    }
    Ok(out)
}
