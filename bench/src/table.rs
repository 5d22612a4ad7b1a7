//! One row of the benchmark's table: a figure, its baseline, the ratio
//! that counts, the target and whether it holds.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Info,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub scenario: u8,
    pub figure: String,
    pub unit: String,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub ratio: Option<f64>,
    pub target: String,
    pub status: Status,
    pub note: String,
}
