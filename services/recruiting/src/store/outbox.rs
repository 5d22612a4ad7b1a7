//! The outbox append: a change's events, numbered in commit order, written
//! in the change's own transaction.

use super::{StoreResult, backend::RecruitingSql, sql::Tx};
use crate::events::OutboxEvent;

/// One row of an outbox append.
pub struct OutboxInsert {
    pub seq: i64,
    pub event_id: String,
    pub payload: Vec<u8>,
}

/// Appends `events` to the outbox, numbered in commit order.
pub(super) async fn write_outbox<DB: RecruitingSql>(
    tx: &mut Tx<DB>,
    events: Vec<OutboxEvent>,
    now: i64,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let first = DB::reserve_outbox(&mut **tx, count).await?;
    let rows = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let seq = first + i64::try_from(i).unwrap_or(0);
            OutboxInsert {
                seq,
                event_id: event.event_id.clone(),
                payload: event.encode(seq, now),
            }
        })
        .collect();
    // The transaction's trace context goes with its events, so that the
    // relay and metrics can name the call that wrote them.
    let traceparent = tx.traceparent();
    DB::insert_outbox_rows(&mut **tx, rows, now, traceparent.as_deref()).await?;
    Ok(())
}
