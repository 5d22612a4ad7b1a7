//! Record reading: JSON Lines and CSV (RFC 4180, quoted fields may span
//! lines; a UTF-8 byte order mark, as spreadsheet programs write, is
//! skipped). Streams from any `BufRead`, so a file of millions of lines is
//! pushed without being held in memory.
//!
//! Files are UTF-8, or GB18030 (GBK and GB2312 are subsets of it), what
//! spreadsheet programs in China save: the first line that is not plain
//! ASCII decides, and a line that does not fit the file's encoding stops
//! the reading with its number and what to do.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

use super::{FileFormat, Violation};

/// One record: where it starts and its fields (or why it could not be read).
#[derive(Debug)]
pub struct Record {
    /// 1-based line number of the record's first line.
    pub line: usize,
    /// The fields in the JSON shape of the schema, or the syntax problem.
    pub fields: Result<Map<String, Value>, Vec<Violation>>,
}

/// A CSV record's first line and its fields (or the syntax problem).
type CsvRecord = (usize, Result<Vec<String>, String>);

/// The text encoding of a file, known from its first line that is not
/// plain ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Gb18030,
}

/// Iterator over the records of a reader.
#[derive(Debug)]
pub struct Records<R> {
    reader: R,
    format: FileFormat,
    line: usize,
    header: Option<Vec<String>>,
    done: bool,
    encoding: Option<Encoding>,
}

impl<R: BufRead> Records<R> {
    pub(super) fn new(reader: R, format: FileFormat) -> Self {
        Self {
            reader,
            format,
            line: 0,
            header: None,
            done: false,
            encoding: None,
        }
    }

    fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut bytes = Vec::new();
        if self.reader.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut buf = decode_line(bytes, self.line, &mut self.encoding)?;
        if self.line == 1 && buf.starts_with('\u{feff}') {
            buf.remove(0);
        }
        while buf.ends_with('\n') || buf.ends_with('\r') {
            buf.pop();
        }
        Ok(Some(buf))
    }

    /// The next CSV record (possibly several physical lines) and its first
    /// line number.
    fn csv_record(&mut self) -> io::Result<Option<CsvRecord>> {
        loop {
            let Some(mut text) = self.read_line()? else {
                return Ok(None);
            };
            let start = self.line;
            if text.trim().is_empty() {
                continue;
            }
            while text.chars().filter(|c| *c == '"').count() % 2 == 1 {
                match self.read_line()? {
                    Some(more) => {
                        text.push('\n');
                        text.push_str(&more);
                    }
                    None => return Ok(Some((start, Err("unterminated quoted field".into())))),
                }
            }
            return Ok(Some((start, split_csv(&text))));
        }
    }

    fn next_csv(&mut self) -> io::Result<Option<Record>> {
        if self.header.is_none() {
            match self.csv_record()? {
                None => return Ok(None),
                Some((line, Err(e))) => {
                    self.done = true;
                    return Ok(Some(Record {
                        line,
                        fields: Err(vec![Violation::new("", format!("header: {e}"))]),
                    }));
                }
                Some((_, Ok(h))) => {
                    self.header = Some(h.into_iter().map(|s| s.trim().to_string()).collect());
                }
            }
        }
        let Some((line, fields)) = self.csv_record()? else {
            return Ok(None);
        };
        let header = self.header.as_deref().unwrap_or_default();
        let fields = fields
            .map_err(|e| vec![Violation::new("", e)])
            .and_then(|values| {
                if values.len() != header.len() {
                    return Err(vec![Violation::new(
                        "",
                        format!("{} fields, the header has {}", values.len(), header.len()),
                    )]);
                }
                Ok(fold(header, values))
            });
        Ok(Some(Record { line, fields }))
    }

    fn next_json(&mut self) -> io::Result<Option<Record>> {
        loop {
            let Some(text) = self.read_line()? else {
                return Ok(None);
            };
            if text.trim().is_empty() {
                continue;
            }
            let fields = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(vec![Violation::new("", "not a JSON object")]),
                Err(e) => Err(vec![Violation::new("", format!("bad JSON: {e}"))]),
            };
            return Ok(Some(Record {
                line: self.line,
                fields,
            }));
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.format {
            FileFormat::Csv => self.next_csv(),
            FileFormat::JsonLines => self.next_json(),
        };
        match r {
            Ok(Some(rec)) => Some(Ok(rec)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// One line's text in the file's encoding, deciding the encoding on the
/// first line that is not plain ASCII. (GB18030 keeps every ASCII byte,
/// the line break included, as itself, so lines split alike in both.)
fn decode_line(bytes: Vec<u8>, line: usize, encoding: &mut Option<Encoding>) -> io::Result<String> {
    if bytes.is_ascii() {
        return Ok(String::from_utf8(bytes).unwrap_or_default());
    }
    let decided = *encoding.get_or_insert(
        if std::str::from_utf8(&bytes).is_ok() || bytes.starts_with("\u{feff}".as_bytes()) {
            Encoding::Utf8
        } else {
            Encoding::Gb18030
        },
    );
    let text = match decided {
        Encoding::Utf8 => String::from_utf8(bytes).ok(),
        Encoding::Gb18030 => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(&bytes)
            .map(|text| text.into_owned()),
    };
    text.ok_or_else(|| {
        let was = match decided {
            Encoding::Utf8 => "UTF-8 like the lines before it",
            Encoding::Gb18030 => "UTF-8, nor GB18030 like the lines before it",
        };
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "line {line} is not {was}: save the file as UTF-8 (CSV UTF-8 in a spreadsheet \
                 program) and push it again"
            ),
        )
    })
}

/// Splits one CSV record into fields (RFC 4180 quoting).
pub fn split_csv(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => return Err("a quote inside an unquoted field".into()),
                _ if was_quoted => return Err("text after a closing quote".into()),
                _ => field.push(c),
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

/// CSV columns to the JSON shape: `salary_min_cny` → `salary.min_cny`,
/// `hire_start_date` → `hire.start_date`,
/// `education_degree_level` → `education[0].degree_level`, `a.b` → `a.b`;
/// empty cells are left out (not set).
fn fold(header: &[String], values: Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (col, value) in header.iter().zip(values) {
        if value.is_empty() {
            continue;
        }
        let (outer, inner) = if let Some((a, b)) = col.split_once('.') {
            (a, Some(b))
        } else if let Some(b) = col.strip_prefix("salary_") {
            ("salary", Some(b))
        } else if let Some(b) = col.strip_prefix("education_") {
            ("education", Some(b))
        } else if let Some(b) = col.strip_prefix("hire_") {
            ("hire", Some(b))
        } else {
            (col.as_str(), None)
        };
        match inner {
            None => {
                out.insert(outer.to_string(), Value::String(value));
            }
            Some(inner) if outer == "education" => {
                let list = out
                    .entry("education")
                    .or_insert_with(|| Value::Array(vec![Value::Object(Map::new())]));
                if let Some(Value::Object(m)) = list.as_array_mut().and_then(|a| a.first_mut()) {
                    m.insert(inner.to_string(), Value::String(value));
                }
            }
            Some(inner) => {
                let obj = out
                    .entry(outer.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = obj {
                    m.insert(inner.to_string(), Value::String(value));
                }
            }
        }
    }
    out
}
