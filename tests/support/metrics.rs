//! Test settings and typed helpers for the metrics service.

/// Settings the metrics service gets in every test.
pub fn configure(_config: &mut talent_metrics::Config) {}
