//! Structured messages of any type in the descriptor set: each field
//! present or not, repeated fields empty, short or one past the batch
//! limits, enums known and unknown, and the well-known types
//! (`Timestamp`, `google.type.Date`, `FieldMask`) near their edges.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::select;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

use crate::values::{self, Mood};

/// Messages nested deeper than this are left empty.
const MAX_DEPTH: usize = 4;
/// One more item than the largest batch a method takes.
const OVERSIZED: usize = 1_001;

/// A message of type `descriptor`: calm (valid values with an odd one
/// here and there) or hostile, half and half.
pub fn message(descriptor: MessageDescriptor) -> BoxedStrategy<DynamicMessage> {
    prop_oneof![
        message_at(descriptor.clone(), 0, Mood::Calm),
        message_at(descriptor, 0, Mood::Hostile),
    ]
    .boxed()
}

fn message_at(
    descriptor: MessageDescriptor,
    depth: usize,
    mood: Mood,
) -> BoxedStrategy<DynamicMessage> {
    match descriptor.full_name() {
        "google.protobuf.Timestamp" => (values::seconds(mood), values::nanos(mood))
            .prop_map(move |(seconds, nanos)| {
                let mut m = DynamicMessage::new(descriptor.clone());
                m.set_field_by_name("seconds", Value::I64(seconds));
                m.set_field_by_name("nanos", Value::I32(nanos));
                m
            })
            .boxed(),
        "google.type.Date" => {
            let odd = match mood {
                Mood::Calm => 1,
                Mood::Hostile => 10,
            };
            let year = prop_oneof![
                odd => select(vec![0, 1, 9_999, 10_000, -1, i32::MIN, i32::MAX]),
                odd => 1_995..=2_105,
                20 => 2_000..=2_025,
            ];
            let month = prop_oneof![odd => select(vec![-1, 0, 13, i32::MAX]), 20 => 1..=12];
            let day = prop_oneof![odd => select(vec![-1, 0, 29, 31, 32, i32::MAX]), 20 => 1..=28];
            (year, month, day)
                .prop_map(move |(year, month, day)| {
                    let mut m = DynamicMessage::new(descriptor.clone());
                    m.set_field_by_name("year", Value::I32(year));
                    m.set_field_by_name("month", Value::I32(month));
                    m.set_field_by_name("day", Value::I32(day));
                    m
                })
                .boxed()
        }
        "google.protobuf.FieldMask" => {
            let path = prop_oneof![
                3 => select(field_names()),
                1 => values::string("path", "", Mood::Hostile),
            ];
            proptest::collection::vec(path, 0..4)
                .prop_map(move |paths| {
                    let mut m = DynamicMessage::new(descriptor.clone());
                    let paths = paths.into_iter().map(Value::String).collect();
                    m.set_field_by_name("paths", Value::List(paths));
                    m
                })
                .boxed()
        }
        _ if depth >= MAX_DEPTH => Just(DynamicMessage::new(descriptor)).boxed(),
        _ => {
            let fields: Vec<_> = descriptor
                .fields()
                .map(|field| {
                    let value = field_value(&field, depth, mood);
                    let present = match mood {
                        Mood::Calm => 0.9,
                        Mood::Hostile => 0.7,
                    };
                    proptest::option::weighted(present, value).prop_map(move |v| (field.clone(), v))
                })
                .collect();
            fields
                .prop_map(move |fields| {
                    let mut m = DynamicMessage::new(descriptor.clone());
                    for (field, value) in fields {
                        if let Some(value) = value {
                            m.set_field(&field, value);
                        }
                    }
                    m
                })
                .boxed()
        }
    }
}

/// Every field name of the talent contracts, for update masks.
fn field_names() -> Vec<String> {
    let mut names: Vec<String> = crate::pool()
        .all_messages()
        .filter(|m| m.package_name().starts_with("talent."))
        .flat_map(|m| m.fields().map(|f| f.name().to_owned()).collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    names.push("salary.min_cny".into());
    names
}

fn field_value(field: &FieldDescriptor, depth: usize, mood: Mood) -> BoxedStrategy<Value> {
    if field.is_map() {
        return map_value(field, depth, mood);
    }
    let single = single_value(field, &field.kind(), depth, mood);
    if !field.is_list() {
        return single;
    }
    // An oversized list repeats one cheap item: its size is the point.
    let filler = match field.kind() {
        Kind::Message(m) => Value::Message(DynamicMessage::new(m)),
        _ => Value::default_value(&field.kind()),
    };
    let oversized = depth == 0;
    if mood == Mood::Calm {
        return proptest::collection::vec(single, 0..4)
            .prop_map(Value::List)
            .boxed();
    }
    prop_oneof![
        6 => proptest::collection::vec(single, 0..4).prop_map(Value::List),
        1 => Just(if oversized { OVERSIZED } else { 25 })
            .prop_map(move |n| Value::List(vec![filler.clone(); n])),
    ]
    .boxed()
}

fn map_value(field: &FieldDescriptor, depth: usize, mood: Mood) -> BoxedStrategy<Value> {
    let Kind::Message(entry) = field.kind() else {
        return Just(Value::Map(HashMap::new())).boxed();
    };
    let key = entry.map_entry_key_field();
    let value = entry.map_entry_value_field();
    if !matches!(key.kind(), Kind::String) {
        return Just(Value::Map(HashMap::new())).boxed();
    }
    let value = single_value(&value, &value.kind(), depth, mood);
    let key = values::string(key.name(), field.parent_message().name(), mood);
    proptest::collection::vec((key, value), 0..3)
        .prop_map(|entries| {
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (MapKey::String(k), v))
                    .collect(),
            )
        })
        .boxed()
}

fn single_value(
    field: &FieldDescriptor,
    kind: &Kind,
    depth: usize,
    mood: Mood,
) -> BoxedStrategy<Value> {
    match kind {
        Kind::String => values::string(field.name(), field.parent_message().name(), mood)
            .prop_map(Value::String)
            .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            values::i32_value(mood).prop_map(Value::I32).boxed()
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            values::i64_value(mood).prop_map(Value::I64).boxed()
        }
        Kind::Uint32 | Kind::Fixed32 => prop_oneof![select(vec![0, 1, u32::MAX]), any::<u32>()]
            .prop_map(Value::U32)
            .boxed(),
        Kind::Uint64 | Kind::Fixed64 => prop_oneof![select(vec![0, 1, u64::MAX]), any::<u64>()]
            .prop_map(Value::U64)
            .boxed(),
        Kind::Double => prop_oneof![
            select(vec![
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::MAX
            ]),
            any::<f64>(),
        ]
        .prop_map(Value::F64)
        .boxed(),
        Kind::Float => prop_oneof![select(vec![0.0, f32::NAN, f32::INFINITY]), any::<f32>()]
            .prop_map(Value::F32)
            .boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Bytes => proptest::collection::vec(any::<u8>(), 0..32)
            .prop_map(|b| Value::Bytes(b.into()))
            .boxed(),
        Kind::Enum(e) => {
            let known: Vec<i32> = e.values().map(|v| v.number()).collect();
            let specified: Vec<i32> = known.iter().copied().filter(|n| *n != 0).collect();
            let (known, unknown) = match mood {
                Mood::Calm if !specified.is_empty() => (specified, 1),
                Mood::Calm => (known, 1),
                Mood::Hostile => (known, 5),
            };
            prop_oneof![
                20 => select(known),
                unknown => select(vec![-1, 99, i32::MIN, i32::MAX]),
            ]
            .prop_map(Value::EnumNumber)
            .boxed()
        }
        Kind::Message(m) => message_at(m.clone(), depth + 1, mood)
            .prop_map(Value::Message)
            .boxed(),
    }
}
