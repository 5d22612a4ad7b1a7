//! Whether a field path of a `google.rpc.BadRequest` names a real field.

use prost_reflect::{Kind, MessageDescriptor};

/// Whether `path` (`postings[3].salary.max_cny`, `update_mask.paths[0]`)
/// walks real fields of `message`, with an index only on repeated fields.
/// The empty path names the whole message; a oneof's name (`payload`)
/// names the choice when none of its fields was set.
pub fn names_a_field(message: &MessageDescriptor, path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    let mut current = Some(message.clone());
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let Some(message) = current.take() else {
            return false;
        };
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => match rest.strip_suffix(']') {
                Some(i) if i.parse::<usize>().is_ok() => (name, true),
                _ => return false,
            },
            None => (*segment, false),
        };
        let Some(field) = message.get_field_by_name(name) else {
            return last && !index && message.oneofs().any(|o| o.name() == name);
        };
        if index && !field.is_list() {
            return false;
        }
        if let Kind::Message(inner) = field.kind() {
            current = Some(inner);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_the_descriptor() {
        let request = crate::descriptor("talent.recruiting.v1.BatchUpsertPostingsRequest");
        for good in ["", "postings", "postings[3]", "postings[0].salary.max_cny"] {
            assert!(names_a_field(&request, good), "{good}");
        }
        let event = crate::descriptor("talent.events.v1.Event");
        assert!(names_a_field(&event, "payload"));
        assert!(!names_a_field(&event, "payload.x"));
        for bad in [
            "posting",
            "postings[x]",
            "postings[0].salary.max",
            "postings[0].title[1]",
            "postings[0].title.length",
            "postings.",
        ] {
            assert!(!names_a_field(&request, bad), "{bad}");
        }
    }
}
