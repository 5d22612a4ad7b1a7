//! `ListAuditEvents`, the same on both services' admin APIs: filters by
//! time and key, pages newest first (AIP-158).

use prost_types::Timestamp;
use talent_proto::talent::r#type::v1::AuditEvent;

use super::{AuditLog, AuditQueue, log::EventFilter};
use crate::{ApiError, FieldViolations, paging};

/// The earliest and latest instants accepted: years 0001 to 9999.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// What a service's `ListAuditEvents` answers, over its own request and
/// response messages (the same fields on both services):
/// `list_audit_events!(audit, request, pb::ListAuditEventsResponse)`, where
/// `audit` is its [`AuditEvents`] and `request` the decoded request; a
/// `Result` of the response message and [`ApiError`].
#[macro_export]
macro_rules! list_audit_events {
    ($audit:expr, $request:expr, $($response:ident)::+) => {{
        let request = $request;
        let listed = $audit
            .list($crate::audit::list::ListRequest {
                page_size: request.page_size,
                page_token: &request.page_token,
                start_time: request.start_time.as_ref(),
                end_time: request.end_time.as_ref(),
                key: &request.key,
            })
            .await;
        listed.map(|(audit_events, next_page_token)| $($response)::+ {
            audit_events,
            next_page_token,
        })
    }};
}

/// What a `ListAuditEventsRequest` asks, the same fields on both services.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest<'a> {
    pub page_size: i32,
    pub page_token: &'a str,
    pub start_time: Option<&'a Timestamp>,
    pub end_time: Option<&'a Timestamp>,
    pub key: &'a str,
}

/// A service's audit log as `ListAuditEvents` reads it.
#[derive(Clone)]
pub struct AuditEvents {
    log: AuditLog,
    queue: AuditQueue,
}

impl AuditEvents {
    /// The events of `log`, recorded through `queue`.
    pub fn new(log: AuditLog, queue: AuditQueue) -> Self {
        Self { log, queue }
    }

    /// One page of events and the token of the next (empty after the
    /// last). The events this replica queued before are written first, so
    /// the page shows every call it answered.
    pub async fn list(&self, req: ListRequest<'_>) -> Result<(Vec<AuditEvent>, String), ApiError> {
        let (limit, filter, after) = check(req)?;
        self.queue.flush().await;
        page(&self.log, &filter, after, limit).await
    }
}

/// A row's position in the order of a listing: when it arrived, its id.
type Position = (i64, i64);

/// The checked request: the page size, the filter and the position after
/// which the page starts.
fn check(req: ListRequest<'_>) -> Result<(i64, EventFilter, Option<Position>), ApiError> {
    let mut v = FieldViolations::new();
    let limit = paging::page_size(req.page_size, "page_size", &mut v);
    let since = req.start_time.and_then(|t| micros(t, "start_time", &mut v));
    let until = req.end_time.and_then(|t| micros(t, "end_time", &mut v));
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        v.add("end_time", "must be after start_time");
    }
    if req.key.len() > 200 {
        v.add("key", "must be at most 200 characters");
    }
    let filter = EventFilter {
        since,
        until,
        key: req.key.to_owned(),
    };
    let after = read_token(req.page_token, &filter, &mut v);
    v.into_result()?;
    Ok((limit, filter, after))
}

async fn page(
    log: &AuditLog,
    filter: &EventFilter,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<(Vec<AuditEvent>, String), ApiError> {
    let mut rows = log.list(filter, after, limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = match rows.last() {
        Some(last) if more => {
            paging::page_token(&filters(filter), serde_json::json!([last.row.at, last.id]))
        }
        _ => String::new(),
    };
    let events = rows
        .into_iter()
        .map(|e| AuditEvent {
            name: format!("auditEvents/{}", e.id),
            event_time: Some(Timestamp {
                seconds: e.row.at.div_euclid(1_000_000),
                nanos: i32::try_from(e.row.at.rem_euclid(1_000_000) * 1000).unwrap_or(0),
            }),
            key: e.row.key,
            method: e.row.method,
            request_json: e.row.request_json,
            code: e.row.code,
            message: e.row.message,
        })
        .collect();
    Ok((events, next))
}

/// Microseconds of `t`, or a violation on `field`.
fn micros(t: &Timestamp, field: &str, v: &mut FieldViolations) -> Option<i64> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds) || !(0..1_000_000_000).contains(&t.nanos) {
        v.add(
            field,
            "must be an instant from 0001-01-01 to 9999-12-31, with nanos from 0 to 999,999,999",
        );
        return None;
    }
    Some(t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
}

/// The filters of a listing, as its page tokens are bound to them.
fn filters(filter: &EventFilter) -> String {
    serde_json::json!([filter.since, filter.until, filter.key]).to_string()
}

/// The position a page token holds, or a violation on `page_token`.
fn read_token(token: &str, filter: &EventFilter, v: &mut FieldViolations) -> Option<Position> {
    let cursor = paging::read_page_token(token, &filters(filter), v)?;
    let position = cursor[0].as_i64().zip(cursor[1].as_i64());
    if position.is_none() {
        paging::foreign_cursor(v);
    }
    position
}
