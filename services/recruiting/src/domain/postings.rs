//! The posting lifecycle: the publish time is immutable, the expiry comes
//! after it and at most 366 days later, CLOSED is final, an EXPIRED
//! posting whose expiry moves into the future is open again, and a posting
//! is open on `[publish_time, end)`.

use super::openings::{MatchRow, normalised_title};
use crate::{
    store::{CloseReason, PostingFields, PostingRecord},
    validate::DAY_MICROS,
};

/// The lifetime of a posting pushed without an expiry.
pub const DEFAULT_POSTING_LIFETIME_MICROS: i64 = 30 * DAY_MICROS;
/// The longest lifetime a posting may have.
pub const MAX_POSTING_LIFETIME_MICROS: i64 = 366 * DAY_MICROS;

/// A field violation: (path relative to the posting, description).
pub type Problem = (String, String);

fn problem(field: &str, description: &str) -> Problem {
    (field.to_owned(), description.to_owned())
}

/// The publish time of a posting pushed with `given`, stored as `stored`
/// (if it is), pushed at `now`: once stored it never changes, and a
/// different one given is a problem.
pub fn publish_time(
    given: Option<i64>,
    stored: Option<&PostingFields>,
    now: i64,
    problems: &mut Vec<Problem>,
) -> i64 {
    match (given, stored) {
        (Some(given), Some(stored)) if given != stored.publish_at => {
            problems.push(problem(
                "publish_time",
                "is immutable: it differs from the stored publish time",
            ));
            stored.publish_at
        }
        (Some(given), _) => given,
        (None, Some(stored)) => stored.publish_at,
        (None, None) => now,
    }
}

/// The expiry of a posting pushed with `given`: after `publish_at`, at most
/// 366 days later, 30 days when not given.
pub fn expire_time(given: Option<i64>, publish_at: i64, problems: &mut Vec<Problem>) -> i64 {
    let expire_at = given.unwrap_or(publish_at.saturating_add(DEFAULT_POSTING_LIFETIME_MICROS));
    if expire_at <= publish_at {
        problems.push(problem("expire_time", "must be after publish_time"));
    } else if expire_at.saturating_sub(publish_at) > MAX_POSTING_LIFETIME_MICROS {
        problems.push(problem(
            "expire_time",
            "must be at most 366 days after publish_time",
        ));
    }
    expire_at
}

/// The end (exclusive) of a posting's open period: its close time once
/// closed or recorded expired, else its expiry.
pub fn open_period_end(posting: &PostingRecord) -> i64 {
    period_end(
        posting.close_reason,
        posting.closed_at,
        posting.fields.expire_at,
    )
}

/// [`open_period_end`] of the stored columns.
pub fn period_end(reason: CloseReason, closed_at: Option<i64>, expire_at: i64) -> i64 {
    match reason {
        CloseReason::Open => expire_at,
        _ => closed_at.unwrap_or(expire_at),
    }
}

/// Whether the posting was open at `at` (an application may be submitted
/// only then).
pub fn open_at(posting: &PostingRecord, at: i64) -> bool {
    posting.fields.publish_at <= at && at < open_period_end(posting)
}

/// What the opening match reads of a posting.
pub fn match_row(posting: &PostingRecord) -> MatchRow {
    let f = &posting.fields;
    MatchRow {
        key: (
            f.employer_code.clone(),
            f.title_key.clone(),
            f.district.clone(),
        ),
        publish_at: f.publish_at,
        end: open_period_end(posting),
    }
}

/// The normalised title a posting is stored with.
pub fn title_key(title: &str) -> String {
    normalised_title(title)
}

/// Why a stored posting cannot change.
pub const CLOSED_IS_FINAL: &str =
    "the posting is CLOSED and cannot change; push the job under a new external_id";

/// What a change of a stored posting to `fields` makes of it: a value
/// returned and matched at once, so the record is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing differs.
    Unchanged,
    /// The changed posting (opening and revision still those of the
    /// stored one) and whether statistics see the change.
    Changed {
        record: PostingRecord,
        /// A fact metrics keeps changed (see `PostingFacts`).
        facts: bool,
        /// One of the opening match's properties changed.
        matching: bool,
    },
}

/// The stored posting changed to `fields` at `now`; `Err` when CLOSED.
pub fn change(
    stored: &PostingRecord,
    fields: PostingFields,
    now: i64,
) -> Result<Change, &'static str> {
    if stored.fields == fields {
        return Ok(Change::Unchanged);
    }
    if stored.close_reason == CloseReason::Closed {
        return Err(CLOSED_IS_FINAL);
    }
    let old = &stored.fields;
    let matching = old.employer_code != fields.employer_code
        || old.title_key != fields.title_key
        || old.district != fields.district
        || old.expire_at != fields.expire_at;
    let facts = matching
        || old.industry != fields.industry
        || old.headcount != fields.headcount
        || old.fair_id != fields.fair_id;
    let mut record = stored.clone();
    record.fields = fields;
    if record.close_reason == CloseReason::Expired {
        if record.fields.expire_at > now {
            record.close_reason = CloseReason::Open;
            record.closed_at = None;
        } else {
            record.closed_at = Some(record.fields.expire_at);
        }
    }
    record.updated_at = now;
    Ok(Change::Changed {
        record,
        facts,
        matching,
    })
}

/// The posting closed at `close_at` (by its platform at `now`): `None`
/// when it is no longer open (closing is idempotent), a problem when
/// `close_at` precedes publication.
pub fn close(
    posting: &PostingRecord,
    close_at: i64,
    now: i64,
) -> Result<Option<PostingRecord>, Problem> {
    if posting.state(now) != crate::store::PostingState::Open {
        return Ok(None);
    }
    if close_at < posting.fields.publish_at {
        return Err(problem(
            "close_time",
            "must not be before the posting's publish_time",
        ));
    }
    let mut record = posting.clone();
    record.close_reason = CloseReason::Closed;
    record.closed_at = Some(close_at);
    record.revision += 1;
    record.updated_at = now;
    Ok(Some(record))
}

/// The posting recorded EXPIRED by the sweep at `now`.
pub fn expire(posting: &PostingRecord, now: i64) -> PostingRecord {
    let mut record = posting.clone();
    record.close_reason = CloseReason::Expired;
    record.closed_at = Some(record.fields.expire_at);
    record.revision += 1;
    record.updated_at = now;
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_600_000_000_000_000;

    fn posting() -> PostingRecord {
        PostingRecord {
            platform_id: "p".into(),
            external_id: "x".into(),
            fields: PostingFields {
                title: "Welder".into(),
                title_key: title_key("Welder"),
                description: String::new(),
                employer_code: "E".into(),
                district: "370212".into(),
                industry: "C".into(),
                occupation: String::new(),
                min_degree: 0,
                experience_years: 0,
                salary: None,
                headcount: 2,
                employment_type: 0,
                publish_at: T0,
                expire_at: T0 + 30 * DAY_MICROS,
                fair_id: None,
                tags: Vec::new(),
            },
            close_reason: CloseReason::Open,
            closed_at: None,
            opening_id: "o".into(),
            revision: 1,
            created_at: T0,
            updated_at: T0,
        }
    }

    #[test]
    fn the_publish_time_is_immutable() {
        let stored = posting().fields;
        let mut problems = Vec::new();
        assert_eq!(publish_time(None, None, T0 + 5, &mut problems), T0 + 5);
        assert_eq!(publish_time(None, Some(&stored), T0 + 5, &mut problems), T0);
        assert_eq!(
            publish_time(Some(T0), Some(&stored), T0 + 5, &mut problems),
            T0
        );
        assert!(problems.is_empty());
        assert_eq!(
            publish_time(Some(T0 + 1), Some(&stored), T0 + 5, &mut problems),
            T0
        );
        assert_eq!(problems[0].0, "publish_time");
    }

    #[test]
    fn the_expiry_is_after_publication_and_at_most_366_days_later() {
        let mut problems = Vec::new();
        assert_eq!(expire_time(None, T0, &mut problems), T0 + 30 * DAY_MICROS);
        expire_time(Some(T0 + MAX_POSTING_LIFETIME_MICROS), T0, &mut problems);
        assert!(problems.is_empty());
        expire_time(Some(T0), T0, &mut problems);
        expire_time(
            Some(T0 + MAX_POSTING_LIFETIME_MICROS + 1),
            T0,
            &mut problems,
        );
        expire_time(Some(i64::MIN), i64::MAX, &mut problems);
        expire_time(Some(i64::MAX), i64::MIN, &mut problems);
        let fields: Vec<_> = problems.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(fields, ["expire_time"; 4]);
    }

    #[test]
    fn closed_is_final() {
        let closed = close(&posting(), T0 + 1, T0 + 2).unwrap().unwrap();
        assert_eq!(
            (closed.close_reason, closed.closed_at, closed.revision),
            (CloseReason::Closed, Some(T0 + 1), 2)
        );
        assert_eq!(close(&closed, T0 + 3, T0 + 3), Ok(None));
        let mut fields = closed.fields.clone();
        fields.headcount = 9;
        assert_eq!(change(&closed, fields, T0 + 4), Err(CLOSED_IS_FINAL));
        assert_eq!(
            change(&closed, closed.fields.clone(), T0 + 4),
            Ok(Change::Unchanged)
        );
        assert_eq!(close(&posting(), T0 - 1, T0).unwrap_err().0, "close_time");
    }

    #[test]
    fn an_expired_posting_given_a_later_expiry_is_open_again() {
        let expired = expire(&posting(), T0 + 31 * DAY_MICROS);
        assert!(!open_at(&expired, T0 + 30 * DAY_MICROS));
        let mut fields = expired.fields.clone();
        fields.expire_at = T0 + 60 * DAY_MICROS;
        let Ok(Change::Changed {
            record,
            facts,
            matching,
        }) = change(&expired, fields.clone(), T0 + 40 * DAY_MICROS)
        else {
            panic!("a change");
        };
        assert_eq!(
            (record.close_reason, record.closed_at, facts, matching),
            (CloseReason::Open, None, true, true)
        );
        // Still in the past: it stays expired, at its new expiry.
        fields.expire_at = T0 + 35 * DAY_MICROS;
        let Ok(Change::Changed { record, .. }) = change(&expired, fields, T0 + 40 * DAY_MICROS)
        else {
            panic!("a change");
        };
        assert_eq!(
            (record.close_reason, record.closed_at),
            (CloseReason::Expired, Some(T0 + 35 * DAY_MICROS))
        );
    }

    #[test]
    fn only_some_changes_matter_to_statistics_or_the_match() {
        let stored = posting();
        let mut fields = stored.fields.clone();
        fields.description = "new".into();
        let Ok(Change::Changed {
            facts, matching, ..
        }) = change(&stored, fields.clone(), T0)
        else {
            panic!("a change");
        };
        assert_eq!((facts, matching), (false, false));
        fields.headcount = 5;
        let Ok(Change::Changed {
            facts, matching, ..
        }) = change(&stored, fields.clone(), T0)
        else {
            panic!("a change");
        };
        assert_eq!((facts, matching), (true, false));
        fields.district = "370203".into();
        let Ok(Change::Changed {
            facts, matching, ..
        }) = change(&stored, fields, T0)
        else {
            panic!("a change");
        };
        assert_eq!((facts, matching), (true, true));
    }

    #[test]
    fn a_posting_is_open_from_publication_to_its_end() {
        let p = posting();
        assert!(!open_at(&p, T0 - 1));
        assert!(open_at(&p, T0));
        assert!(!open_at(&p, p.fields.expire_at));
        let closed = close(&p, T0 + 10, T0 + 10).unwrap().unwrap();
        assert!(open_at(&closed, T0 + 9));
        assert!(!open_at(&closed, T0 + 10));
        assert_eq!(match_row(&closed).end, T0 + 10);
    }
}
