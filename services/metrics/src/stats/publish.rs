//! Publishing figures as the caller's key may see them: counts of persons
//! exact or perturbed (`disclosure`), notices exact, rates from what is
//! published, rows only where something published is not zero.

use talent_proto::talent::metrics::v1 as pb;
use talent_server::FieldViolations;

use super::{BTreeMap, Key};
use crate::disclosure::{PerturbationTable, Protection, Tally};

/// The caller's view: how its counts of persons are published.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub protection: Protection,
    pub table: &'a PerturbationTable,
    /// The logs' key sums are complete from this instant on: a perturbed
    /// answer as known earlier cannot be given (`backfill`).
    pub keys_complete_at: i64,
}

impl Viewer<'_> {
    /// A count of persons (or of their résumés or applications), exact or
    /// perturbed by its tally.
    pub(super) fn persons(&self, t: Tally) -> pb::Count {
        match self.protection {
            Protection::Exact => pb::Count {
                value: t.n,
                ..Default::default()
            },
            Protection::Perturbed => pb::Count {
                value: self.table.publish(t),
                perturbed: true,
                ..Default::default()
            },
        }
    }

    pub(super) fn disclosure_control(&self) -> pb::DisclosureControl {
        match self.protection {
            Protection::Exact => pb::DisclosureControl {
                protection: pb::Protection::Exact as i32,
                max_adjustment: 0,
            },
            Protection::Perturbed => pb::DisclosureControl {
                protection: pb::Protection::Perturbed as i32,
                max_adjustment: i32::try_from(self.table.max_adjustment()).unwrap_or(i32::MAX),
            },
        }
    }

    pub(super) fn check_known_at(&self, v: &mut FieldViolations, known_at: Option<i64>) {
        if self.protection == Protection::Perturbed
            && known_at.is_some_and(|t| t < self.keys_complete_at)
        {
            v.add(
                "as_known_at",
                format!(
                    "must not be before {} for this key: perturbed figures exist from then on",
                    talent_server::rfc3339::of_micros(self.keys_complete_at)
                        .unwrap_or_else(|| self.keys_complete_at.to_string())
                ),
            );
        }
    }
}

/// A count of notices (postings, openings, headcount, employers, fairs,
/// participations): exact for every key.
pub(super) fn notices(n: i64) -> pb::Count {
    pb::Count {
        value: n,
        ..Default::default()
    }
}

/// A rate from the published numerator and denominator.
pub(super) fn rate(num: &pb::Count, den: &pb::Count) -> pb::Rate {
    pb::Rate {
        numerator: num.value,
        denominator: den.value,
        value: if den.value == 0 {
            0.0
        } else {
            num.value as f64 / den.value as f64
        },
        perturbed: num.perturbed || den.perturbed,
        ..Default::default()
    }
}

/// One figure as published: per-row counts and the total.
pub(super) struct Figure {
    pub(super) rows: BTreeMap<Key, pb::Count>,
    pub(super) total: pb::Count,
}

impl Figure {
    /// Publishes every cell and the total on its own: a total is a cell of
    /// its own persons, not the sum of the published rows.
    pub(super) fn of(
        cells: &BTreeMap<Key, Tally>,
        total: Tally,
        publish: impl Fn(Tally) -> pb::Count,
    ) -> Self {
        Self {
            rows: cells
                .iter()
                .map(|(key, t)| (key.clone(), publish(*t)))
                .collect(),
            total: publish(total),
        }
    }
}

/// Whether a row has a non-zero published count: a row is shown only then,
/// so that its presence says no more than its published figures.
pub(super) fn shown<'a>(counts: impl IntoIterator<Item = &'a Option<pb::Count>>) -> bool {
    counts.into_iter().flatten().any(|c| c.value != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(table: &PerturbationTable, protection: Protection) -> Viewer<'_> {
        Viewer {
            protection,
            table,
            keys_complete_at: 0,
        }
    }

    #[test]
    fn persons_are_perturbed_for_a_perturbed_key_only_and_rates_follow() {
        let table = PerturbationTable::new(3).unwrap();
        let exact = viewer(&table, Protection::Exact);
        let perturbed = viewer(&table, Protection::Perturbed);
        let one = Tally { n: 1, key: 12_345 };
        assert_eq!(exact.persons(one), notices(1));
        let p = perturbed.persons(one);
        assert!(p.perturbed);
        assert_ne!(p.value, 1);
        assert_eq!(p.value, table.publish(one));
        // A rate is the ratio of what is published.
        let den = perturbed.persons(Tally { n: 40, key: 7 });
        let r = rate(&p, &den);
        assert!(r.perturbed);
        assert_eq!((r.numerator, r.denominator), (p.value, den.value));
        assert_eq!(r.value, p.value as f64 / den.value as f64);
        assert_eq!(rate(&notices(1), &notices(0)).value, 0.0);
    }

    #[test]
    fn a_row_is_shown_only_when_something_published_in_it_is_not_zero() {
        assert!(!shown([&Some(notices(0)), &None]));
        assert!(shown([&Some(notices(0)), &Some(notices(2))]));
    }
}
