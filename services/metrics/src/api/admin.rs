//! What `AdminService` does (the service's own keys, and its audit log),
//! over the decoded messages: the tonic handlers only unwrap and wrap.

use talent_codes as codes;
use talent_proto::talent::metrics::v1 as pb;
use talent_server::{
    ApiError, FieldViolations,
    new_key::{self, NewSecret},
    paging,
};

use super::State;
use crate::{disclosure::Protection, names, store::KeyRow};

/// The stored kind of a requested key kind ("" when refused).
fn kind_of(kind: i32, v: &mut FieldViolations) -> &'static str {
    #[allow(deprecated)] // INGEST is named to be refused.
    match pb::KeyKind::try_from(kind) {
        Ok(pb::KeyKind::Relay) => "RELAY",
        Ok(pb::KeyKind::Roster) => "ROSTER",
        Ok(pb::KeyKind::Read) => "READ",
        Ok(pb::KeyKind::Operator) => "OPERATOR",
        Ok(pb::KeyKind::Ingest) => {
            v.add(
                "kind",
                "INGEST keys are no longer issued: use RELAY (publishing events) or ROSTER \
                 (importing graduate rosters)",
            );
            ""
        }
        _ => {
            v.add("kind", "must be RELAY, ROSTER, READ or OPERATOR");
            ""
        }
    }
}

/// The stored protection of a key of `kind` ("" for the kinds that read
/// no statistics, and when refused). The deprecated
/// `disclosure_threshold` is ignored (the contract).
fn protection_of(kind: &str, protection: i32, v: &mut FieldViolations) -> &'static str {
    match (kind, pb::Protection::try_from(protection)) {
        ("READ", Ok(pb::Protection::Exact)) => Protection::Exact.as_str(),
        ("READ", Ok(pb::Protection::Perturbed | pb::Protection::Unspecified)) => {
            Protection::Perturbed.as_str()
        }
        ("OPERATOR", Ok(pb::Protection::Exact | pb::Protection::Unspecified)) => {
            Protection::Exact.as_str()
        }
        ("RELAY" | "ROSTER", Ok(pb::Protection::Unspecified)) | ("", _) => "",
        ("READ", Err(_)) => {
            v.add("protection", "must be EXACT or PERTURBED");
            ""
        }
        ("OPERATOR", _) => {
            v.add(
                "protection",
                "OPERATOR keys see exact figures: unset or EXACT",
            );
            ""
        }
        _ => {
            v.add("protection", "applies to READ and OPERATOR keys only");
            ""
        }
    }
}

pub(super) async fn issue(
    state: &State,
    req: pb::IssueKeyRequest,
) -> Result<pb::IssueKeyResponse, ApiError> {
    let mut v = FieldViolations::new();
    let kind = kind_of(req.kind, &mut v);
    let name = req.display_name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        v.add("display_name", "must be 1 to 100 characters");
    }
    let protection = protection_of(kind, req.protection, &mut v);
    let now = codes::now_micros();
    let at = req.expire_time.as_ref().and_then(|t| {
        codes::micros(t)
            .map_err(|why| v.add("expire_time", why))
            .ok()
    });
    let expire_at = new_key::expire_at(at, now, &mut v);
    v.into_result()?;
    let NewSecret { secret, shown } = NewSecret::generate("tlm_");
    let row = KeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        display_name: name,
        secret_prefix: shown,
        protection: protection.into(),
        created_at: now,
        revoked_at: None,
        expire_at,
    };
    let hash = hex::encode(talent_server::auth::sha256(&secret));
    state.store.insert_key(&row, &hash).await?;
    let key = Some(key_message(&row));
    Ok(pb::IssueKeyResponse { key, secret })
}

pub(super) async fn list(
    state: &State,
    req: pb::ListKeysRequest,
) -> Result<pb::ListKeysResponse, ApiError> {
    let mut v = FieldViolations::new();
    let size = paging::page_size(req.page_size, "page_size", &mut v);
    let filters = format!("show_revoked={}", req.show_revoked);
    let offset = match paging::read_page_token(&req.page_token, &filters, &mut v) {
        None => 0,
        Some(cursor) => cursor.as_i64().filter(|n| *n >= 0).unwrap_or_else(|| {
            paging::foreign_cursor(&mut v);
            0
        }),
    };
    v.into_result()?;
    let now = codes::now_micros();
    let mut keys = (state.store)
        .list_keys(req.show_revoked, now, size + 1, offset)
        .await?;
    let more = keys.len() as i64 > size;
    keys.truncate(usize::try_from(size).unwrap_or(50));
    let next_page_token = if more {
        paging::page_token(&filters, serde_json::json!(offset + size))
    } else {
        String::new()
    };
    let keys = keys.iter().map(key_message).collect();
    Ok(pb::ListKeysResponse {
        keys,
        next_page_token,
    })
}

pub(super) async fn audit_events(
    state: &State,
    req: pb::ListAuditEventsRequest,
) -> Result<pb::ListAuditEventsResponse, ApiError> {
    talent_server::list_audit_events!(state.audit, req, pb::ListAuditEventsResponse)
}

pub(super) async fn revoke(
    state: &State,
    req: pb::RevokeKeyRequest,
) -> Result<pb::RevokeKeyResponse, ApiError> {
    let missing = || ApiError::NotFound(format!("{} does not exist", req.name));
    let id = req
        .name
        .strip_prefix("keys/")
        .filter(|id| names::is_uuid(id))
        .ok_or_else(|| ApiError::invalid("name", "must be keys/{key}"))?;
    let store = &state.store;
    if store.key_by_id(id).await?.is_none() {
        return Err(missing());
    }
    store.revoke_key(id, codes::now_micros()).await?;
    state.verified.invalidate();
    let key = store.key_by_id(id).await?.ok_or_else(missing)?;
    Ok(pb::RevokeKeyResponse {
        key: Some(key_message(&key)),
    })
}

fn key_message(k: &KeyRow) -> pb::Key {
    let kind = match k.kind.as_str() {
        "RELAY" => pb::KeyKind::Relay,
        "ROSTER" => pb::KeyKind::Roster,
        "READ" => pb::KeyKind::Read,
        "OPERATOR" => pb::KeyKind::Operator,
        _ => pb::KeyKind::Unspecified,
    };
    let protection = match Protection::parse(&k.protection) {
        Some(Protection::Exact) => pb::Protection::Exact,
        Some(Protection::Perturbed) => pb::Protection::Perturbed,
        None => pb::Protection::Unspecified,
    };
    pb::Key {
        name: format!("keys/{}", k.id),
        kind: kind as i32,
        display_name: k.display_name.clone(),
        protection: protection as i32,
        secret_prefix: k.secret_prefix.clone(),
        state: if k.revoked_at.is_some() {
            pb::key::State::Revoked
        } else if k.is_active(codes::now_micros()) {
            pb::key::State::Active
        } else {
            pb::key::State::Expired
        } as i32,
        create_time: Some(codes::timestamp_of_micros(k.created_at)),
        revoke_time: k.revoked_at.map(codes::timestamp_of_micros),
        expire_time: k.expire_at.map(codes::timestamp_of_micros),
        ..Default::default()
    }
}
