//! The running totals of graduate outcomes (`agg_outcome_roll`) against
//! the day-level rows they summarise, on the back end the test suite runs
//! on (`TALENT_TEST_POSTGRES_URL` set: PostgreSQL, else SQLite).

use std::collections::BTreeMap;

use talent_codes as codes;

use super::{
    Store,
    reads::{OutcomeRow, OutcomeRows, next_month},
    test_db::{database, execute, migrate},
};
use crate::disclosure::Tally;
use crate::domain::projection::{OUTCOME_FLOOR, OUTCOME_PROJECTIONS, outcome_dim};
use crate::domain::{Amount, BEGINNING, Cell, NONE, OUTSIDE};

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn day(y: i32, m: u32, d: u32) -> i64 {
    codes::day_of_date(y, m, d).unwrap()
}

/// The first and last day of every month from 2023-11 to 2026-02.
fn month_edges() -> Vec<i64> {
    let mut out = Vec::new();
    let mut first = day(2023, 11, 1);
    while first < day(2026, 3, 1) {
        let next = next_month(first);
        out.extend([first, next - 1]);
        first = next;
    }
    out
}

/// (cohort, day, university, degree, discipline, district, industry).
type ModelCell = (i64, i64, String, i64, i64, String, String);

/// Random outcome differences (counts and key sums): every day of a
/// timeline kind (its start, month edges, days in between) and every
/// kind of place.
fn history(rng: &mut Rng, n: usize) -> BTreeMap<ModelCell, Tally> {
    let edges = month_edges();
    let places = [
        (NONE, NONE),
        (OUTSIDE, OUTSIDE),
        ("370202", "C13"),
        ("370211", "F"),
        ("370203", "C"),
    ];
    let mut out: BTreeMap<ModelCell, Tally> = BTreeMap::new();
    for _ in 0..n {
        let d = match rng.below(4) {
            0 => BEGINNING,
            1 => edges[rng.below(edges.len())],
            _ => day(2023, 11, 1) + rng.below(850) as i64,
        };
        let place = places[rng.below(places.len())];
        let cell = (
            2024 + rng.below(2) as i64,
            d,
            format!("370200000{}", rng.below(3)),
            2 + rng.below(4) as i64,
            rng.below(4) as i64,
            place.0.to_string(),
            place.1.to_string(),
        );
        *out.entry(cell).or_default() += Tally {
            n: rng.below(7) as i64 - 3,
            key: rng.next() as u32,
        };
    }
    out
}

/// The model's answer: cells with day <= `as_of`, projected on `dims`,
/// with their status, zero sums dropped.
fn expected(
    model: &BTreeMap<ModelCell, Tally>,
    cohort: i64,
    as_of: i64,
    dims: u8,
) -> Vec<OutcomeRow> {
    let mut sums: BTreeMap<OutcomeRow, Tally> = BTreeMap::new();
    for ((c, d, u, g, s, district, industry), n) in model {
        if *c != cohort || *d > as_of {
            continue;
        }
        let status = match district.as_str() {
            NONE => 0,
            OUTSIDE => 1,
            _ => 2,
        };
        let keep = |bit: u8| dims & bit != 0;
        let key = (
            if keep(outcome_dim::UNIVERSITY) {
                u.clone()
            } else {
                String::new()
            },
            if keep(outcome_dim::DEGREE) { *g } else { 0 },
            if keep(outcome_dim::DISCIPLINE) { *s } else { 0 },
            if keep(outcome_dim::DISTRICT) {
                district.clone()
            } else {
                String::new()
            },
            if keep(outcome_dim::INDUSTRY) {
                industry.clone()
            } else {
                String::new()
            },
            status,
            0,
            0,
        );
        *sums.entry(key).or_default() += *n;
    }
    sums.into_iter()
        .filter(|(_, t)| *t != Tally::default())
        .map(|(k, t)| (k.0, k.1, k.2, k.3, k.4, k.5, t.n, i64::from(t.key)))
        .collect()
}

/// The rows with something in them, key sums reduced modulo 2³².
fn answered(rows: OutcomeRows) -> Vec<OutcomeRow> {
    let mut rows: Vec<OutcomeRow> = rows
        .rows
        .into_iter()
        .map(|r| {
            let t = Tally::new(r.6, r.7);
            (r.0, r.1, r.2, r.3, r.4, r.5, t.n, i64::from(t.key))
        })
        .filter(|r| (r.6, r.7) != (0, 0))
        .collect();
    rows.sort();
    rows
}

/// Outcomes written before migration 0003 (rolled up by the migration)
/// and after it (rolled up by `apply_deltas`, in many transactions)
/// answer every as-of date and every projection as the day-level rows
/// and the model do: before the first event, on the first and last day
/// of each month, between, and in the far future.
#[tokio::test]
async fn running_totals_agree_with_the_day_level_rows() {
    let (db, _guard) = database().await;
    let mut rng = Rng(0x0005_eed0_f0c0_70e5);

    // Written directly into agg_outcome_now before the migration (and
    // before key sums existed).
    migrate(&db, Some(2)).await;
    let before: BTreeMap<ModelCell, Tally> = history(&mut rng, 600)
        .into_iter()
        .map(|(c, t)| (c, Tally { n: t.n, key: 0 }))
        .collect();
    // Literal values: the test's own codes, no quotes in them.
    let values: Vec<String> = before
        .iter()
        .map(|(c, n)| {
            format!(
                "({}, {}, '{}', {}, {}, '{}', '{}', {})",
                c.0, c.1, c.2, c.3, c.4, c.5, c.6, n.n
            )
        })
        .collect();
    execute(
        &db,
        &format!(
            "INSERT INTO agg_outcome_now (cohort, day, university, degree, discipline, \
             district, industry, n) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    migrate(&db, None).await;

    // Then through the service's write path.
    let store = Store::new(db.clone());
    let mut model = before;
    for batch in 0..12 {
        let after = history(&mut rng, 150);
        let mut deltas = BTreeMap::new();
        for (c, t) in &after {
            *model.entry(c.clone()).or_default() += *t;
            deltas.insert(
                Cell::Outcome {
                    cohort: c.0,
                    day: c.1,
                    university: c.2.clone(),
                    degree: c.3,
                    discipline: c.4,
                    district: c.5.clone(),
                    industry: c.6.clone(),
                },
                Amount {
                    n: t.n,
                    headcount: 0,
                    key: t.key,
                },
            );
        }
        let mut tx = store.begin().await.unwrap();
        tx.apply_deltas(&deltas, 1_000 + batch).await.unwrap();
        tx.commit().await.unwrap();
    }

    let mut dates = month_edges();
    dates.extend([
        OUTCOME_FLOOR,
        day(1950, 6, 30),
        day(2023, 10, 31),
        day(2100, 12, 31),
    ]);
    dates.extend((0..8).map(|_| day(2023, 11, 1) + rng.below(850) as i64));
    let mut nonempty = 0;
    for cohort in [2024, 2025] {
        for &as_of in &dates {
            let full = store
                .outcome_rows(cohort, as_of, None, outcome_dim::ALL)
                .await
                .unwrap();
            assert_eq!(full.dims, outcome_dim::ALL);
            assert_eq!(
                answered(full),
                expected(&model, cohort, as_of, outcome_dim::ALL),
                "day-level rows, cohort {cohort} as of {as_of}"
            );
            for dims in OUTCOME_PROJECTIONS {
                let rolled = store.outcome_rows(cohort, as_of, None, dims).await.unwrap();
                assert_eq!(rolled.dims, dims);
                let want = expected(&model, cohort, as_of, dims);
                nonempty += usize::from(!want.is_empty());
                assert_eq!(
                    answered(rolled),
                    want,
                    "running totals, projection {dims}, cohort {cohort} as of {as_of}"
                );
            }
        }
    }
    // The histories are not trivially empty at the dates checked.
    assert!(nonempty > dates.len() * 16, "{nonempty}");
    db.close().await;
}
