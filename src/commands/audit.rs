//! `talent audit`: a service's audit log (its AdminService's
//! `ListAuditEvents`), as text or JSON.

use talent_proto::talent::r#type::v1::AuditEvent;

use super::*;

/// Which service's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditedService {
    Recruiting,
    Metrics,
}

/// What to list: `[since, until)`, one key or all, at most `limit` events
/// (0: all).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub since: Option<prost_types::Timestamp>,
    pub until: Option<prost_types::Timestamp>,
    pub key: String,
    pub limit: usize,
}

/// The widest line of the text form.
const WIDTH: usize = 120;

/// The events `query` selects, newest first.
pub async fn audit_events(
    addr: &str,
    admin_key: &str,
    service: AuditedService,
    query: &AuditQuery,
) -> anyhow::Result<Vec<AuditEvent>> {
    let what = match service {
        AuditedService::Recruiting => "the recruiting service",
        AuditedService::Metrics => "the metrics service",
    };
    let channel = client::connect_with_key(addr, what, admin_key).await?;
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let left = match query.limit {
            0 => 1000,
            n => (n - events.len()).min(1000),
        };
        let page_size = i32::try_from(left).unwrap_or(1000);
        let (page, next) = match service {
            AuditedService::Recruiting => {
                let page =
                    recruiting_pb::admin_service_client::AdminServiceClient::new(channel.clone())
                        .list_audit_events(recruiting_pb::ListAuditEventsRequest {
                            page_size,
                            page_token: page_token.clone(),
                            start_time: query.since,
                            end_time: query.until,
                            key: query.key.clone(),
                        })
                        .await
                        .map_err(|s| client::explain(&s, what))?
                        .into_inner();
                (page.audit_events, page.next_page_token)
            }
            AuditedService::Metrics => {
                let page =
                    metrics_pb::admin_service_client::AdminServiceClient::new(channel.clone())
                        .list_audit_events(metrics_pb::ListAuditEventsRequest {
                            page_size,
                            page_token: page_token.clone(),
                            start_time: query.since,
                            end_time: query.until,
                            key: query.key.clone(),
                        })
                        .await
                        .map_err(|s| client::explain(&s, what))?
                        .into_inner();
                (page.audit_events, page.next_page_token)
            }
        };
        events.extend(page);
        if next.is_empty() || (query.limit > 0 && events.len() >= query.limit) {
            return Ok(events);
        }
        page_token = next;
    }
}

/// The name of a `google.rpc.Code` value (`PERMISSION_DENIED`).
fn code_name(code: i32) -> String {
    let name = format!("{:?}", tonic::Code::from_i32(code));
    // `PermissionDenied` → `PERMISSION_DENIED`.
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `line`, cut to the text form's width with "…".
fn fit(line: String) -> String {
    if line.chars().count() <= WIDTH {
        return line;
    }
    let mut cut: String = line.chars().take(WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// The events as text, no line wider than 120 columns: per event, when,
/// the outcome and the method, then who, the request and a failure's
/// message, indented.
pub fn audit_text(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "(no audit events)\n".into();
    }
    let mut out = String::new();
    for e in events {
        let when = instant(e.event_time.as_ref());
        let method = e.method.rsplit('.').next().unwrap_or(&e.method);
        out.push_str(&fit(format!("{when}  {:<19} {method}", code_name(e.code))));
        out.push('\n');
        let key = if e.key.is_empty() {
            "(no key recognised)"
        } else {
            &e.key
        };
        out.push_str(&fit(format!("    key      {key}")));
        out.push('\n');
        out.push_str(&fit(format!("    request  {}", e.request_json)));
        out.push('\n');
        if !e.message.is_empty() {
            out.push_str(&fit(format!("    message  {}", e.message)));
            out.push('\n');
        }
    }
    out
}

/// The events as a JSON array; each request as JSON, not as a string.
pub fn audit_json(events: &[AuditEvent]) -> String {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let request = serde_json::from_str::<serde_json::Value>(&e.request_json)
                .unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "name": e.name,
                "time": instant(e.event_time.as_ref()),
                "key": e.key,
                "method": e.method,
                "request": request,
                "code": code_name(e.code),
                "message": e.message,
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&events).unwrap_or_default();
    out.push('\n');
    out
}

/// An instant for `--since` / `--until`: RFC 3339, or a duration back
/// from now (`90m`, `24h`, `7d`).
pub fn parse_since(s: &str) -> Result<prost_types::Timestamp, String> {
    if let Ok(ago) = parse_grace(s) {
        let at = std::time::SystemTime::now()
            .checked_sub(ago)
            .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .ok_or_else(|| format!("\"{s}\" reaches back before 1970"))?;
        return Ok(prost_types::Timestamp {
            seconds: i64::try_from(at.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        });
    }
    let at = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            format!(
                "\"{s}\" is neither an instant like 2026-01-31T08:00:00Z nor a duration like 24h"
            )
        })?;
    Ok(prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_fit_in_120_columns() {
        let event = AuditEvent {
            name: "auditEvents/7".into(),
            event_time: Some(prost_types::Timestamp {
                seconds: 1_780_000_000,
                nanos: 0,
            }),
            key: format!(
                "platforms/{}/apiKeys/0193aa3c-8b2d-7f00-9c1e-5a6b7c8d9e0f",
                "p".repeat(63)
            ),
            method: "/talent.recruiting.v1.ResumeService/ErasePerson".into(),
            request_json: format!("{{\"reason\":\"{}\"}}", "x".repeat(200)),
            code: 7,
            message: "a platform key may not call this".into(),
        };
        let text = audit_text(&[event]);
        assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
        assert!(text.contains("PERMISSION_DENIED"), "{text}");
        assert!(text.contains("ResumeService/ErasePerson"), "{text}");
    }

    #[test]
    fn since_takes_an_instant_or_a_duration_back() {
        assert_eq!(
            parse_since("2026-01-31T08:00:00Z").unwrap().seconds,
            1_769_846_400
        );
        assert!(parse_since("24h").is_ok());
        assert!(parse_since("yesterday").is_err());
    }
}
