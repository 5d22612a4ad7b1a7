//! The forms of the identifiers events and keys carry: resource names of
//! the recruiting service and UUIDs.

/// A lower-case hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The platform of a resource name `platforms/{platform}/{collection}/{id}`
/// when it has that shape.
pub fn resource_platform<'a>(name: &'a str, collection: &str) -> Option<&'a str> {
    let mut parts = name.split('/');
    let (Some("platforms"), Some(platform), Some(c), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (c == collection && !platform.is_empty() && !id.is_empty() && name.len() <= 512)
        .then_some(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("0190f5a4-7b1c-7def-8000-0123456789ab"));
        assert!(!is_uuid("0190F5A4-7B1C-7DEF-8000-0123456789AB"));
        assert!(!is_uuid("0190f5a47b1c7def80000123456789ab"));
    }

    #[test]
    fn resource_names() {
        assert_eq!(
            resource_platform("platforms/p/postings/1", "postings"),
            Some("p")
        );
        assert_eq!(resource_platform("platforms/p/postings/1", "fairs"), None);
        assert_eq!(resource_platform("platforms//postings/1", "postings"), None);
        assert_eq!(
            resource_platform("platforms/p/postings/1/x", "postings"),
            None
        );
    }
}
