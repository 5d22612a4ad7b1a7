//! The application state machine: SUBMITTED → VIEWED → INTERVIEWING →
//! OFFERED → HIRED, step by step; REJECTED or WITHDRAWN from any state
//! before HIRED; HIRED, REJECTED and WITHDRAWN are final. Transitions are
//! in time order.

use crate::store::ApplicationRecord;

/// Application states as stored (the values of `Application.State`).
pub mod app_state {
    pub const SUBMITTED: i32 = 1;
    pub const HIRED: i32 = 5;
    pub const REJECTED: i32 = 6;
    pub const WITHDRAWN: i32 = 7;

    /// Whether the state machine allows `from` → `to`.
    pub fn allowed(from: i32, to: i32) -> bool {
        (SUBMITTED..HIRED).contains(&from) && (to == from + 1 || to == REJECTED || to == WITHDRAWN)
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The state machine has no such move.
    NotAllowed(String),
    /// (field, description): the time goes back.
    Invalid(&'static str, &'static str),
}

/// `record` moved to `to` at `at` for `reason`, or why it cannot.
pub fn transition(
    record: &ApplicationRecord,
    to: i32,
    at: i64,
    reason: String,
    now: i64,
) -> Result<ApplicationRecord, Refused> {
    if !app_state::allowed(record.state, to) {
        return Err(Refused::NotAllowed(format!(
            "an application in state {} cannot move to state {to}",
            record.state
        )));
    }
    let last = record.history.last().map_or(record.submit_at, |t| t.2);
    if at < last {
        return Err(Refused::Invalid(
            "transition_time",
            "must not be before the previous transition",
        ));
    }
    let mut record = record.clone();
    record.history.push((record.state, to, at, reason));
    record.state = to;
    record.updated_at = now;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::{app_state::*, *};

    fn submitted() -> ApplicationRecord {
        ApplicationRecord {
            platform_id: "p".into(),
            application_id: "a".into(),
            resume_id: "r".into(),
            posting_id: "x".into(),
            fair_id: None,
            state: SUBMITTED,
            history: vec![(0, SUBMITTED, 10, String::new())],
            submit_at: 10,
            employment_id: None,
            created_at: 10,
            updated_at: 10,
        }
    }

    #[test]
    fn states_move_one_step_forward_or_end() {
        for from in 1..=7 {
            for to in 0..=8 {
                let expected =
                    from < HIRED && (to == from + 1 || to == REJECTED || to == WITHDRAWN);
                assert_eq!(allowed(from, to), expected, "{from} → {to}");
            }
        }
    }

    #[test]
    fn a_transition_is_recorded_in_time_order() {
        let viewed = transition(&submitted(), 2, 11, "seen".into(), 12).unwrap();
        assert_eq!(viewed.state, 2);
        assert_eq!(viewed.history.last(), Some(&(1, 2, 11, "seen".into())));
        assert_eq!(viewed.updated_at, 12);
        assert_eq!(
            transition(&viewed, 3, 10, String::new(), 12),
            Err(Refused::Invalid(
                "transition_time",
                "must not be before the previous transition"
            ))
        );
        assert!(matches!(
            transition(&viewed, 4, 12, String::new(), 12),
            Err(Refused::NotAllowed(_))
        ));
        let withdrawn = transition(&viewed, WITHDRAWN, 11, String::new(), 12).unwrap();
        assert!(matches!(
            transition(&withdrawn, HIRED, 12, String::new(), 12),
            Err(Refused::NotAllowed(_))
        ));
    }
}
