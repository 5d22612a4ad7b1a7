//! Applying events and roster rows: validate (`validate.rs`, and the
//! roster's rows in `roster.rs`), then apply the facts to the entities
//! they touch, recompute those entities' contributions and apply the
//! differences to the aggregates (`work.rs`), all in one transaction per
//! request message, together with the deduplication record.

use std::collections::{BTreeMap, BTreeSet};

use talent_codes as codes;
use talent_proto::talent::events::v1 as ev;
use talent_proto::talent::metrics::v1 as pb;
use talent_server::{ApiError, FieldViolations};
use tonic_types::pb::Status as RpcStatus;

use crate::{
    disclosure::RecordKeys,
    domain::Contribution,
    store::{R, Store, Tx},
};

pub mod entry_points;
#[cfg(test)]
mod fuzz_tests;
mod roster;
mod validate;
mod work;

pub use roster::{RowOutcome, import_roster};
use validate::Fact;
use work::{Key, Work};

/// What the ingestion needs from the configuration.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub person_key_secret: String,
    pub city_prefix: String,
    /// The record keys of the units counted (persons, applications).
    pub record_keys: RecordKeys,
}

/// The entity kind of a person (the others are in `domain::kind`).
pub(crate) const PERSON: &str = "person";

/// Converts field violations into the `google.rpc.Status` of an ack or a
/// rejected row.
pub fn rpc_status(violations: FieldViolations) -> RpcStatus {
    let status: tonic::Status = ApiError::InvalidArgument(violations).into();
    prost::Message::decode(status.details()).unwrap_or_else(|_| RpcStatus {
        code: tonic::Code::InvalidArgument as i32,
        message: status.message().to_string(),
        details: vec![],
    })
}

/// Transactions run again after a deadlock or serialization failure.
const RETRIES: u32 = 5;

/// Applies one request message's events in one transaction; returns one
/// ack per event, in order, after the commit.
pub async fn publish(
    store: &Store,
    settings: &IngestSettings,
    events: &[ev::Event],
) -> R<Vec<pb::EventAck>> {
    // The span of the application, linked to the call that wrote each
    // event (one span covers many events, each from a trace of its own);
    // it ends when the events are applied.
    let span = tracing::info_span!("metrics.apply", events = events.len());
    talent_server::telemetry::link_all(&span, events.iter().map(|e| e.traceparent.as_str()));
    // Concurrent streams touching the same persons or cells in another
    // order can deadlock on PostgreSQL; the loser is rolled back whole and
    // simply applied again.
    let mut attempt = 0;
    loop {
        match publish_once(store, settings, events).await {
            Err(e) if attempt < RETRIES && e.is_retryable() => attempt += 1,
            other => return other,
        }
    }
}

/// Whether an event id can be remembered for deduplication (an id that
/// cannot is rejected by validation anyway, every time it comes).
fn rememberable(event: &ev::Event) -> bool {
    !event.event_id.is_empty() && event.event_id.len() <= 64
}

/// Applies one request message in one transaction: the dedupe rows in
/// one statement, then the fresh, valid facts through [`apply_facts`].
async fn publish_once(
    store: &Store,
    settings: &IngestSettings,
    events: &[ev::Event],
) -> R<Vec<pb::EventAck>> {
    let now = codes::now_micros();
    let mut tx = store.begin().await?;
    let checked: Vec<Result<Fact, FieldViolations>> = events
        .iter()
        .map(|e| validate::check_event(e, settings))
        .collect();

    // Exactly once: the first copy of an id in the message is recorded (with
    // its outcome) in the same transaction as the effect; a later copy, or an
    // id recorded before, is a duplicate.
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let mut records = Vec::new();
    for (i, (event, checked)) in events.iter().zip(&checked).enumerate() {
        if rememberable(event) && !first.contains_key(event.event_id.as_str()) {
            first.insert(&event.event_id, i);
            records.push((
                event.event_id.as_str(),
                event.source.as_str(),
                i64::try_from(event.sequence).unwrap_or(i64::MAX),
                if checked.is_ok() {
                    "APPLIED"
                } else {
                    "REJECTED"
                },
            ));
        }
    }
    // In id order, so concurrent streams holding overlapping events in
    // other orders wait on each other instead of deadlocking. The first
    // statement writes, so SQLite takes the write lock at once.
    records.sort_unstable_by_key(|r| r.0);
    let recorded = tx.record_events(&records, now).await?;

    let mut acks = Vec::with_capacity(events.len());
    let mut facts = Vec::new();
    for (i, (event, checked)) in events.iter().zip(checked).enumerate() {
        let fresh = !rememberable(event)
            || (first.get(event.event_id.as_str()) == Some(&i)
                && recorded.contains(&event.event_id));
        let mut ack = pb::EventAck {
            event_id: event.event_id.clone(),
            source: event.source.clone(),
            sequence: event.sequence,
            outcome: pb::EventOutcome::Applied as i32,
            error: None,
        };
        if !fresh {
            ack.outcome = pb::EventOutcome::Duplicate as i32;
        } else {
            match checked {
                Ok(fact) => facts.push(fact),
                Err(violations) => {
                    ack.outcome = pb::EventOutcome::Rejected as i32;
                    ack.error = Some(rpc_status(violations));
                }
            }
        }
        acks.push(ack);
    }

    apply_facts(&mut tx, &facts, &settings.record_keys).await?;
    tx.commit().await?;
    Ok(acks)
}

/// Applies `facts` in `tx` with a number of statements that does not grow
/// with them: the entities they touch are locked and their facts loaded in
/// bulk, the facts applied in memory in order, and the changed rows and
/// the differences written back in bulk. Returns whether each fact changed
/// a stored fact.
async fn apply_facts(tx: &mut Tx, facts: &[Fact], keys: &RecordKeys) -> R<Vec<bool>> {
    // Lock what the facts name, load, apply; when applying reaches an
    // entity not locked yet (an employment or résumé owned by another
    // person, a posting moving from another opening), lock it too and
    // start over on freshly loaded facts. The locked set grows every
    // round, so this ends.
    let mut locked: BTreeMap<Key, Contribution> = BTreeMap::new();
    let mut want = work::first_guess(facts);
    let (work, changed) = loop {
        let new: BTreeSet<Key> = want
            .iter()
            .filter(|k| !locked.contains_key(*k))
            .cloned()
            .collect();
        work::lock(tx, &new, &mut locked).await?;
        let mut work = Work::load(tx, facts, &locked).await?;
        let changed: Vec<bool> = facts.iter().map(|fact| work.apply(fact)).collect();
        work.recompute(keys);
        if work.missing.is_empty() {
            break (work, changed);
        }
        want.extend(std::mem::take(&mut work.missing));
    };
    let deltas = work.write(tx, keys, codes::now_micros()).await?;
    // Stamped as late as possible: "as known at" means committed by then.
    tx.apply_deltas(&deltas, codes::now_micros()).await?;
    Ok(changed)
}

#[cfg(test)]
pub(crate) mod tests {
    use talent_proto::google::r#type::Date;
    use talent_proto::talent::events::v1::event::Payload;
    use talent_server::Db;

    use super::*;
    use crate::store::test_db::{database, migrate};

    pub(crate) const PLATFORM: &str = "p";

    /// A valid unified social credit code.
    pub(crate) fn employer() -> String {
        codes::credit_code::with_check_character("91370200000000001").unwrap()
    }

    pub(crate) fn event(n: u64, payload: Payload) -> ev::Event {
        ev::Event {
            event_id: format!("00000000-0000-4000-8000-{n:012x}"),
            source: "recruiting".into(),
            sequence: n,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            recorded_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + n as i64,
                nanos: 0,
            }),
            platform_id: PLATFORM.into(),
            traceparent: String::new(),
            payload: Some(payload),
        }
    }

    pub(crate) fn date(month: i32) -> Option<Date> {
        Some(Date {
            year: 2025,
            month,
            day: 1,
        })
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    /// Group commit applies several request messages in one transaction,
    /// so one `publish` can touch more persons and employments than one
    /// key list of a bulk statement holds (2,000): each list is cut in
    /// chunks, and every event must still be applied once.
    #[tokio::test]
    async fn a_transaction_past_one_key_list_applies_every_event_once() {
        const PERSONS: u64 = 2_500;
        let (db, _guard) = database().await;
        migrate(&db, None).await;
        let store = Store::new(db.clone());
        let settings = IngestSettings {
            person_key_secret: "test".into(),
            city_prefix: "3702".into(),
            record_keys: RecordKeys::new("test record keys"),
        };
        let employment = |n: u64| format!("platforms/{PLATFORM}/employments/e-{n}");
        let person = |n: u64| format!("{n:064x}");
        let hires: Vec<ev::Event> = (0..PERSONS)
            .map(|n| {
                event(
                    n + 1,
                    Payload::Hired(ev::Hired {
                        employment: employment(n),
                        person_key: person(n),
                        employer_credit_code: employer(),
                        workplace_district: "370212".into(),
                        industry: "C39".into(),
                        start_date: date(1),
                        reporting_platform_id: PLATFORM.into(),
                        ..Default::default()
                    }),
                )
            })
            .collect();
        let outcomes = |acks: Vec<pb::EventAck>| -> BTreeMap<i32, usize> {
            let mut out = BTreeMap::new();
            for ack in acks {
                *out.entry(ack.outcome).or_default() += 1;
            }
            out
        };
        let applied = pb::EventOutcome::Applied as i32;
        let duplicate = pb::EventOutcome::Duplicate as i32;

        let acks = publish(&store, &settings, &hires).await.unwrap();
        assert_eq!(outcomes(acks), BTreeMap::from([(applied, 2_500)]));
        // Every hire separated, and the hires sent again, in one call:
        // the separations read and lock what the hires stored.
        let mut next: Vec<ev::Event> = (0..PERSONS)
            .map(|n| {
                event(
                    PERSONS + n + 1,
                    Payload::Separated(ev::Separated {
                        employment: employment(n),
                        person_key: person(n),
                        end_date: date(7),
                        revision: 1,
                    }),
                )
            })
            .collect();
        next.extend(hires.iter().cloned());
        let acks = publish(&store, &settings, &next).await.unwrap();
        assert_eq!(
            outcomes(acks),
            BTreeMap::from([(applied, 2_500), (duplicate, 2_500)])
        );

        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM applied_events").await,
            5_000
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM employments WHERE hired = 1 AND in_city = 1 \
                 AND end_day IS NOT NULL AND end_revision = 1"
            )
            .await,
            2_500
        );
        assert_eq!(
            count(&db, "SELECT COUNT(DISTINCT person_key) FROM employments").await,
            2_500
        );
    }
}
