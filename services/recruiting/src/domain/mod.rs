//! The recruiting rules as pure functions over records: which postings
//! are one opening, what a posting may become, how an application moves,
//! where a hire works. No SQL and no gRPC here: the store loads what a
//! rule needs, calls it, and writes what it returns; each rule is tested
//! alone beside it.

pub mod applications;
pub mod employments;
pub mod openings;
pub mod postings;
