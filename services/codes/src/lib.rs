//! The rules the recruiting service, the metrics service, the command and
//! the benchmark must apply alike, each once, with its test vectors beside
//! it: the national code sets the contracts use (`talent/type/v1/codes.proto`),
//! resident ID numbers and the person key derived from them, the city's day
//! of an instant and the instants accepted at all, and the talent tier.
//!
//! Two services that check the same fact with two copies of a rule end up
//! disagreeing: a fact one accepts and the other rejects vanishes between
//! them. So every check either service makes of a code lives here, and
//! `tests` in this crate pin the tables against the standards.
//!
//! Validators take the text as it arrived and return its normal form or the
//! reason it is invalid, worded to follow a field path ("must be …").

pub mod credit_code;
pub mod day;
pub mod district;
pub mod industry;
pub mod person_key;
pub mod resident_id;
pub mod tier;
pub mod university;

pub use day::{
    DateError, TimestampError, check_date, date_of_day, day_of_date, day_of_micros, local_day,
    micros, month_of_day, now_micros, proto_date, timestamp_of_micros, today,
};
pub use district::{in_city, is_district};
pub use person_key::{is_person_key, person_key};
pub use resident_id::ResidentId;
pub use tier::tier;
pub use university::is_university_code;
