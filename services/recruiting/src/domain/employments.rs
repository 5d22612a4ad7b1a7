//! The defaults of a hire: the workplace is the one the hire names, else
//! its posting's, else its employer's; so is the industry.

use crate::store::{EmployerRecord, PostingFields};

/// The (district, industry) of a hire that names `district` and
/// `industry` (or not), for `posting` (if any) of `employer` (when known).
pub fn hire_place(
    district: Option<String>,
    industry: Option<String>,
    posting: Option<&PostingFields>,
    employer: Option<&EmployerRecord>,
) -> (String, String) {
    let district = district
        .or_else(|| posting.map(|p| p.district.clone()))
        .or_else(|| employer.map(|e| e.district.clone()))
        .unwrap_or_default();
    let industry = industry
        .or_else(|| posting.map(|p| p.industry.clone()))
        .or_else(|| employer.map(|e| e.industry.clone()))
        .unwrap_or_default();
    (district, industry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FieldSources;

    #[test]
    fn a_hire_works_where_it_says_else_where_its_posting_or_employer_is() {
        let employer = EmployerRecord {
            credit_code: "E".into(),
            display_name: String::new(),
            district: "370202".into(),
            industry: "C".into(),
            size: 0,
            field_sources: FieldSources::default(),
            created_at: 0,
            updated_at: 0,
        };
        let posting = PostingFields {
            district: "370212".into(),
            industry: "C33".into(),
            ..PostingFields::default()
        };
        let given = |d: &str, i: &str| (Some(d.to_owned()), Some(i.to_owned()));
        let (d, i) = given("370203", "F");
        assert_eq!(
            hire_place(d, i, Some(&posting), Some(&employer)),
            ("370203".into(), "F".into())
        );
        assert_eq!(
            hire_place(None, None, Some(&posting), Some(&employer)),
            ("370212".into(), "C33".into())
        );
        assert_eq!(
            hire_place(None, None, None, Some(&employer)),
            ("370202".into(), "C".into())
        );
        let (d, _) = given("370203", "");
        assert_eq!(
            hire_place(d, None, None, Some(&employer)),
            ("370203".into(), "C".into())
        );
    }
}
