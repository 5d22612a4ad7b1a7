//! The graduate roster import: each row checked, the valid ones applied as
//! facts through the same path as events (`work.rs`), one transaction per
//! request message.

use talent_codes::{self as codes, ResidentId};
use talent_proto::talent::metrics::v1 as pb;
use talent_server::FieldViolations;
use tonic_types::pb::Status as RpcStatus;

use super::{IngestSettings, apply_facts, rpc_status, validate::Fact};
use crate::domain::RosterRow;
use crate::store::{R, RosterRecord, Store};

/// The outcome of one roster row.
pub enum RowOutcome {
    Accepted,
    Unchanged,
    Rejected(RpcStatus),
}

/// Imports one request message's rows in one transaction; returns each
/// row's id (its position when it has none) and outcome, in order.
pub async fn import_roster(
    store: &Store,
    settings: &IngestSettings,
    rows: Vec<pb::GraduateRosterRow>,
    first_position: u64,
) -> R<Vec<(String, RowOutcome)>> {
    let now = codes::now_micros();
    let mut ids = Vec::with_capacity(rows.len());
    let mut facts = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let position = first_position + i as u64;
        ids.push(if row.row_id.is_empty() {
            position.to_string()
        } else {
            row.row_id.clone()
        });
        match check_row(row, settings, now, position) {
            Ok(record) => {
                checked.push(Ok(facts.len()));
                facts.push(Fact::Roster(record));
            }
            Err(v) => checked.push(Err(rpc_status(v))),
        }
    }
    let mut tx = store.begin().await?;
    let changed = apply_facts(&mut tx, &facts, &settings.record_keys).await?;
    tx.commit().await?;
    Ok(ids
        .into_iter()
        .zip(checked)
        .map(|(id, checked)| {
            let outcome = match checked {
                Err(status) => RowOutcome::Rejected(status),
                Ok(fact) if changed[fact] => RowOutcome::Accepted,
                Ok(_) => RowOutcome::Unchanged,
            };
            (id, outcome)
        })
        .collect())
}

/// A valid roster row as the record it writes, imported as the row at
/// `position` of the import at `now` (the position of import orders a
/// person's rows of one cohort; see `domain`).
pub(super) fn check_row(
    row: &pb::GraduateRosterRow,
    settings: &IngestSettings,
    now: i64,
    position: u64,
) -> Result<RosterRecord, FieldViolations> {
    use pb::graduate_roster_row::Person;
    let mut v = FieldViolations::new();
    if row.row_id.chars().count() > 64 {
        v.add("row_id", "at most 64 characters");
    }
    let person_key = match &row.person {
        None => {
            v.add("person", "a person_key or a resident_id_number is required");
            String::new()
        }
        Some(Person::PersonKey(k)) => {
            if !codes::is_person_key(k) {
                v.add("person_key", codes::person_key::RULE);
            }
            k.clone()
        }
        Some(Person::ResidentIdNumber(id)) => match ResidentId::parse(id) {
            Ok(id) => codes::person_key(settings.person_key_secret.as_bytes(), &id),
            Err(why) => {
                v.add("resident_id_number", why);
                String::new()
            }
        },
    };
    if !codes::is_university_code(&row.university_code) {
        v.add("university_code", codes::university::RULE);
    }
    let name = row.university_name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("university_name", "must be 1 to 100 characters");
    } else if name.chars().any(char::is_control) {
        v.add("university_name", "must not contain control characters");
    }
    if !(1..=5).contains(&row.degree_level) {
        v.add("degree_level", "required: a known degree level");
    }
    if !(0..=14).contains(&row.discipline) {
        v.add("discipline", "unknown discipline");
    }
    let day = match codes::check_date(row.graduation_date.as_ref(), 1950..=2100) {
        Ok(d) => d,
        Err(why) => {
            v.add("graduation_date", why);
            0
        }
    };
    if !v.is_empty() {
        return Err(v);
    }
    Ok(RosterRecord {
        person_key,
        row: RosterRow {
            university_code: row.university_code.clone(),
            degree: i64::from(row.degree_level),
            discipline: i64::from(row.discipline),
            cohort: i64::from(codes::date_of_day(day).year()),
            import_seq: now
                .saturating_mul(1000)
                .saturating_add(i64::try_from(position % 1000).unwrap_or(0)),
        },
        university_name: name,
        graduation_day: day,
    })
}
