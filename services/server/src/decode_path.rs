//! The field path of a request that failed to decode, from the fields
//! prost names. prost names a oneof by its Rust field (`Event.payload`),
//! which is no field of the message; the path must name the member that
//! was being decoded (`hired`), known by the type prost names next
//! (`Hired.person_key`).

use std::{collections::HashMap, sync::OnceLock};

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorSet};

/// `(message, field)` pairs as prost names them, outermost first, as a
/// path of the request's fields: each oneof replaced by its member whose
/// type is the next message named. A oneof whose member cannot be told
/// (a scalar member, or a type the contracts do not declare) stays as the
/// oneof's name, which names the choice.
pub(crate) fn field_path(segments: &[(&str, &str)]) -> String {
    let mut path = Vec::with_capacity(segments.len());
    for (i, (message, field)) in segments.iter().enumerate() {
        let next = segments.get(i + 1).map(|(next, _)| *next);
        let member = next.and_then(|next| oneof_member(message, field, next));
        path.push(member.unwrap_or_else(|| (*field).to_owned()));
    }
    path.join(".")
}

/// The member of oneof `oneof` of the message `message` (simple names)
/// whose type is the message `member_type`.
fn oneof_member(message: &str, oneof: &str, member_type: &str) -> Option<String> {
    let suffix = format!(".{member_type}");
    messages().get(message)?.iter().find_map(|descriptor| {
        let index = descriptor
            .oneof_decl
            .iter()
            .position(|o| o.name() == oneof)?;
        let index = i32::try_from(index).ok()?;
        descriptor
            .field
            .iter()
            .find(|f| f.oneof_index == Some(index) && f.type_name().ends_with(&suffix))
            .map(|f| f.name().to_owned())
    })
}

/// Every message of the contracts, by simple name (several where packages
/// reuse a name).
fn messages() -> &'static HashMap<String, Vec<DescriptorProto>> {
    static MESSAGES: OnceLock<HashMap<String, Vec<DescriptorProto>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let mut messages = HashMap::new();
        let set = FileDescriptorSet::decode(talent_proto::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let mut pending: Vec<DescriptorProto> =
            set.file.into_iter().flat_map(|f| f.message_type).collect();
        while let Some(message) = pending.pop() {
            pending.extend(message.nested_type.iter().cloned());
            messages
                .entry(message.name().to_owned())
                .or_insert_with(Vec::new)
                .push(message);
        }
        messages
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_oneof_is_named_by_the_member_being_decoded() {
        assert_eq!(
            field_path(&[
                ("PublishEventsRequest", "events"),
                ("Event", "payload"),
                ("Hired", "person_key"),
            ]),
            "events.hired.person_key"
        );
        // A scalar member cannot be told: the oneof names the choice.
        assert_eq!(
            field_path(&[
                ("ImportGraduateRosterRequest", "rows"),
                ("GraduateRosterRow", "person")
            ]),
            "rows.person"
        );
        assert_eq!(
            field_path(&[("UpsertPostingsRequest", "postings"), ("Posting", "title")]),
            "postings.title"
        );
    }
}
