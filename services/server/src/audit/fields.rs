//! Which fields of an audited request are recorded, and the request as
//! JSON without the others.
//!
//! Every field of every message an audited request can hold is classified
//! once by its service ([`Fields`]): recorded, or personal (anything that
//! could identify or describe a person: resident ID numbers, person keys,
//! names, phones, free text). A field classified nowhere is not recorded
//! either, and [`mismatches`] names it, so a service's unit test fails until
//! someone decides. Messages of the `google.` packages (timestamps,
//! durations, dates) are values, recorded whole where their field is.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use base64::Engine as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage as _, Value,
};
use serde_json::{Map, json};

use super::Audit;
use crate::methods::Methods;

/// The classification of one message's fields, by field name.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The message's full name (`talent.recruiting.v1.ErasePersonRequest`).
    pub message: &'static str,
    /// Fields recorded as sent.
    pub recorded: &'static [&'static str],
    /// Fields never recorded: they identify or describe a person.
    pub personal: &'static [&'static str],
}

impl Fields {
    pub const fn of(
        message: &'static str,
        recorded: &'static [&'static str],
        personal: &'static [&'static str],
    ) -> Self {
        Self {
            message,
            recorded,
            personal,
        }
    }
}

/// Whether a message is a value type of the `google.` packages, recorded
/// whole.
fn is_value_type(message: &MessageDescriptor) -> bool {
    message.package_name().starts_with("google.")
}

/// Turns the requests of audited methods into JSON without their personal
/// fields.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// The request type of each audited method, by path.
    inputs: HashMap<String, MessageDescriptor>,
    /// The full names of the fields recorded.
    recorded: HashSet<String>,
}

impl Redactor {
    /// The redactor of the methods `table` audits, their types found in
    /// `descriptor_set`.
    pub fn new(
        table: &[(&str, Audit)],
        fields: &[Fields],
        descriptor_set: &[u8],
    ) -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(descriptor_set).context("decoding a descriptor set")?;
        let mut inputs = HashMap::new();
        for (path, audit) in table {
            if *audit == Audit::No {
                continue;
            }
            let method = method(&pool, path).with_context(|| format!("no method {path}"))?;
            inputs.insert((*path).to_owned(), method.input());
        }
        let recorded = fields
            .iter()
            .flat_map(|f| {
                f.recorded
                    .iter()
                    .map(|name| format!("{}.{name}", f.message))
            })
            .collect();
        Ok(Self { inputs, recorded })
    }

    /// The request of a call to `method` as JSON without its personal
    /// fields, from its gRPC frame: `{}` when nothing was read, empty when
    /// it cannot be decoded (compressed, cut short or malformed).
    pub fn request_json(&self, method: &str, frame: &[u8]) -> String {
        if frame.is_empty() {
            return "{}".into();
        }
        let Some(input) = self.inputs.get(method) else {
            return String::new();
        };
        let message = match frame {
            [0, a, b, c, d, rest @ ..] => {
                let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
                rest.get(..len)
            }
            _ => None,
        };
        message
            .and_then(|bytes| DynamicMessage::decode(input.clone(), bytes).ok())
            .map(|m| self.message(&m).to_string())
            .unwrap_or_default()
    }

    fn message(&self, message: &DynamicMessage) -> serde_json::Value {
        let descriptor = message.descriptor();
        if descriptor.full_name() == "google.protobuf.Timestamp"
            && let Ok(ts) = message.transcode_to::<prost_types::Timestamp>()
        {
            return crate::rfc3339::of_timestamp(&ts)
                .map_or_else(|| json!(ts.seconds), |s| json!(s));
        }
        if descriptor.full_name() == "google.protobuf.Duration"
            && let Ok(d) = message.transcode_to::<prost_types::Duration>()
        {
            return json!(format!("{}.{:09}s", d.seconds, d.nanos));
        }
        let whole = is_value_type(&descriptor);
        let mut object = Map::new();
        for (field, value) in message.fields() {
            if whole || self.recorded.contains(field.full_name()) {
                object.insert(field.name().to_owned(), self.value(&field, value));
            }
        }
        serde_json::Value::Object(object)
    }

    fn value(&self, field: &FieldDescriptor, value: &Value) -> serde_json::Value {
        match value {
            Value::Bool(v) => json!(v),
            Value::I32(v) => json!(v),
            Value::I64(v) => json!(v),
            Value::U32(v) => json!(v),
            Value::U64(v) => json!(v),
            Value::F32(v) => json!(v),
            Value::F64(v) => json!(v),
            Value::String(v) => json!(v),
            Value::Bytes(v) => json!(base64::engine::general_purpose::STANDARD.encode(v)),
            Value::EnumNumber(n) => match field.kind() {
                Kind::Enum(e) => e
                    .get_value(*n)
                    .map_or_else(|| json!(n), |v| json!(v.name())),
                _ => json!(n),
            },
            Value::Message(m) => self.message(m),
            Value::List(items) => items.iter().map(|v| self.value(field, v)).collect(),
            Value::Map(entries) => {
                let value_field = match field.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field(),
                    _ => return serde_json::Value::Null,
                };
                let object: Map<String, serde_json::Value> = entries
                    .iter()
                    .map(|(k, v)| (map_key(k), self.value(&value_field, v)))
                    .collect();
                serde_json::Value::Object(object)
            }
        }
    }
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(v) => v.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(v) => v.clone(),
    }
}

fn method(pool: &DescriptorPool, path: &str) -> Option<prost_reflect::MethodDescriptor> {
    let (service, name) = path.strip_prefix('/')?.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == name)
}

/// What keeps a service's audit declaration from being complete and
/// exact: each method `served` that `table` does not name, each path it
/// names that is not served, each audited method that streams (only unary
/// calls are audited), each field an audited request can hold that
/// `fields` does not classify, and each classification of a field that
/// does not exist or is classified both ways. Empty when all is well;
/// services test that it is.
pub fn mismatches(
    table: &[(&str, Audit)],
    fields: &[Fields],
    served: &Methods,
    descriptor_set: &[u8],
) -> Vec<String> {
    let pool = match DescriptorPool::decode(descriptor_set) {
        Ok(pool) => pool,
        Err(err) => return vec![format!("the descriptor set does not decode: {err}")],
    };
    let declared: HashSet<&str> = table.iter().map(|(path, _)| *path).collect();
    let mut found: Vec<String> = served
        .paths()
        .filter(|path| !declared.contains(path))
        .map(|path| format!("{path} is served but has no audit entry"))
        .collect();
    let served_paths: HashSet<&str> = served.paths().collect();
    let mut seen = HashSet::new();
    let mut classified: HashMap<String, usize> = HashMap::new();
    for f in fields {
        for name in f.recorded.iter().chain(f.personal) {
            *classified
                .entry(format!("{}.{name}", f.message))
                .or_default() += 1;
        }
    }
    let mut reachable = HashSet::new();
    for (path, audit) in table {
        if !served_paths.contains(path) {
            found.push(format!("{path} has an audit entry but is not served"));
        }
        if !seen.insert(*path) {
            found.push(format!("{path} has two audit entries"));
        }
        if *audit == Audit::No {
            continue;
        }
        let Some(method) = method(&pool, path) else {
            found.push(format!("{path} has no descriptor"));
            continue;
        };
        if method.is_client_streaming() || method.is_server_streaming() {
            found.push(format!("{path} streams; only unary methods can be audited"));
        }
        collect_fields(&method.input(), &mut reachable);
    }
    for field in &reachable {
        if !classified.contains_key(field) {
            found.push(format!(
                "{field} is in an audited request but not classified"
            ));
        }
    }
    for (field, times) in &classified {
        if *times > 1 {
            found.push(format!("{field} is classified twice"));
        }
        if !reachable.contains(field) {
            found.push(format!("{field} is classified but in no audited request"));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The full names of every field `message` can hold, nested messages
/// included (value types of `google.` excepted).
fn collect_fields(message: &MessageDescriptor, out: &mut HashSet<String>) {
    if is_value_type(message) {
        return;
    }
    for field in message.fields() {
        if !out.insert(field.full_name().to_owned()) {
            continue;
        }
        if let Kind::Message(inner) = field.kind() {
            if inner.is_map_entry() {
                if let Kind::Message(value) = inner.map_entry_value_field().kind() {
                    collect_fields(&value, out);
                }
            } else {
                collect_fields(&inner, out);
            }
        }
    }
}
