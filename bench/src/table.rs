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

impl Row {
    pub fn skip(scenario: u8, figure: &str, target: &str, why: &str) -> Self {
        Self {
            scenario,
            figure: figure.into(),
            unit: String::new(),
            value: None,
            baseline: None,
            ratio: None,
            target: target.into(),
            status: Status::Skip,
            note: format!("not yet measured: {why}"),
        }
    }
}
