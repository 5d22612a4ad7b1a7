//! Test settings and typed helpers for the recruiting service.

/// Settings the recruiting service gets in every test.
pub fn configure(_config: &mut talent_recruiting::Config) {}
