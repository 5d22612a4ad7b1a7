//! Which of two facts about the same thing counts. Facts arrive late, out
//! of order and more than once; each rule picks the same winner in any
//! order of arrival, so the figures end where in-order facts would put
//! them.

/// Whether a hire recorded at `recorded_at` replaces what is stored for
/// its employment: `stored_hire` is the instant the stored hire was
/// recorded (None: no hire stored, perhaps only its separation). Of two
/// hires of one employment the one recorded last counts; of two recorded
/// at the same instant, the one applied last.
pub fn hire_counts(stored_hire: Option<i64>, recorded_at: i64) -> bool {
    stored_hire.is_none_or(|stored| recorded_at >= stored)
}

/// Whether a revision of a posting, a résumé or an employment's end
/// replaces the `stored` one: only a higher revision does, so a repeated
/// or an older revision changes nothing.
pub fn revision_counts(stored: Option<i64>, revision: i64) -> bool {
    stored.is_none_or(|stored| revision > stored)
}

/// Whether an employer's registration for a fair at `register_at`
/// replaces the `stored` one: the latest registration counts.
pub fn registration_counts(stored: Option<i64>, register_at: i64) -> bool {
    stored.is_none_or(|stored| register_at > stored)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_hire_recorded_last_counts() {
        assert!(hire_counts(None, 5));
        assert!(hire_counts(Some(5), 6));
        assert!(hire_counts(Some(5), 5));
        assert!(!hire_counts(Some(5), 4));
    }

    #[test]
    fn only_a_newer_revision_or_registration_counts() {
        assert!(revision_counts(None, 1));
        assert!(revision_counts(Some(1), 2));
        assert!(!revision_counts(Some(2), 2));
        assert!(!revision_counts(Some(3), 2));
        assert!(registration_counts(None, 0));
        assert!(registration_counts(Some(10), 11));
        assert!(!registration_counts(Some(10), 10));
    }

    /// Applying a rule to facts one by one keeps the value of the greatest
    /// key whatever the order they arrive in.
    fn winner(order: &[(i64, u8)], counts: fn(Option<i64>, i64) -> bool) -> Option<(i64, u8)> {
        let mut stored: Option<(i64, u8)> = None;
        for &(key, value) in order {
            if counts(stored.map(|s| s.0), key) {
                stored = Some((key, value));
            }
        }
        stored
    }

    proptest! {
        #[test]
        fn the_winner_does_not_depend_on_the_order(
            keys in proptest::collection::btree_set(0_i64..1_000, 1..8),
            seed in any::<u64>(),
        ) {
            // Distinct keys: one fact per key, its value the key's rank.
            let facts: Vec<(i64, u8)> = keys.iter().enumerate().map(|(i, k)| (*k, i as u8)).collect();
            let mut shuffled = facts.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let last = facts.last().copied();
            for rule in [hire_counts, revision_counts, registration_counts] {
                prop_assert_eq!(winner(&shuffled, rule), last);
            }
        }
    }
}
