//! The fuzz properties of metrics' pure entry points
//! ([`super::entry_points`]), each driven by `talent-testkit`'s generators
//! for the message it checks.

use proptest::prelude::*;
use talent_testkit as testkit;

use super::entry_points::ENTRY_POINTS;

proptest! {
    #![proptest_config(testkit::config(256))]

    /// Structured messages and mutated encodings: checking never panics;
    /// violations name real fields; what passes passes again, alike, once
    /// re-encoded.
    #[test]
    fn entry_points_check_any_message_soundly(
        (name, bytes) in (0..ENTRY_POINTS.len()).prop_flat_map(|i| {
            let (name, _) = ENTRY_POINTS[i];
            (Just(name), testkit::request_bytes(testkit::descriptor(name)))
        }),
    ) {
        let (_, check) = ENTRY_POINTS.iter().find(|(n, _)| *n == name).unwrap();
        testkit::check_entry_point(name, &bytes, check)?;
    }
}
