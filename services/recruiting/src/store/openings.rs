//! Reading what the opening match decides over: every stored posting of a
//! match key (the rule itself is `domain::openings`).

pub(super) use crate::domain::openings::MatchKey;

/// The columns of a posting the opening match reads.
pub(super) const MATCH_COLUMNS: &str = "platform_id, external_id, employer_code, title_key, \
     district, opening_id, publish_at, expire_at, close_reason, closed_at";
