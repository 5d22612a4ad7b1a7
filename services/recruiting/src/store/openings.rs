//! The opening match, decided in memory: which opening a posting belongs
//! to, given the stored postings a batch has read and what the batch itself
//! wrote before it (see the match rule on `PostingService`). The rows it
//! decides over are read by `posting_batch.rs`.

use std::collections::{HashMap, HashSet};

use super::{CloseReason, PostingFields, PostingRecord};

/// The columns of a posting the opening match reads.
pub(super) const MATCH_COLUMNS: &str = "platform_id, external_id, employer_code, title_key, \
     district, opening_id, publish_at, expire_at, close_reason, closed_at";

/// The end of a posting's open period: its close time once closed or
/// recorded expired, else its expiry.
pub(super) fn open_period_end(posting: &PostingRecord, _now: i64) -> i64 {
    match posting.close_reason {
        CloseReason::Open => posting.fields.expire_at,
        _ => posting.closed_at.unwrap_or(posting.fields.expire_at),
    }
}

/// What the opening match compares: (employer, normalised title, district).
pub(super) type MatchKey = (String, String, String);
/// A posting's primary key: (platform, external id).
pub(super) type RowId = (String, String);

pub(super) fn match_key(f: &PostingFields) -> MatchKey {
    (
        f.employer_code.clone(),
        f.title_key.clone(),
        f.district.clone(),
    )
}

/// What the opening match reads of one stored posting.
#[derive(Debug, Clone)]
pub(super) struct MatchRow {
    pub key: MatchKey,
    pub opening_id: String,
    pub publish_at: i64,
    /// `open_period_end` of the row.
    pub end: i64,
}

impl MatchRow {
    pub fn of(p: &PostingRecord) -> Self {
        Self {
            key: match_key(&p.fields),
            opening_id: p.opening_id.clone(),
            publish_at: p.fields.publish_at,
            end: open_period_end(p, 0),
        }
    }
}

/// The part of the `postings` table one batch's opening matches can see,
/// as it stands after the batch's own earlier items: rows read from the
/// database (whole match-key groups, and every holder of an opening whose
/// sharing was asked about) overlaid with the rows the batch wrote. The
/// batch writes only at its end, so a database row the batch did not
/// write is current.
#[derive(Debug, Default)]
pub(super) struct Openings {
    rows: HashMap<RowId, MatchRow>,
    by_key: HashMap<MatchKey, HashSet<RowId>>,
    /// Keys whose rows were all read from the database.
    pub loaded_keys: HashSet<MatchKey>,
    /// Rows this batch wrote (their values here win over the database's).
    written: HashSet<RowId>,
    written_by_opening: HashMap<String, HashSet<RowId>>,
    /// Database rows holding each opening asked about (before the batch).
    pub holders: HashMap<String, Vec<RowId>>,
}

impl Openings {
    /// A row read from the database; ignored when the batch wrote it.
    pub fn add_stored(&mut self, id: RowId, row: MatchRow) {
        if self.written.contains(&id) || self.rows.contains_key(&id) {
            return;
        }
        self.by_key
            .entry(row.key.clone())
            .or_default()
            .insert(id.clone());
        self.rows.insert(id, row);
    }

    /// The batch wrote `record`.
    pub fn write(&mut self, record: &PostingRecord) {
        let id = (record.platform_id.clone(), record.external_id.clone());
        let row = MatchRow::of(record);
        if let Some(old) = self.rows.get(&id) {
            if let Some(ids) = self.by_key.get_mut(&old.key) {
                ids.remove(&id);
            }
            if self.written.contains(&id)
                && let Some(ids) = self.written_by_opening.get_mut(&old.opening_id)
            {
                ids.remove(&id);
            }
        }
        self.by_key
            .entry(row.key.clone())
            .or_default()
            .insert(id.clone());
        self.written_by_opening
            .entry(row.opening_id.clone())
            .or_default()
            .insert(id.clone());
        self.written.insert(id.clone());
        self.rows.insert(id, row);
    }

    /// The opening of the earliest published other row with the same key
    /// whose open period overlaps `posting`'s (ties: the smaller opening
    /// id). The key's rows must have been loaded.
    pub fn matched(&self, posting: &PostingRecord) -> Option<String> {
        let key = match_key(&posting.fields);
        let end = open_period_end(posting, 0);
        let publish_at = posting.fields.publish_at;
        self.by_key
            .get(&key)?
            .iter()
            .filter(|id| id.0 != posting.platform_id || id.1 != posting.external_id)
            .filter_map(|id| self.rows.get(id))
            .filter(|r| r.publish_at < end && r.end > publish_at)
            .min_by(|a, b| (a.publish_at, &a.opening_id).cmp(&(b.publish_at, &b.opening_id)))
            .map(|r| r.opening_id.clone())
    }

    /// Whether a row other than `id` holds `opening`. Its database holders
    /// must have been loaded.
    pub fn shared(&self, opening: &str, id: &RowId) -> bool {
        let written = self
            .written_by_opening
            .get(opening)
            .is_some_and(|ids| ids.iter().any(|other| other != id));
        written
            || self.holders.get(opening).is_some_and(|ids| {
                ids.iter()
                    .any(|other| other != id && !self.written.contains(other))
            })
    }
}
