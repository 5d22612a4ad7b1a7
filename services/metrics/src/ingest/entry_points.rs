//! The pure entry points of metrics' ingest: an event and a roster row
//! checked without a database, as `PublishEvents` and
//! `ImportGraduateRoster` check each one. Property tests
//! (`ingest/fuzz_tests.rs`) and the fuzz targets (`fuzz/`) drive them
//! through [`ENTRY_POINTS`]; `tests/it/fuzz.rs` drives every RPC through
//! the running service.

use prost::Message;
use talent_proto::talent::{events::v1 as ev, metrics::v1 as pb};
use talent_server::FieldViolations;

use super::{IngestSettings, roster::check_row, validate::check_event};
use crate::disclosure::RecordKeys;

/// What an entry point made of a message: the input it became (its
/// `Debug` form), or the paths of its field violations.
pub type Checked = Result<String, Vec<String>>;

/// Decodes the message an entry point takes and checks it; `None` when
/// the bytes do not decode.
pub type EntryPoint = fn(&[u8]) -> Option<Checked>;

/// The instant the entry points check at.
const NOW: i64 = 1_764_900_000_000_000;

fn settings() -> IngestSettings {
    IngestSettings {
        person_key_secret: "fuzz".into(),
        city_prefix: "3702".into(),
        record_keys: RecordKeys::new("fuzz record keys"),
    }
}

/// Every entry point, behind the full name of the message it checks.
pub const ENTRY_POINTS: &[(&str, EntryPoint)] = &[
    ("talent.events.v1.Event", |bytes| {
        let event = ev::Event::decode(bytes).ok()?;
        // A fact has no `Debug`; whether the event passes is compared.
        Some(
            check_event(&event, &settings())
                .map(|_| String::new())
                .map_err(|v| paths(&v)),
        )
    }),
    ("talent.metrics.v1.GraduateRosterRow", |bytes| {
        let row = pb::GraduateRosterRow::decode(bytes).ok()?;
        Some(
            check_row(&row, &settings(), NOW, 0)
                .map(|record| format!("{record:?}"))
                .map_err(|v| paths(&v)),
        )
    }),
];

fn paths(violations: &FieldViolations) -> Vec<String> {
    violations.iter().map(|v| v.field.clone()).collect()
}
