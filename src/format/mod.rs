//! Rendering of the statistics responses as an aligned text table, CSV or
//! JSON, and parsing of the statistics commands' arguments ([`args`]).
//!
//! Two rules the bureau relies on shape everything here: an answer with
//! perturbed counts of persons says so, and that its figures need not add
//! up, in every format (the notes under the text table, trailing lines of
//! the CSV, `notes` and `disclosure` in JSON), and a rate is always shown
//! with its numerator and denominator. District and industry codes are
//! shown with their names ([`crate::codes`]), since the services leave
//! naming to clients.

pub mod args;
pub mod text;

use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::{Map, Value, json};
use talent_proto::talent::metrics::v1::{
    Count, Dimension, DimensionValue, DisclosureControl, GetGraduateOutcomesResponse,
    GetRecruitmentActivityResponse, GetTalentGatheredResponse, GraduateOutcomeFigures, Protection,
    Rate, RecruitmentActivityFigures, TalentGatheredFigures, dimension_value,
};
use talent_proto::talent::r#type::v1::{DegreeLevel, Discipline, TalentTier};

use crate::codes;

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned text for a terminal.
    #[default]
    Table,
    /// RFC 4180 CSV with a header line; codes and names in separate columns.
    Csv,
    /// One JSON document: `{"title", "disclosure", "total": {figure: value},
    /// "rows": [{column: value}], ...}`; see [`Table::to_value`].
    Json,
}

impl FromStr for OutputFormat {
    type Err = args::ArgError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            _ => Err(args::ArgError(format!(
                "unknown format \"{s}\": use table, csv or json"
            ))),
        }
    }
}

/// One cell of a statistics table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A label (a dimension value or "TOTAL").
    Text(String),
    /// A count.
    Count(i64),
    /// A rate as numerator / denominator.
    Rate(i64, i64),
    /// A figure that does not apply to the row (left unset by the service).
    NotApplicable,
}

impl Cell {
    fn count(c: Option<&Count>) -> Self {
        match c {
            None => Cell::NotApplicable,
            Some(c) => Cell::Count(c.value),
        }
    }

    fn rate(r: Option<&Rate>) -> Self {
        match r {
            None => Cell::NotApplicable,
            Some(r) => Cell::Rate(r.numerator, r.denominator),
        }
    }

    /// The cell for a human: thousands separators, "43.3% (46,764/108,000)".
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Count(v) => group(*v),
            Cell::Rate(n, d) => {
                format!("{} ({}/{})", percent(*n, *d), group(*n), group(*d))
            }
            Cell::NotApplicable => "-".to_string(),
        }
    }

    /// The cell for a machine (CSV): plain numbers; a rate as a fraction.
    fn plain(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Count(v) => v.to_string(),
            Cell::Rate(n, d) => match fraction(*n, *d) {
                Some(f) => format!("{f:.6}"),
                None => String::new(),
            },
            Cell::NotApplicable => String::new(),
        }
    }

    /// The cell for a program (JSON): a string, a number, a rate as
    /// `{"numerator", "denominator", "rate"}`; where a number cannot be
    /// given, an object saying why ([`not_applicable`]) instead of `null`.
    pub fn json(&self) -> Value {
        match self {
            Cell::Text(s) => json!(s),
            Cell::Count(v) => json!(v),
            Cell::Rate(n, d) => json!({
                "numerator": n,
                "denominator": d,
                "rate": match fraction(*n, *d) {
                    Some(f) => json!(f),
                    None => not_applicable("the denominator is 0"),
                },
            }),
            Cell::NotApplicable => {
                not_applicable("the figure does not apply to this row (the service left it unset)")
            }
        }
    }
}

/// What JSON gives where a figure cannot be a number:
/// `{"reason": "not_applicable", "detail": why}`.
pub fn not_applicable(why: &str) -> Value {
    json!({"reason": "not_applicable", "detail": why})
}

fn fraction(n: i64, d: i64) -> Option<f64> {
    (d != 0).then(|| n as f64 / d as f64)
}

/// "43.3%", or "n/a" when the denominator is 0.
pub fn percent(n: i64, d: i64) -> String {
    match fraction(n, d) {
        Some(f) => format!("{:.1}%", f * 100.0),
        None => "n/a".to_string(),
    }
}

/// 108000 → "108,000".
pub fn group(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// A column: its machine name (CSV header, JSON key) and its heading.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// snake_case name for CSV and JSON.
    pub key: String,
    /// Heading in the text table.
    pub heading: String,
    /// Shown only in CSV and JSON (codes, where the table shows the name).
    pub machine_only: bool,
}

/// A statistics table: what every format is rendered from.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// One line above the table ("Talents gathered, 2020-01-01 .. 2020-07-01").
    pub title: String,
    /// Lines under the table (disclosure control, definitions version).
    pub notes: Vec<String>,
    /// `Some(D)` when the counts of persons are perturbed (each by at most
    /// D): the notes then also end the CSV, and the JSON says so.
    pub perturbed_by: Option<i32>,
    /// The columns: first `dimensions` columns of dimension values (a code
    /// and a name per dimension), then the figures.
    pub columns: Vec<Column>,
    /// How many of the columns are dimension columns.
    pub dimensions: usize,
    /// The rows; the first is the total (its dimension cells say "TOTAL").
    pub rows: Vec<Vec<Cell>>,
    /// What the answer is about, for JSON: period, cohort_year, as_of,
    /// as_known_at, definition_version.
    pub about: Map<String, Value>,
}

impl Table {
    /// Renders in the chosen format; the text ends with a newline.
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => self.to_text(),
            OutputFormat::Csv => self.to_csv(),
            OutputFormat::Json => self.to_json(),
        }
    }

    /// Aligned text in at most [`text::TEXT_WIDTH`] columns: labels left
    /// (wrapped when the page needs it), figures right, CJK counted double
    /// width; a table wider than a page is printed in panels
    /// ([`text::table`]).
    pub fn to_text(&self) -> String {
        let shown: Vec<usize> = (0..self.columns.len())
            .filter(|i| !self.columns[*i].machine_only)
            .collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                shown
                    .iter()
                    .map(|i| r.get(*i).map(Cell::display).unwrap_or_default())
                    .collect()
            })
            .collect();
        let columns: Vec<text::TextColumn> = shown
            .iter()
            .map(|i| text::TextColumn {
                heading: self.columns[*i].heading.clone(),
                label: self
                    .rows
                    .iter()
                    .all(|r| matches!(r.get(*i), Some(Cell::Text(_)) | None)),
            })
            .collect();
        let mut out = text::wrap_lines(&self.title);
        for line in text::table(&columns, &cells) {
            let _ = writeln!(out, "{line}");
        }
        for n in &self.notes {
            out.push_str(&text::wrap_lines(n));
        }
        out
    }

    /// CSV with a header; every column including codes; rates as fractions
    /// with separate numerator and denominator columns.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let mut header = Vec::new();
        for c in &self.columns {
            header.push(c.key.clone());
        }
        let _ = writeln!(
            out,
            "{}",
            header
                .iter()
                .map(|h| csv_field(h))
                .collect::<Vec<_>>()
                .join(",")
        );
        for r in &self.rows {
            let fields: Vec<String> = r.iter().map(|c| csv_field(&c.plain())).collect();
            let _ = writeln!(out, "{}", fields.join(","));
        }
        // As statistical offices' CSV downloads do: the warning that the
        // figures are perturbed travels with them, after the table.
        if self.perturbed_by.is_some() {
            let _ = writeln!(out);
            for n in &self.notes {
                let _ = writeln!(out, "{}", csv_field(n));
            }
        }
        out
    }

    /// The JSON document: `title`, `notes`, `disclosure`, what the answer
    /// is about (`period`, `cohort_year`, `as_of`, `as_known_at`,
    /// `definition_version`), `dimensions` (the breakdown's keys),
    /// `columns`, the `total` (figures only) and the breakdown `rows`
    /// (dimension codes and names, then figures). Figures are typed: see
    /// [`Cell::json`].
    pub fn to_value(&self) -> Value {
        let object = |row: &[Cell], from: usize| {
            let mut m = Map::new();
            for (c, v) in self.columns.iter().zip(row).skip(from) {
                m.insert(c.key.clone(), v.json());
            }
            Value::Object(m)
        };
        let total = self
            .rows
            .first()
            .map(|r| object(r, self.dimensions))
            .unwrap_or_else(|| json!({}));
        let rows: Vec<Value> = self.rows.iter().skip(1).map(|r| object(r, 0)).collect();
        let mut doc = Map::new();
        doc.insert("title".into(), json!(self.title));
        doc.insert("notes".into(), json!(self.notes));
        doc.insert("disclosure".into(), disclosure_json(self.perturbed_by));
        doc.extend(self.about.clone());
        doc.insert(
            "dimensions".into(),
            json!(
                self.columns[..self.dimensions]
                    .iter()
                    .filter(|c| c.machine_only)
                    .map(|c| c.key.clone())
                    .collect::<Vec<_>>()
            ),
        );
        doc.insert(
            "columns".into(),
            json!(
                self.columns
                    .iter()
                    .map(|c| c.key.clone())
                    .collect::<Vec<_>>()
            ),
        );
        doc.insert("total".into(), total);
        doc.insert("rows".into(), Value::Array(rows));
        Value::Object(doc)
    }

    /// [`Table::to_value`], pretty-printed, ending with a newline.
    pub fn to_json(&self) -> String {
        pretty(&self.to_value())
    }
}

/// A JSON document, pretty-printed, ending with a newline.
pub fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// How the counts of persons are published, for JSON:
/// `{"protection": "EXACT"}` or `{"protection": "PERTURBED", "max_adjustment": D}`.
pub fn disclosure_json(perturbed_by: Option<i32>) -> Value {
    match perturbed_by {
        Some(d) => json!({"protection": "PERTURBED", "max_adjustment": d}),
        None => json!({"protection": "EXACT"}),
    }
}

/// A date as `YYYY-MM-DD`; `None` when unset.
pub fn date_text(d: Option<&talent_proto::google::r#type::Date>) -> Option<String> {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
}

/// An instant as RFC 3339 (UTC, to the microsecond); `None` when unset.
pub fn instant_text(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A period for JSON: `{"start_date", "end_date"}`, half-open as in the
/// contracts (`end_date` is the day after the last).
pub fn period_json(p: Option<&talent_proto::talent::r#type::v1::Period>) -> Value {
    match p {
        Some(p) => json!({
            "start_date": date_text(p.start_date.as_ref()),
            "end_date": date_text(p.end_date.as_ref()),
        }),
        None => Value::Null,
    }
}

/// What an answer is about, for its JSON document.
fn about(
    period: Option<&talent_proto::talent::r#type::v1::Period>,
    cohort: Option<(i32, Option<&talent_proto::google::r#type::Date>)>,
    as_known_at: Option<&prost_types::Timestamp>,
    definition_version: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(p) = period {
        m.insert("period".into(), period_json(Some(p)));
    }
    if let Some((year, as_of)) = cohort {
        m.insert("cohort_year".into(), json!(year));
        m.insert("as_of".into(), json!(date_text(as_of)));
    }
    m.insert("as_known_at".into(), json!(instant_text(as_known_at)));
    m.insert("definition_version".into(), json!(definition_version));
    m
}

/// A CSV field, quoted when it needs to be (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Terminal display width: East Asian wide and full-width characters
/// count 2 (Unicode's East Asian Width, as terminals apply it).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

fn col(key: &str, heading: &str) -> Column {
    Column {
        key: key.to_string(),
        heading: heading.to_string(),
        machine_only: false,
    }
}

fn machine(key: &str) -> Column {
    Column {
        key: key.to_string(),
        heading: key.to_string(),
        machine_only: true,
    }
}

/// The name of an enum value without its prefix ("HIGH", "MASTER").
fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_string()
}

/// The snake_case name of a dimension.
pub fn dimension_key(d: Dimension) -> &'static str {
    match d {
        Dimension::Unspecified => "unspecified",
        Dimension::District => "district",
        Dimension::Industry => "industry",
        Dimension::Tier => "tier",
        Dimension::Platform => "platform",
        Dimension::Month => "month",
        Dimension::University => "university",
        Dimension::DegreeLevel => "degree_level",
        Dimension::Discipline => "discipline",
    }
}

/// The (code, display name) of a dimension value; the code is what the
/// service sent, the name what a person reads.
pub fn dimension_value(v: &DimensionValue) -> (String, String) {
    use dimension_value::Value;
    match &v.value {
        Some(Value::District(c)) => (c.clone(), codes::district_name(c)),
        Some(Value::Industry(c)) => (c.clone(), codes::industry_name(c)),
        Some(Value::Tier(t)) => {
            let name = TalentTier::try_from(*t)
                .map(|t| enum_name(t.as_str_name(), "TALENT_TIER_"))
                .unwrap_or_else(|_| t.to_string());
            (name.clone(), name)
        }
        Some(Value::PlatformId(p)) => (p.clone(), p.clone()),
        Some(Value::Month(m)) => (m.clone(), m.clone()),
        Some(Value::UniversityCode(c)) => {
            let name = if v.label.is_empty() {
                codes::university_name(c)
            } else {
                format!("{c} {}", v.label)
            };
            (c.clone(), name)
        }
        Some(Value::DegreeLevel(d)) => {
            let name = DegreeLevel::try_from(*d)
                .map(|d| enum_name(d.as_str_name(), "DEGREE_LEVEL_"))
                .unwrap_or_else(|_| d.to_string());
            (name.clone(), name)
        }
        Some(Value::Discipline(d)) => {
            let name = Discipline::try_from(*d)
                .map(|d| enum_name(d.as_str_name(), "DISCIPLINE_"))
                .unwrap_or_else(|_| d.to_string());
            (name.clone(), name)
        }
        None => (String::new(), String::new()),
    }
}

/// Dimension columns of a response: for each dimension a code column
/// (CSV/JSON only) and a name column; taken from the first row, as every
/// row has the same dimensions in `group_by` order.
fn dimension_columns(first: Option<&[DimensionValue]>) -> Vec<Column> {
    let mut out = Vec::new();
    for v in first.unwrap_or_default() {
        let key = Dimension::try_from(v.dimension)
            .map(dimension_key)
            .unwrap_or("dimension");
        out.push(machine(key));
        out.push(col(&format!("{key}_name"), key));
    }
    out
}

fn dimension_cells(dims: &[DimensionValue], total: bool, n: usize) -> Vec<Cell> {
    if total {
        let mut cells = vec![Cell::Text(String::new()); n * 2];
        if n > 0 {
            cells[0] = Cell::Text("TOTAL".into());
            cells[1] = Cell::Text("TOTAL".into());
        }
        return cells;
    }
    let mut cells = Vec::with_capacity(n * 2);
    for k in 0..n {
        let (code, name) = dims.get(k).map(dimension_value).unwrap_or_default();
        cells.push(Cell::Text(code));
        cells.push(Cell::Text(name));
    }
    cells
}

fn period_text(p: Option<&talent_proto::talent::r#type::v1::Period>) -> String {
    let d = |d: Option<&talent_proto::google::r#type::Date>| {
        d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
            .unwrap_or_else(|| "?".into())
    };
    match p {
        Some(p) => format!("[{}, {})", d(p.start_date.as_ref()), d(p.end_date.as_ref())),
        None => "(no period)".into(),
    }
}

/// `Some(D)` when an answer's counts of persons are perturbed by at most D.
pub fn perturbed_by(control: Option<&DisclosureControl>) -> Option<i32> {
    control
        .filter(|c| c.protection() == Protection::Perturbed)
        .map(|c| c.max_adjustment)
}

/// The line that says how the counts of persons are published.
pub fn disclosure_note(perturbed_by: Option<i32>) -> String {
    match perturbed_by {
        Some(d) => format!(
            "counts of persons perturbed for disclosure control (each by at most {d}): \
             figures need not add up"
        ),
        None => "exact figures".to_string(),
    }
}

fn notes(perturbed_by: Option<i32>, version: &str) -> Vec<String> {
    vec![format!(
        "{}; definitions {version}",
        disclosure_note(perturbed_by)
    )]
}

fn gathered_cells(f: Option<&TalentGatheredFigures>) -> Vec<Cell> {
    vec![
        Cell::count(f.and_then(|f| f.talents_gathered.as_ref())),
        Cell::count(f.and_then(|f| f.high_tier.as_ref())),
        Cell::count(f.and_then(|f| f.general_tier.as_ref())),
    ]
}

fn gathered_columns() -> Vec<Column> {
    vec![
        col("talents_gathered", "talents gathered"),
        col("high_tier", "HIGH"),
        col("general_tier", "GENERAL"),
    ]
}

/// Figures as one JSON object, keyed as the table's figure columns.
fn figures_json(columns: &[Column], cells: &[Cell]) -> Value {
    Value::Object(
        columns
            .iter()
            .zip(cells)
            .map(|(c, v)| (c.key.clone(), v.json()))
            .collect(),
    )
}

/// Talents gathered figures as JSON, as in the `total` of [`gathered_table`].
pub fn gathered_json(f: Option<&TalentGatheredFigures>) -> Value {
    figures_json(&gathered_columns(), &gathered_cells(f))
}

/// The rows of a breakdown: without one the service answers a single row
/// without dimensions, the total again, which the tables leave out.
fn breakdown<R>(rows: &[R], dims: fn(&R) -> &[DimensionValue]) -> Vec<&R> {
    rows.iter().filter(|r| !dims(r).is_empty()).collect()
}

/// The table of a `GetTalentGathered` answer.
pub fn gathered_table(r: &GetTalentGatheredResponse) -> Table {
    let rows_in = breakdown(&r.rows, |row| row.dimensions.as_slice());
    let first = rows_in.first().map(|row| row.dimensions.as_slice());
    let n = first.map_or(0, <[_]>::len);
    let mut columns = dimension_columns(first);
    let dimensions = columns.len();
    columns.extend(gathered_columns());
    let mut rows = vec![
        [
            dimension_cells(&[], true, n),
            gathered_cells(r.total.as_ref()),
        ]
        .concat(),
    ];
    for row in rows_in {
        rows.push(
            [
                dimension_cells(&row.dimensions, false, n),
                gathered_cells(row.figures.as_ref()),
            ]
            .concat(),
        );
    }
    Table {
        title: format!("Talents gathered {}", period_text(r.period.as_ref())),
        notes: notes(
            perturbed_by(r.disclosure_control.as_ref()),
            &r.definition_version,
        ),
        perturbed_by: perturbed_by(r.disclosure_control.as_ref()),
        columns,
        dimensions,
        rows,
        about: about(
            r.period.as_ref(),
            None,
            r.as_known_at.as_ref(),
            &r.definition_version,
        ),
    }
}

fn outcome_cells(f: Option<&GraduateOutcomeFigures>) -> Vec<Cell> {
    vec![
        Cell::count(f.and_then(|f| f.cohort_size.as_ref())),
        Cell::count(f.and_then(|f| f.employed.as_ref())),
        Cell::count(f.and_then(|f| f.retained.as_ref())),
        Cell::rate(f.and_then(|f| f.employment_rate.as_ref())),
        Cell::rate(f.and_then(|f| f.retention_rate.as_ref())),
        Cell::rate(f.and_then(|f| f.local_share_of_employed.as_ref())),
    ]
}

fn outcome_columns() -> Vec<Column> {
    vec![
        col("cohort_size", "cohort"),
        col("employed", "employed"),
        col("retained", "retained"),
        col("employment_rate", "employment rate"),
        col("retention_rate", "retention rate"),
        col("local_share_of_employed", "local share of employed"),
    ]
}

/// Graduate outcome figures as JSON, as in the `total` of [`outcomes_table`].
pub fn outcomes_json(f: Option<&GraduateOutcomeFigures>) -> Value {
    figures_json(&outcome_columns(), &outcome_cells(f))
}

/// Whether an outcomes breakdown is by where the graduates work (district
/// or industry of employment, with "outside the city" and "not employed"
/// rows). Every graduate of such a row is employed there, or not at all,
/// so its own rates are 100 % or 0 % by construction; what compares rows
/// is their share of the cohort.
fn by_workplace(dims: &[DimensionValue]) -> bool {
    dims.iter().any(|d| {
        matches!(
            Dimension::try_from(d.dimension),
            Ok(Dimension::District | Dimension::Industry)
        )
    })
}

fn share_columns() -> Vec<Column> {
    vec![
        col("cohort_size", "graduates"),
        col("share_of_cohort", "share of the cohort"),
    ]
}

/// A row's graduates and their share of the whole cohort.
fn share_cells(f: Option<&GraduateOutcomeFigures>, cohort: Option<&Count>) -> Vec<Cell> {
    let n = f.and_then(|f| f.cohort_size.as_ref());
    vec![
        Cell::count(n),
        match (n, cohort) {
            (Some(n), Some(c)) => Cell::Rate(n.value, c.value),
            _ => Cell::NotApplicable,
        },
    ]
}

/// The note under a table of shares of the cohort.
pub const SHARES_NOTE: &str = "share of the cohort = a row's graduates ÷ the whole cohort; \
     the rows, \"outside the city\" and \"not employed\" included, make up the cohort \
     (the TOTAL row's 100 %)";

/// The table of a `GetGraduateOutcomes` answer. Broken down by where the
/// graduates work ([`by_workplace`]), it shows each row's graduates and
/// their share of the cohort instead of rates.
pub fn outcomes_table(r: &GetGraduateOutcomesResponse) -> Table {
    let rows_in = breakdown(&r.rows, |row| row.dimensions.as_slice());
    let first = rows_in.first().map(|row| row.dimensions.as_slice());
    let n = first.map_or(0, <[_]>::len);
    let shares = first.is_some_and(by_workplace);
    let cohort = r.total.as_ref().and_then(|t| t.cohort_size.as_ref());
    let cells = |f: Option<&GraduateOutcomeFigures>| {
        if shares {
            share_cells(f, cohort)
        } else {
            outcome_cells(f)
        }
    };
    let mut columns = dimension_columns(first);
    let dimensions = columns.len();
    columns.extend(if shares {
        share_columns()
    } else {
        outcome_columns()
    });
    let mut rows = vec![[dimension_cells(&[], true, n), cells(r.total.as_ref())].concat()];
    for row in rows_in {
        rows.push(
            [
                dimension_cells(&row.dimensions, false, n),
                cells(row.figures.as_ref()),
            ]
            .concat(),
        );
    }
    let as_of = r
        .as_of
        .as_ref()
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_else(|| "?".into());
    let mut notes = notes(
        perturbed_by(r.disclosure_control.as_ref()),
        &r.definition_version,
    );
    if shares {
        notes.insert(0, SHARES_NOTE.to_string());
    }
    Table {
        title: format!("Graduate outcomes, cohort {}, as of {as_of}", r.cohort_year),
        notes,
        perturbed_by: perturbed_by(r.disclosure_control.as_ref()),
        columns,
        dimensions,
        rows,
        about: about(
            None,
            Some((r.cohort_year, r.as_of.as_ref())),
            r.as_known_at.as_ref(),
            &r.definition_version,
        ),
    }
}

fn activity_cells(f: Option<&RecruitmentActivityFigures>) -> Vec<Cell> {
    vec![
        Cell::count(f.and_then(|f| f.postings.as_ref())),
        Cell::count(f.and_then(|f| f.openings.as_ref())),
        Cell::count(f.and_then(|f| f.headcount_demanded.as_ref())),
        Cell::count(f.and_then(|f| f.employers_posting.as_ref())),
        Cell::count(f.and_then(|f| f.fairs_held.as_ref())),
        Cell::count(f.and_then(|f| f.employer_participations.as_ref())),
        Cell::count(f.and_then(|f| f.resumes_received.as_ref())),
        Cell::count(f.and_then(|f| f.distinct_job_seekers.as_ref())),
        Cell::count(f.and_then(|f| f.applications.as_ref())),
    ]
}

fn activity_columns() -> Vec<Column> {
    vec![
        col("postings", "postings"),
        col("openings", "openings"),
        col("headcount_demanded", "positions"),
        col("employers_posting", "employers"),
        col("fairs_held", "fairs"),
        col("employer_participations", "participations"),
        col("resumes_received", "résumés"),
        col("distinct_job_seekers", "job seekers"),
        col("applications", "applications"),
    ]
}

/// Recruitment activity figures as JSON, as in the `total` of [`activity_table`].
pub fn activity_json(f: Option<&RecruitmentActivityFigures>) -> Value {
    figures_json(&activity_columns(), &activity_cells(f))
}

/// The table of a `GetRecruitmentActivity` answer.
pub fn activity_table(r: &GetRecruitmentActivityResponse) -> Table {
    let rows_in = breakdown(&r.rows, |row| row.dimensions.as_slice());
    let first = rows_in.first().map(|row| row.dimensions.as_slice());
    let n = first.map_or(0, <[_]>::len);
    let mut columns = dimension_columns(first);
    let dimensions = columns.len();
    columns.extend(activity_columns());
    let mut rows = vec![
        [
            dimension_cells(&[], true, n),
            activity_cells(r.total.as_ref()),
        ]
        .concat(),
    ];
    for row in rows_in {
        rows.push(
            [
                dimension_cells(&row.dimensions, false, n),
                activity_cells(row.figures.as_ref()),
            ]
            .concat(),
        );
    }
    Table {
        title: format!("Recruitment activity {}", period_text(r.period.as_ref())),
        notes: notes(
            perturbed_by(r.disclosure_control.as_ref()),
            &r.definition_version,
        ),
        perturbed_by: perturbed_by(r.disclosure_control.as_ref()),
        columns,
        dimensions,
        rows,
        about: about(
            r.period.as_ref(),
            None,
            r.as_known_at.as_ref(),
            &r.definition_version,
        ),
    }
}

#[cfg(test)]
mod tests;
