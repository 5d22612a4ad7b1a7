//! The gRPC services of `talent.metrics.v1`: thin handlers that
//! authenticate, decode, call the domain and map errors.

mod admin;

use std::sync::Arc;

use talent_proto::talent::metrics::v1 as pb;
use talent_server::{
    ApiError,
    audit::{self, Audit, Fields, Who},
    auth::{AdminKey, Authenticate},
    group_commit::{self, AnswerStream},
    key_cache::KeyCache,
    quota::Holder,
};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use talent_codes as codes;

use crate::{
    disclosure::{PerturbationTable, Protection},
    ingest::{self, IngestSettings, RowOutcome},
    stats::{self, Viewer},
    store::{KeyRow, Store},
};

/// What every handler shares.
pub struct State {
    pub store: Store,
    pub ingest: IngestSettings,
    pub admin_key: Option<AdminKey>,
    /// The perturbation table of PERTURBED keys' answers.
    pub table: PerturbationTable,
    /// From this instant on the logs' key sums are complete (see
    /// `backfill`).
    pub keys_complete_at: i64,
    /// Cancelled when the service begins to shut down.
    pub draining: talent_server::CancellationToken,
    /// The audit log in the service's database, for `ListAuditEvents`.
    pub audit: audit::list::AuditEvents,
    /// Keys verified recently in this replica; emptied when a key is
    /// revoked through it.
    pub verified: KeyCache<Caller>,
}

pub type Shared = Arc<State>;

/// The kinds of key the metrics service's methods allow (see [`ACCESS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The configured admin key.
    Admin,
    /// Publishes events (the recruiting service's relay).
    Relay,
    /// Imports graduate rosters (the universities).
    Roster,
    Read,
    Operator,
}

impl KeyKind {
    /// The kind of a stored key; none for a kind this version does not
    /// know (such a key may call nothing).
    fn of(row: &KeyRow) -> Option<Self> {
        match row.kind.as_str() {
            "RELAY" => Some(Self::Relay),
            "ROSTER" => Some(Self::Roster),
            "READ" => Some(Self::Read),
            "OPERATOR" => Some(Self::Operator),
            _ => None,
        }
    }
}

/// A verified caller: the admin key or an active stored key of a known
/// kind.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    Key(KeyKind, KeyRow),
}

const ADMIN: &[KeyKind] = &[KeyKind::Admin];
const RELAY: &[KeyKind] = &[KeyKind::Relay];
const ROSTER: &[KeyKind] = &[KeyKind::Roster];
const READ: &[KeyKind] = &[KeyKind::Read, KeyKind::Operator];

/// Who may call each method. A method not listed here is refused to every
/// key (see [`talent_server::auth`]).
pub const ACCESS: &[(&str, &[KeyKind])] = &[
    ("/talent.metrics.v1.AdminService/IssueKey", ADMIN),
    ("/talent.metrics.v1.AdminService/ListKeys", ADMIN),
    ("/talent.metrics.v1.AdminService/RevokeKey", ADMIN),
    ("/talent.metrics.v1.AdminService/ListAuditEvents", ADMIN),
    ("/talent.metrics.v1.IngestService/PublishEvents", RELAY),
    (
        "/talent.metrics.v1.IngestService/ImportGraduateRoster",
        ROSTER,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetTalentGathered",
        READ,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetGraduateOutcomes",
        READ,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetRecruitmentActivity",
        READ,
    ),
    ("/talent.metrics.v1.StatisticsService/GetPeriodReport", READ),
];

/// How each method's calls are audited (see [`talent_server::audit`]):
/// every admin action and every statistics query; a method not listed
/// here fails the unit test below.
pub const AUDIT: &[(&str, Audit)] = &[
    ("/talent.metrics.v1.AdminService/IssueKey", Audit::Recorded),
    ("/talent.metrics.v1.AdminService/ListKeys", Audit::Recorded),
    ("/talent.metrics.v1.AdminService/RevokeKey", Audit::Recorded),
    (
        "/talent.metrics.v1.AdminService/ListAuditEvents",
        Audit::Recorded,
    ),
    ("/talent.metrics.v1.IngestService/PublishEvents", Audit::No),
    (
        "/talent.metrics.v1.IngestService/ImportGraduateRoster",
        Audit::No,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetTalentGathered",
        Audit::Queued,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetGraduateOutcomes",
        Audit::Queued,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetRecruitmentActivity",
        Audit::Queued,
    ),
    (
        "/talent.metrics.v1.StatisticsService/GetPeriodReport",
        Audit::Queued,
    ),
];

/// Which fields of the audited requests are recorded and which identify
/// or describe a person (never recorded). Every field must be named here.
/// No request of metrics names a person: a key's display name is its
/// holder's, an institution.
pub const AUDIT_FIELDS: &[Fields] = &[
    Fields::of(
        "talent.metrics.v1.IssueKeyRequest",
        &[
            "kind",
            "display_name",
            "disclosure_threshold",
            "protection",
            "expire_time",
        ],
        &[],
    ),
    Fields::of(
        "talent.metrics.v1.ListKeysRequest",
        &["page_size", "page_token", "show_revoked"],
        &[],
    ),
    Fields::of("talent.metrics.v1.RevokeKeyRequest", &["name"], &[]),
    Fields::of(
        "talent.metrics.v1.ListAuditEventsRequest",
        &["page_size", "page_token", "start_time", "end_time", "key"],
        &[],
    ),
    Fields::of(
        "talent.metrics.v1.GetTalentGatheredRequest",
        &["period", "group_by", "filter", "as_known_at"],
        &[],
    ),
    Fields::of(
        "talent.metrics.v1.GetGraduateOutcomesRequest",
        &["cohort_year", "as_of", "group_by", "filter", "as_known_at"],
        &[],
    ),
    Fields::of(
        "talent.metrics.v1.GetRecruitmentActivityRequest",
        &["period", "group_by", "filter", "as_known_at"],
        &[],
    ),
    Fields::of(
        "talent.metrics.v1.GetPeriodReportRequest",
        &["period", "cohort_year", "as_of", "as_known_at"],
        &[],
    ),
    Fields::of("talent.type.v1.Period", &["start_date", "end_date"], &[]),
    Fields::of(
        "talent.metrics.v1.Filter",
        &[
            "districts",
            "industries",
            "tiers",
            "platform_ids",
            "university_codes",
            "degree_levels",
            "disciplines",
        ],
        &[],
    ),
];

impl Caller {
    /// Who called, as the audit log names them: `keys/{key}` or `admin`.
    pub fn audit_name(&self) -> Who {
        match self {
            Caller::Admin => Who {
                key: "admin".into(),
                admin: true,
            },
            Caller::Key(_, key) => Who {
                key: format!("keys/{}", key.id),
                admin: false,
            },
        }
    }
}

/// Who holds a bearer token: the admin key (when one is configured) or an
/// unrevoked key in the store, remembered in this replica's cache.
pub struct Keys(pub Shared);

impl Authenticate for Keys {
    type Kind = KeyKind;
    type Caller = Caller;

    async fn authenticate(&self, token: String) -> Result<Caller, ApiError> {
        let state = &self.0;
        let caller = identify(
            &state.store,
            state.admin_key.as_ref(),
            &state.verified,
            &token,
            codes::now_micros(),
        )
        .await?;
        talent_server::telemetry::record_peer(match &caller {
            Caller::Admin => "admin",
            Caller::Key(_, key) => &key.id,
        });
        Ok(caller)
    }

    fn kind(caller: &Caller) -> KeyKind {
        match caller {
            Caller::Admin => KeyKind::Admin,
            Caller::Key(kind, _) => *kind,
        }
    }

    /// Every key by its name; none reports facts at a platform's rate.
    fn holder(caller: &Caller) -> Holder {
        let subject = match caller {
            Caller::Admin => "admin".to_owned(),
            Caller::Key(_, key) => format!("keys/{}", key.id),
        };
        Holder {
            subject,
            rate_limited: false,
        }
    }
}

/// `UNAUTHENTICATED` without an active key, `PERMISSION_DENIED` for a
/// key of a kind that may call nothing.
async fn identify(
    store: &Store,
    admin_key: Option<&AdminKey>,
    verified: &KeyCache<Caller>,
    token: &str,
    now: i64,
) -> Result<Caller, ApiError> {
    let digest = talent_server::auth::sha256(token);
    if admin_key.is_some_and(|admin| admin.is(&digest)) {
        return Ok(Caller::Admin);
    }
    if let Some(caller) = verified.get(&digest, now) {
        return Ok(caller);
    }
    let generation = verified.generation();
    let key = store
        .key_by_hash(&hex::encode(digest))
        .await?
        .filter(|k| k.is_active(now))
        .ok_or_else(|| ApiError::Unauthenticated("a valid metrics key is required".into()))?;
    let Some(kind) = KeyKind::of(&key) else {
        return Err(ApiError::PermissionDenied(format!(
            "a {} key may call nothing",
            key.kind
        )));
    };
    let expire_at = key.expire_at;
    let caller = Caller::Key(kind, key);
    verified.insert(digest.to_vec(), caller.clone(), expire_at, now, generation);
    Ok(caller)
}

impl State {
    /// What the statistics show the caller of `request`.
    fn viewer<T>(&self, request: &Request<T>) -> Result<Viewer<'_>, ApiError> {
        let protection = match talent_server::auth::caller(request.extensions())? {
            Caller::Admin | Caller::Key(KeyKind::Operator, _) => Protection::Exact,
            // A READ key whose protection is unreadable is treated as
            // PERTURBED: the safe side.
            Caller::Key(_, key) => {
                Protection::parse(&key.protection).unwrap_or(Protection::Perturbed)
            }
        };
        Ok(Viewer {
            protection,
            table: &self.table,
            keys_complete_at: self.keys_complete_at,
        })
    }
}

pub struct Admin(pub Shared);

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for Admin {
    #[tracing::instrument(skip_all)]
    async fn issue_key(
        &self,
        request: Request<pb::IssueKeyRequest>,
    ) -> Result<Response<pb::IssueKeyResponse>, Status> {
        Ok(Response::new(
            admin::issue(&self.0, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        Ok(Response::new(
            admin::list(&self.0, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::RevokeKeyResponse>, Status> {
        Ok(Response::new(
            admin::revoke(&self.0, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        Ok(Response::new(
            admin::audit_events(&self.0, request.into_inner()).await?,
        ))
    }
}

pub struct Ingest(pub Shared);

/// Most rejected rows returned by one roster import.
const MAX_REJECTED_ROWS: usize = 10_000;

/// Request messages applied in one transaction, at most.
const GROUP_MESSAGES: usize = 4;

/// A message's events, checked before it joins a group.
fn check_message(message: pb::PublishEventsRequest) -> Result<pb::PublishEventsRequest, ApiError> {
    if message.events.len() > MAX_EVENTS {
        return Err(ApiError::invalid(
            "events",
            "at most 1,000 events per message",
        ));
    }
    Ok(message)
}

/// Events in one request message, at most.
const MAX_EVENTS: usize = 1000;

#[tonic::async_trait]
impl pb::ingest_service_server::IngestService for Ingest {
    #[tracing::instrument(skip_all)]
    async fn publish_events(
        &self,
        request: Request<Streaming<pb::PublishEventsRequest>>,
    ) -> Result<Response<AnswerStream<pb::PublishEventsResponse>>, Status> {
        // Group commit: a relay keeps several messages in flight, so
        // under load each transaction's fixed cost (its commit's fsync, the
        // statements' round trips) is shared by several messages; alone, a
        // message goes at once. The acks are what separate transactions
        // would give: events are applied in order, and a later copy of an
        // id is a duplicate either way.
        let state = self.0.clone();
        let draining = state.draining.clone();
        Ok(Response::new(group_commit::serve(
            request.into_inner(),
            draining,
            GROUP_MESSAGES,
            check_message,
            move |group: Vec<pb::PublishEventsRequest>| {
                let state = state.clone();
                Box::pin(async move {
                    let sizes: Vec<usize> = group.iter().map(|m| m.events.len()).collect();
                    let events: Vec<_> = group.into_iter().flat_map(|m| m.events).collect();
                    let acks = ingest::publish(&state.store, &state.ingest, &events).await?;
                    tracing::debug!(events = events.len(), messages = sizes.len(), "applied");
                    let mut acks = acks.into_iter();
                    Ok(sizes
                        .into_iter()
                        .map(|n| pb::PublishEventsResponse {
                            acks: acks.by_ref().take(n).collect(),
                        })
                        .collect())
                })
            },
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn import_graduate_roster(
        &self,
        request: Request<Streaming<pb::ImportGraduateRosterRequest>>,
    ) -> Result<Response<pb::ImportGraduateRosterResponse>, Status> {
        let mut incoming = request.into_inner();
        let mut response = pb::ImportGraduateRosterResponse::default();
        let mut position = 0u64;
        while let Some(message) = incoming.next().await {
            let rows = message?.rows;
            if rows.len() > 1000 {
                return Err(ApiError::invalid("rows", "at most 1,000 rows per message").into());
            }
            let n = rows.len() as u64;
            let outcomes =
                ingest::import_roster(&self.0.store, &self.0.ingest, rows, position).await?;
            position += n;
            for (row_id, outcome) in outcomes {
                match outcome {
                    RowOutcome::Accepted => response.accepted_count += 1,
                    RowOutcome::Unchanged => response.unchanged_count += 1,
                    RowOutcome::Rejected(error) => {
                        response.rejected_count += 1;
                        if response.rejected_rows.len() < MAX_REJECTED_ROWS {
                            response.rejected_rows.push(pb::RejectedRow {
                                row_id,
                                error: Some(error),
                            });
                        } else {
                            response.rejected_rows_truncated = true;
                        }
                    }
                }
            }
        }
        tracing::info!(
            accepted = response.accepted_count,
            unchanged = response.unchanged_count,
            rejected = response.rejected_count,
            "roster imported"
        );
        Ok(Response::new(response))
    }
}

pub struct Statistics(pub Shared);

#[tonic::async_trait]
impl pb::statistics_service_server::StatisticsService for Statistics {
    #[tracing::instrument(skip_all)]
    async fn get_talent_gathered(
        &self,
        request: Request<pb::GetTalentGatheredRequest>,
    ) -> Result<Response<pb::GetTalentGatheredResponse>, Status> {
        let viewer = self.0.viewer(&request)?;
        Ok(Response::new(
            stats::talent_gathered(&self.0.store, viewer, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_graduate_outcomes(
        &self,
        request: Request<pb::GetGraduateOutcomesRequest>,
    ) -> Result<Response<pb::GetGraduateOutcomesResponse>, Status> {
        let viewer = self.0.viewer(&request)?;
        Ok(Response::new(
            stats::graduate_outcomes(&self.0.store, viewer, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_recruitment_activity(
        &self,
        request: Request<pb::GetRecruitmentActivityRequest>,
    ) -> Result<Response<pb::GetRecruitmentActivityResponse>, Status> {
        let viewer = self.0.viewer(&request)?;
        Ok(Response::new(
            stats::recruitment_activity(&self.0.store, viewer, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_period_report(
        &self,
        request: Request<pb::GetPeriodReportRequest>,
    ) -> Result<Response<pb::GetPeriodReportResponse>, Status> {
        let viewer = self.0.viewer(&request)?;
        Ok(Response::new(
            stats::period_report(&self.0.store, viewer, request.get_ref()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_method_has_exactly_one_access_entry() {
        let served = talent_server::methods::Methods::of(
            &[
                pb::admin_service_server::SERVICE_NAME,
                pb::ingest_service_server::SERVICE_NAME,
                pb::statistics_service_server::SERVICE_NAME,
            ],
            &[talent_proto::FILE_DESCRIPTOR_SET],
        )
        .unwrap();
        let access = talent_server::auth::Access::new(ACCESS);
        assert_eq!(access.mismatches(&served), Vec::<String>::new());
        assert_eq!(
            audit::mismatches(
                AUDIT,
                AUDIT_FIELDS,
                &served,
                talent_proto::FILE_DESCRIPTOR_SET
            ),
            Vec::<String>::new(),
            "every served method is declared audited or not, every audited field classified"
        );
    }

    /// A key revoked through another replica (here: straight in the
    /// database) keeps working in this one until the cache's TTL runs out,
    /// never longer.
    #[tokio::test]
    async fn a_key_revoked_elsewhere_stops_working_here_within_the_ttl() {
        use crate::store::test_db::{database, migrate};
        use talent_server::key_cache::KEY_CACHE_TTL_MICROS as TTL;

        let (db, _guard) = database().await;
        migrate(&db, None).await;
        let store = Store::new(db.clone());
        let reader = KeyRow {
            id: "reader".into(),
            kind: "READ".into(),
            display_name: "reader".into(),
            secret_prefix: "tlm_".into(),
            protection: "PERTURBED".into(),
            created_at: 1,
            revoked_at: None,
            expire_at: None,
        };
        let hash = hex::encode(talent_server::auth::sha256("tlm_reader"));
        store.insert_key(&reader, &hash).await.unwrap();
        let verified = KeyCache::default();
        let t0 = 1_000_000_000;
        let who = |token: &'static str, now: i64| {
            let (store, verified) = (&store, &verified);
            async move {
                identify(store, None, verified, token, now)
                    .await
                    .map(|c| c.audit_name().key)
                    .map_err(|e| Status::from(e).code())
            }
        };

        assert_eq!(who("tlm_reader", t0).await, Ok("keys/reader".into()));
        store.revoke_key("reader", t0 + 1).await.unwrap();
        assert_eq!(
            who("tlm_reader", t0 + TTL - 1).await,
            Ok("keys/reader".into()),
            "remembered for the TTL"
        );
        assert_eq!(
            who("tlm_reader", t0 + TTL).await,
            Err(tonic::Code::Unauthenticated),
            "looked up again after it"
        );
        assert_eq!(
            who("tlm_reader", t0 + TTL + 1).await,
            Err(tonic::Code::Unauthenticated),
            "a revoked key is not remembered"
        );

        db.close().await;
    }

    #[test]
    fn a_message_of_more_than_a_thousand_events_is_refused_on_its_field() {
        use talent_proto::talent::events::v1 as ev;
        let message = |n| pb::PublishEventsRequest {
            events: vec![ev::Event::default(); n],
        };
        assert!(check_message(message(1000)).is_ok());
        let status = tonic::Status::from(check_message(message(1001)).unwrap_err());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
}
