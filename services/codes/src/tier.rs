//! The talent tier of a person (DESIGN.md, "Talent tier"), from the highest
//! degree, professional title and vocational skill level known for them:
//! `HIGH` from a master's degree, an associate-senior title (副高) or a
//! senior worker's skill level (高级工) up; `GENERAL` from a junior-college
//! degree (专科) or any lower title or skill certificate; otherwise `NONE`.

use talent_proto::talent::r#type::v1::{
    DegreeLevel, ProfessionalTitleLevel, TalentTier, VocationalSkillLevel,
};

/// The tier of the highest levels known, each a `talent.type.v1` enum
/// number (`DegreeLevel`, `ProfessionalTitleLevel`,
/// `VocationalSkillLevel`; 0 when nothing is known). Widened to `i64`
/// because the stores keep them so.
pub fn tier(degree: i64, title: i64, skill: i64) -> TalentTier {
    let reaches = |level: i64, from: i32| level >= i64::from(from);
    if reaches(degree, DegreeLevel::Master as i32)
        || reaches(title, ProfessionalTitleLevel::AssociateSenior as i32)
        || reaches(skill, VocationalSkillLevel::SeniorWorker as i32)
    {
        TalentTier::High
    } else if reaches(degree, DegreeLevel::JuniorCollege as i32)
        || reaches(title, ProfessionalTitleLevel::Junior as i32)
        || reaches(skill, VocationalSkillLevel::JuniorWorker as i32)
    {
        TalentTier::General
    } else {
        TalentTier::None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NONE: (i64, i64, i64) = (0, 0, 0);

    fn degree(d: DegreeLevel) -> (i64, i64, i64) {
        (d as i64, 0, 0)
    }
    fn title(t: ProfessionalTitleLevel) -> (i64, i64, i64) {
        (0, t as i64, 0)
    }
    fn skill(s: VocationalSkillLevel) -> (i64, i64, i64) {
        (0, 0, s as i64)
    }

    #[test]
    fn each_level_alone() {
        use DegreeLevel as D;
        use ProfessionalTitleLevel as T;
        use TalentTier::{General, High, None};
        use VocationalSkillLevel as S;
        let cases = [
            (NONE, None),
            (degree(D::BelowJuniorCollege), None),
            (degree(D::JuniorCollege), General),
            (degree(D::Bachelor), General),
            (degree(D::Master), High),
            (degree(D::Doctorate), High),
            (title(T::None), None),
            (title(T::Junior), General),
            (title(T::Intermediate), General),
            (title(T::AssociateSenior), High),
            (title(T::Senior), High),
            (skill(S::None), None),
            (skill(S::JuniorWorker), General),
            (skill(S::IntermediateWorker), General),
            (skill(S::SeniorWorker), High),
            (skill(S::Technician), High),
            (skill(S::SeniorTechnician), High),
            (skill(S::SpecialGradeTechnician), High),
            (skill(S::ChiefTechnician), High),
        ];
        for ((d, t, s), expected) in cases {
            assert_eq!(tier(d, t, s), expected, "{d} {t} {s}");
        }
    }

    #[test]
    fn the_highest_reason_wins() {
        assert_eq!(
            tier(
                DegreeLevel::BelowJuniorCollege as i64,
                ProfessionalTitleLevel::None as i64,
                VocationalSkillLevel::SeniorWorker as i64
            ),
            TalentTier::High
        );
        assert_eq!(
            tier(DegreeLevel::Bachelor as i64, 0, 0),
            tier(
                DegreeLevel::Bachelor as i64,
                ProfessionalTitleLevel::Junior as i64,
                0
            )
        );
    }

    fn levels() -> impl Strategy<Value = (i64, i64, i64)> {
        (0i64..=5, 0i64..=5, 0i64..=8)
    }

    proptest! {
        #[test]
        fn a_higher_level_never_lowers_the_tier(
            (d, t, s) in levels(),
            (dd, dt, ds) in (0i64..=5, 0i64..=5, 0i64..=8),
        ) {
            let (d2, t2, s2) = ((d + dd).min(5), (t + dt).min(5), (s + ds).min(8));
            prop_assert!(tier(d, t, s) as i32 <= tier(d2, t2, s2) as i32);
        }
    }
}
