//! The fuzz property of metrics's pure entry points
//! ([`super::entry_points`]), driven by `talent-testkit`'s generators for
//! the message each one checks.

use super::entry_points::ENTRY_POINTS;

#[test]
fn entry_points_check_any_message_soundly() {
    talent_testkit::check_entry_points(ENTRY_POINTS, 256);
}
