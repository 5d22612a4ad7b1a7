//! The bytes of a request: a structured message encoded, the same with a
//! few mutations (bytes flipped, cut short, inserted or repeated, an
//! unknown field appended, a length made to lie), or bytes at random.

use proptest::prelude::*;
use prost::Message as _;
use prost_reflect::MessageDescriptor;

use crate::messages::message;

/// One change to an encoding; positions are taken modulo its length.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(usize, u8),
    /// Cut the encoding at a position.
    Truncate(usize),
    /// Insert bytes at a position.
    Insert(usize, Vec<u8>),
    /// Repeat the bytes between two positions after them.
    Repeat(usize, usize),
    /// Append a field of any number and wire type with a varint payload.
    AppendField(u32, u8, u64),
    /// Put a length prefix far past the end at a position.
    LongLength(usize),
}

/// Any mutation.
pub fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Repeat(a, b)),
        (1..=536_870_911u32, 0..8u8, any::<u64>())
            .prop_map(|(number, wire, value)| Mutation::AppendField(number, wire, value)),
        any::<usize>().prop_map(Mutation::LongLength),
    ]
    .boxed()
}

/// Applies `mutation` to `bytes`.
pub fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    let len = bytes.len();
    match mutation {
        Mutation::Flip(i, mask) => {
            if len > 0 {
                bytes[at(*i, len)] ^= mask;
            }
        }
        Mutation::Truncate(i) => bytes.truncate(at(*i, len)),
        Mutation::Insert(i, inserted) => {
            let i = at(*i, len + 1);
            bytes.splice(i..i, inserted.iter().copied());
        }
        Mutation::Repeat(a, b) => {
            let (a, b) = (at(*a, len + 1), at(*b, len + 1));
            let (from, to) = (a.min(b), a.max(b));
            let copy = bytes[from..to].to_vec();
            bytes.splice(to..to, copy);
        }
        Mutation::AppendField(number, wire, value) => {
            prost::encoding::encode_varint(u64::from(*number) << 3 | u64::from(*wire), bytes);
            prost::encoding::encode_varint(*value, bytes);
        }
        Mutation::LongLength(i) => {
            let i = at(*i, len + 1);
            let mut long = Vec::new();
            prost::encoding::encode_varint(u64::from(u32::MAX), &mut long);
            bytes.splice(i..i, long);
        }
    }
}

/// The bytes of a request message of type `descriptor`: mostly valid
/// encodings of structured messages, often mutated, sometimes random.
pub fn request_bytes(descriptor: MessageDescriptor) -> BoxedStrategy<Vec<u8>> {
    let structured = message(descriptor);
    prop_oneof![
        6 => structured.clone().prop_map(|m| m.encode_to_vec()),
        2 => (structured, proptest::collection::vec(mutation(), 1..4)).prop_map(|(m, mutations)| {
            let mut bytes = m.encode_to_vec();
            for mutation in &mutations {
                mutate(&mut bytes, mutation);
            }
            bytes
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}
