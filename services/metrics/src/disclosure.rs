//! Disclosure control by the cell key method (the Australian Bureau of
//! Statistics' TableBuilder, the UK's 2021 census tables).
//!
//! Suppressing small cells per table does not protect persons in an API
//! that takes filters, periods, breakdowns and `as_known_at` freely: the
//! differences between answers give the hidden cells back. Instead every
//! figure that counts persons is perturbed, consistently:
//!
//! - Every unit counted (a person, or an application) has a **record key**:
//!   a uniform 32-bit number, HMAC-SHA256(the service's record-key secret,
//!   the unit's id), never exposed ([`RecordKeys`]).
//! - A cell's **cell key** is the sum of its contributors' record keys
//!   modulo 2³² ([`Tally`]). Sums are additive, so the aggregates keep the
//!   key sum beside the count and update it with the same differences: a
//!   filtered or merged cell's key is the sum of its parts' keys, and "as
//!   known at" works for keys as it does for counts.
//! - A **perturbation table** maps (true count, cell key) to the published
//!   count ([`PerturbationTable`]). The same set of units always has the
//!   same count and key, so it is always published as the same value,
//!   however the query reached it: repeating or differencing queries does
//!   not average the noise away.
//!
//! Everything here is pure: the store keeps the sums, `stats` publishes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{Contribution, kind};

/// 2³²: record keys and cell keys are numbers modulo this.
pub const KEY_MODULUS: i64 = 1 << 32;

/// A count with the key sum of what it counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many units (persons, applications, résumés).
    pub n: i64,
    /// The sum of their record keys modulo 2³².
    pub key: u32,
}

impl Tally {
    /// A tally from a count and a key sum in any range (as SQL sums
    /// them), reduced modulo 2³².
    pub fn new(n: i64, key_sum: i64) -> Self {
        Self {
            n,
            key: u32::try_from(key_sum.rem_euclid(KEY_MODULUS)).unwrap_or_default(),
        }
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Self) {
        self.n += other.n;
        self.key = self.key.wrapping_add(other.key);
    }
}

/// The record key of `n` copies of a unit in a cell: `n × record_key`
/// modulo 2³² (n is negative in the differences that take a unit out).
pub fn cell_key(n: i64, record_key: u32) -> u32 {
    // `as` keeps the low 32 bits: n modulo 2³² in two's complement.
    (n as u32).wrapping_mul(record_key)
}

/// A unit's contribution with every cell keyed by the unit's record key.
/// Only units that are counted as persons are keyed (a person's cells, an
/// application's); notices (postings, openings, employers, fairs,
/// participations) keep key 0, since they are never perturbed.
pub fn keyed(mut c: Contribution, record_key: u32) -> Contribution {
    for a in c.0.values_mut() {
        a.key = cell_key(a.n, record_key);
    }
    c
}

/// Whether an activity figure counts persons (résumés received, distinct
/// job seekers, applications: perturbed for a PERTURBED key) rather than
/// public notices (postings, openings and their headcount, employers
/// posting, fairs, participations: exact for every key). Talents gathered
/// and graduate outcomes always count persons.
pub fn counts_persons(kind_name: &str) -> bool {
    matches!(kind_name, kind::RESUME | kind::SEEKER | kind::APPLICATION)
}

/// Derives record keys from the service's secret.
#[derive(Clone)]
pub struct RecordKeys {
    mac: Hmac<Sha256>,
}

impl RecordKeys {
    pub fn new(secret: &str) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key length"),
        }
    }

    /// The record key of a unit (a person key, an application's name): the
    /// first 32 bits of HMAC-SHA256(secret, id), uniform for a secret the
    /// analyst does not know.
    pub fn of(&self, id: &str) -> u32 {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKeys(..)")
    }
}

/// How a statistics key's figures of persons are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// True figures: the bureau's own READ keys, OPERATOR keys.
    Exact,
    /// Perturbed by the cell key method: every other READ key.
    Perturbed,
}

impl Protection {
    /// As stored in `api_keys.protection`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Exact => "EXACT",
            Protection::Perturbed => "PERTURBED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EXACT" => Some(Protection::Exact),
            "PERTURBED" => Some(Protection::Perturbed),
            _ => None,
        }
    }
}

/// The largest maximum adjustment accepted.
pub const MAX_ADJUSTMENT_LIMIT: u32 = 10;

/// One row of the table: the adjustments a true count can get, each with
/// its probability and the exclusive upper bound of the cell keys that
/// select it (keys `[previous bound, bound)`; the last bound is 2³²).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    entries: Vec<(i64, f64, u64)>,
}

/// The perturbation table: for each true count n, the distribution of the
/// adjustment d (published value n + d), selected by the cell key.
///
/// **Rules.** With D the maximum adjustment (a setting, default 3):
/// - |d| ≤ D, and n + d ≥ 0: no published value is negative;
/// - 0 is published as 0 (an empty cell has key 0 and nothing to hide);
/// - 1 and 2 are never published as themselves (d ≠ 0 for n = 1, 2), so a
///   published 1 or 2 never confirms that one or two persons are there;
/// - every row is unbiased (mean d = 0), so sums of many perturbed cells
///   are right on average, and has the same variance V.
///
/// **How the probabilities are chosen.** As in the R package `ptable`
/// (Enderle, Giessing and Tent, the method of the German and UK offices'
/// tables), each row is the maximum-entropy distribution over the
/// adjustments its rules allow, given mean 0 and variance V: p(d) ∝
/// exp(a·d + b·d²), with a and b solved by Newton's method. Maximum
/// entropy makes the adjustment as hard to guess as the constraints allow.
/// V = (1 + D) / 2 = 2 for D = 3: for n = 1 the allowed adjustments are
/// −1 and 1…D, and with mean 0 their variance can only lie strictly
/// between 1 (all mass on ±1) and D (all on −1 and D); V sits in the
/// middle, where no row degenerates to two values. Rows from n = max(D, 3)
/// on are the same (all of −D…D allowed), so the table has max(D, 3) + 1
/// rows.
///
/// For D = 3 (V = 2), rounded:
///
/// | n  | −3    | −2    | −1    | 0     | +1    | +2    | +3    |
/// |----|-------|-------|-------|-------|-------|-------|-------|
/// | 0  |       |       |       | 1     |       |       |       |
/// | 1  |       |       | 0.639 |       | 0.168 | 0.110 | 0.084 |
/// | 2  |       | 0.146 | 0.367 |       | 0.339 | 0.124 | 0.024 |
/// | 3+ | 0.037 | 0.112 | 0.216 | 0.269 | 0.216 | 0.112 | 0.037 |
///
/// **What an analyst gains** ([`PerturbationTable::hit_bound`]): an
/// estimate of a cell X (true value v ≥ 1) made by subtracting published
/// cells C₁…C_m, disjoint and inside a published cell T, from T (a total
/// minus the other values of a dimension, a quarter minus its other
/// months, a later answer minus an earlier one) hits v with probability at
/// most max over j of p(t → j), t = T's true value: given all of the Cᵢ,
/// T's key is still uniform, because T holds persons (X's) that no Cᵢ
/// holds. That is 0 when t ≤ 2 and nothing is subtracted (1 and 2 are
/// never published as themselves), Σ_d p(2→2+d)·p(1→1+d) = 0.307 when
/// t = 2 and one person is subtracted, and at most 0.269 (p(0) of the rows
/// from 3 on) when t ≥ 3. So no such estimate is right with probability
/// above 0.307 for D = 3, and a published cell of 3 or more is its true
/// value with probability 0.269.
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbationTable {
    max_adjustment: i64,
    variance: f64,
    rows: Vec<Row>,
}

impl PerturbationTable {
    /// The table for maximum adjustment `d` (2 to [`MAX_ADJUSTMENT_LIMIT`];
    /// with 1, a true 1 could only be published as 0 or 2, half and half,
    /// and every row would collapse to ±1).
    pub fn new(d: u32) -> Result<Self, String> {
        if !(2..=MAX_ADJUSTMENT_LIMIT).contains(&d) {
            return Err(format!(
                "the maximum adjustment must be from 2 to {MAX_ADJUSTMENT_LIMIT}"
            ));
        }
        let d = i64::from(d);
        let variance = (1.0 + d as f64) / 2.0;
        let rows = (0..=d.max(3))
            .map(|n| {
                if n == 0 {
                    return Ok(vec![(0, 1.0)]);
                }
                let support: Vec<i64> = (-n.min(d)..=d)
                    .filter(|adj| !(*adj == 0 && n <= 2))
                    .collect();
                max_entropy(&support, variance)
            })
            .collect::<Result<Vec<_>, String>>()?
            .into_iter()
            .map(|probabilities| Row {
                entries: thresholds(&probabilities),
            })
            .collect();
        Ok(Self {
            max_adjustment: d,
            variance,
            rows,
        })
    }

    /// D: no published count differs from the true one by more.
    pub fn max_adjustment(&self) -> i64 {
        self.max_adjustment
    }

    /// V: the variance of every row from 1 on.
    pub fn variance(&self) -> f64 {
        self.variance
    }

    fn row(&self, n: i64) -> &Row {
        let last = self.rows.len() - 1;
        &self.rows[usize::try_from(n).unwrap_or(0).min(last)]
    }

    /// The adjustments of true count `n` with their probabilities.
    pub fn distribution(&self, n: i64) -> Vec<(i64, f64)> {
        self.row(n)
            .entries
            .iter()
            .map(|(d, p, _)| (*d, *p))
            .collect()
    }

    /// The published value of a cell. A negative count (not a real cell)
    /// is published as 0.
    pub fn publish(&self, t: Tally) -> i64 {
        if t.n <= 0 {
            return 0;
        }
        let key = u64::from(t.key);
        let entries = &self.row(t.n).entries;
        let d = entries
            .iter()
            .find(|(_, _, bound)| key < *bound)
            .or(entries.last())
            .map_or(0, |(d, _, _)| *d);
        t.n + d
    }

    /// The design's bound on how often an analyst's estimate of a cell is
    /// its true value (see the type's documentation): the largest of
    /// Σ_d p(2→2+d)·p(1→1+d) and the largest probability in the rows from
    /// 3 on.
    pub fn hit_bound(&self) -> f64 {
        let one = self.distribution(1);
        let pair: f64 = self
            .distribution(2)
            .iter()
            .map(|(d, p)| p * one.iter().find(|(e, _)| e == d).map_or(0.0, |(_, q)| *q))
            .sum();
        let rows = (3..i64::try_from(self.rows.len()).unwrap_or(4))
            .flat_map(|n| self.distribution(n))
            .map(|(_, p)| p)
            .fold(0.0, f64::max);
        pair.max(rows)
    }
}

/// The cell keys selecting each adjustment: cumulative probabilities
/// scaled to 2³² (the last bound exactly 2³², so every key selects one).
fn thresholds(probabilities: &[(i64, f64)]) -> Vec<(i64, f64, u64)> {
    let scale = KEY_MODULUS as f64;
    let mut cumulative = 0.0;
    let last = probabilities.len() - 1;
    probabilities
        .iter()
        .enumerate()
        .map(|(i, (d, p))| {
            cumulative += p;
            let bound = if i == last {
                KEY_MODULUS as u64
            } else {
                (cumulative * scale).round() as u64
            };
            (*d, *p, bound)
        })
        .collect()
}

/// The maximum-entropy distribution over `support` with mean 0 and
/// variance `variance`: p(d) ∝ exp(a·d + b·d²), (a, b) minimising the
/// convex dual log Σ exp(a·d + b·d²) − b·variance by Newton's method with
/// step halving.
fn max_entropy(support: &[i64], variance: f64) -> Result<Vec<(i64, f64)>, String> {
    let xs: Vec<f64> = support.iter().map(|d| *d as f64).collect();
    let probabilities = |a: f64, b: f64| -> Vec<f64> {
        let e: Vec<f64> = xs.iter().map(|x| a * x + b * x * x).collect();
        let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = e.iter().map(|v| (v - top).exp()).collect();
        let z: f64 = w.iter().sum();
        w.iter().map(|v| v / z).collect()
    };
    let dual = |a: f64, b: f64| -> f64 {
        let e: Vec<f64> = xs.iter().map(|x| a * x + b * x * x).collect();
        let top = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        top + e.iter().map(|v| (v - top).exp()).sum::<f64>().ln() - b * variance
    };
    let moment = |p: &[f64], k: i32| -> f64 { p.iter().zip(&xs).map(|(p, x)| p * x.powi(k)).sum() };
    let (mut a, mut b) = (0.0_f64, 0.0_f64);
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..200 {
        let p = probabilities(a, b);
        let (m1, m2, m3, m4) = (moment(&p, 1), moment(&p, 2), moment(&p, 3), moment(&p, 4));
        let (g1, g2) = (m1, m2 - variance);
        let error = g1.abs().max(g2.abs());
        if best.as_ref().is_none_or(|(e, _)| error < *e) {
            best = Some((error, p.clone()));
        }
        if error < 1e-14 {
            break;
        }
        // The Hessian is the covariance of (d, d²).
        let (h11, h12, h22) = (m2 - m1 * m1, m3 - m1 * m2, m4 - m2 * m2);
        let det = h11 * h22 - h12 * h12;
        if !(det.is_finite() && det > 0.0) {
            break;
        }
        let da = -(h22 * g1 - h12 * g2) / det;
        let db = -(h11 * g2 - h12 * g1) / det;
        // Near the optimum the dual changes by less than its rounding, so
        // a full step within that slack is taken (Newton then converges).
        let before = dual(a, b);
        let slack = 1e-12 * (1.0 + before.abs());
        let mut step = 1.0;
        while step > 1e-9 && dual(a + step * da, b + step * db) > before + slack {
            step /= 2.0;
        }
        a += step * da;
        b += step * db;
    }
    // Rounding can stop the iteration a little short of 1e-14 on the
    // wider supports; 1e-10 is far below what the keys' 2⁻³² steps resolve.
    match best {
        Some((error, p)) if error < 1e-10 => Ok(support.iter().copied().zip(p).collect()),
        _ => Err(format!(
            "no perturbation table with variance {variance} over adjustments {support:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{Amount, Cell};

    fn table() -> PerturbationTable {
        PerturbationTable::new(3).unwrap()
    }

    /// The row of `n` as the keys select it: each adjustment with the
    /// share of the 2³² keys that select it.
    fn as_selected(t: &PerturbationTable, n: i64) -> Vec<(i64, f64)> {
        let mut low = 0;
        t.row(n)
            .entries
            .iter()
            .map(|(d, _, bound)| {
                let share = (bound - low) as f64 / KEY_MODULUS as f64;
                low = *bound;
                (*d, share)
            })
            .collect()
    }

    #[test]
    fn every_row_is_unbiased_bounded_and_of_the_design_variance() {
        for d in 2..=MAX_ADJUSTMENT_LIMIT {
            let t = PerturbationTable::new(d).unwrap();
            let max = i64::from(d);
            assert_eq!(t.max_adjustment(), max);
            for n in 0..=max + 5 {
                let row = as_selected(&t, n);
                let total: f64 = row.iter().map(|(_, p)| p).sum();
                let mean: f64 = row.iter().map(|(a, p)| *a as f64 * p).sum();
                let var: f64 = row.iter().map(|(a, p)| (*a * *a) as f64 * p).sum();
                assert!((total - 1.0).abs() < 1e-12, "D {d} n {n}: sums to {total}");
                assert!(mean.abs() < 1e-8, "D {d} n {n}: biased by {mean}");
                let want = if n == 0 { 0.0 } else { t.variance() };
                assert!((var - want).abs() < 1e-7, "D {d} n {n}: variance {var}");
                for (a, p) in row {
                    assert!(a.abs() <= max, "D {d} n {n}: adjustment {a}");
                    assert!(n + a >= 0, "D {d} n {n}: publishes {}", n + a);
                    assert!(p > 0.0, "D {d} n {n}: an adjustment never chosen");
                    if n == 1 || n == 2 {
                        assert_ne!(a, 0, "D {d}: {n} published as itself");
                    }
                }
            }
            assert_eq!(t.distribution(0), vec![(0, 1.0)]);
        }
        assert!(PerturbationTable::new(1).is_err());
        assert!(PerturbationTable::new(MAX_ADJUSTMENT_LIMIT + 1).is_err());
    }

    #[test]
    fn the_default_table_is_the_documented_one() {
        let t = table();
        assert_eq!(t.variance(), 2.0);
        let rounded = |n: i64| -> Vec<(i64, i64)> {
            t.distribution(n)
                .into_iter()
                .map(|(d, p)| (d, (p * 1000.0).round() as i64))
                .collect()
        };
        assert_eq!(rounded(1), vec![(-1, 639), (1, 168), (2, 110), (3, 84)]);
        assert_eq!(
            rounded(2),
            vec![(-2, 146), (-1, 367), (1, 339), (2, 124), (3, 24)]
        );
        let wide = vec![
            (-3, 37),
            (-2, 112),
            (-1, 216),
            (0, 269),
            (1, 216),
            (2, 112),
            (3, 37),
        ];
        assert_eq!(rounded(3), wide);
        assert_eq!(rounded(4), wide);
        assert_eq!(rounded(1_000_000), wide);
        // The bound an analyst's estimates are held to (documented above).
        assert_eq!((t.hit_bound() * 1000.0).round(), 307.0);
    }

    #[test]
    fn keys_at_the_edges_select_the_first_and_last_adjustment() {
        let t = table();
        for n in 1..6 {
            let row = t.distribution(n);
            let (first, last) = (row[0].0, row[row.len() - 1].0);
            assert_eq!(t.publish(Tally { n, key: 0 }), n + first);
            assert_eq!(t.publish(Tally { n, key: u32::MAX }), n + last);
        }
    }

    proptest! {
        #[test]
        fn published_values_follow_the_rules(n in 0_i64..2_000, key: u32, d in 2_u32..=6) {
            let t = PerturbationTable::new(d).unwrap();
            let published = t.publish(Tally { n, key });
            prop_assert!(published >= 0);
            prop_assert!((published - n).abs() <= i64::from(d));
            if n == 0 {
                prop_assert_eq!(published, 0);
            }
            if n == 1 || n == 2 {
                prop_assert_ne!(published, n);
            }
            // The same cell is always published the same.
            prop_assert_eq!(published, t.publish(Tally { n, key }));
        }

        #[test]
        fn cell_keys_add_up_whatever_the_grouping(
            keys in proptest::collection::vec(any::<u32>(), 0..50),
            cut in 0_usize..50,
        ) {
            let sum = |ks: &[u32]| {
                let mut t = Tally::default();
                for k in ks {
                    t += Tally { n: 1, key: *k };
                }
                t
            };
            let cut = cut.min(keys.len());
            let mut parts = sum(&keys[..cut]);
            parts += sum(&keys[cut..]);
            prop_assert_eq!(parts, sum(&keys));
            // Taking a unit out (n = −1) undoes putting it in.
            if let Some(k) = keys.first() {
                let mut t = sum(&keys);
                t += Tally { n: -1, key: cell_key(-1, *k) };
                prop_assert_eq!(t, sum(&keys[1..]));
            }
        }
    }

    #[test]
    fn sums_from_sql_are_reduced_modulo_the_key_space() {
        assert_eq!(Tally::new(2, KEY_MODULUS + 5), Tally { n: 2, key: 5 });
        assert_eq!(
            Tally::new(0, -1),
            Tally {
                n: 0,
                key: u32::MAX
            }
        );
        assert_eq!(cell_key(-1, 1), u32::MAX);
        assert_eq!(cell_key(3, 0x8000_0000), 0x8000_0000);
    }

    #[test]
    fn record_keys_are_secret_stable_and_spread() {
        let keys = RecordKeys::new("secret");
        assert_eq!(keys.of("a"), keys.of("a"));
        assert_ne!(keys.of("a"), RecordKeys::new("other").of("a"));
        assert_eq!(format!("{keys:?}"), "RecordKeys(..)");
        // Spread over the key space: 4,000 keys fall about evenly into 8
        // bins (a bin outside 500 ± 100 would be a 5-sigma event).
        let mut bins = [0_u32; 8];
        for i in 0..4_000 {
            bins[(keys.of(&format!("{i:064x}")) >> 29) as usize] += 1;
        }
        assert!(bins.iter().all(|b| (400..=600).contains(b)), "{bins:?}");
        // And so the perturbation is about as the table says: of 4,000
        // cells of 5, the share published as 5 is near p(0) = 0.269.
        let t = table();
        let exact = (0..4_000)
            .filter(|i| {
                let key = (0..5).fold(0_u32, |k, j| k.wrapping_add(keys.of(&format!("{i}/{j}"))));
                t.publish(Tally { n: 5, key }) == 5
            })
            .count();
        assert!((960..=1_200).contains(&exact), "{exact}");
    }

    #[test]
    fn only_figures_of_persons_are_perturbed() {
        for k in [kind::RESUME, kind::SEEKER, kind::APPLICATION] {
            assert!(counts_persons(k), "{k}");
        }
        for k in [
            kind::POSTING,
            kind::OPENING,
            kind::EMPLOYER,
            kind::FAIR,
            kind::PARTICIPATION,
        ] {
            assert!(!counts_persons(k), "{k}");
        }
    }

    #[test]
    fn a_units_contribution_is_keyed_by_its_count() {
        let mut c = Contribution::default();
        let cell = |day| Cell::Gathered {
            day,
            district: "370212".into(),
            industry: "I".into(),
            platform: "p".into(),
            tier: 2,
        };
        c.add(cell(1), Amount::one());
        c.add(
            cell(2),
            Amount {
                n: -1,
                ..Amount::default()
            },
        );
        let c = keyed(c, 7);
        assert_eq!(c.0[&cell(1)].key, 7);
        assert_eq!(c.0[&cell(2)].key, 7_u32.wrapping_neg());
    }
}
