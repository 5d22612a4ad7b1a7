//! The delta writer: an entity's change of contribution, as differences
//! per aggregate cell, appended to the logs (stamped with the commit
//! instant), added to the current cells, and added to the running totals.
//!
//! Every aggregate table is written by one statement shape ([`add_rows`]):
//! a row is its key values and its sums, and an upsert adds the sums (the
//! key sum modulo 2³²) to the row already there.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use sqlx::{Encode, Executor, QueryBuilder, Type};
use talent_server::{Column, PerBatch};

use super::{MetricsSql, R};
use crate::disclosure::Tally;
use crate::domain::projection::{OutcomeRollKey, month_start, outcome_roll_add, year_start};
use crate::domain::{Amount, Cell};

/// Writes differences of the aggregates.
pub trait DeltaWriter {
    /// Appends the differences to the logs (stamped `known_at`) and adds
    /// them to the current cells. Cells are written in key order, so
    /// concurrent transactions lock shared rows in the same order.
    fn apply_deltas<'a>(
        &'a mut self,
        deltas: &'a BTreeMap<Cell, Amount>,
        known_at: i64,
    ) -> BoxFuture<'a, R<()>>;
}

/// A value of a row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Int(i64),
    Text(&'a str),
}

/// A row to add: its key values, its sums (in the table's `sums` order)
/// and its key sum.
type Row<'a> = (Vec<Key<'a>>, Vec<i64>, u32);

/// An aggregate's tables and columns.
struct Aggregate {
    log: &'static str,
    now: &'static str,
    keys: &'static str,
    sums: &'static [&'static str],
}

const GATHERED: Aggregate = Aggregate {
    log: "agg_gathered_log",
    now: "agg_gathered_now",
    keys: "day, district, industry, platform, tier",
    sums: &["n"],
};
const OUTCOME: Aggregate = Aggregate {
    log: "agg_outcome_log",
    now: "agg_outcome_now",
    keys: "cohort, day, university, degree, discipline, district, industry",
    sums: &["n"],
};
const ACTIVITY: Aggregate = Aggregate {
    log: "agg_activity_log",
    now: "agg_activity_now",
    keys: "kind, day, district, industry, platform, tier",
    sums: &["n", "headcount"],
};
const DISTINCT: Aggregate = Aggregate {
    log: "agg_distinct_log",
    now: "agg_distinct_now",
    keys: "kind, entity, day, district, industry, platform, tier",
    sums: &["n"],
};
const GATHERED_ROLL_KEYS: &str = "level, bucket, district, industry, platform, tier";
const OUTCOME_ROLL_KEYS: &str =
    "cohort, proj, level, bucket, university, degree, discipline, district, industry, status";

/// The aggregate a cell belongs to and its row.
fn row<'a>(cell: &'a Cell, a: &Amount) -> (&'static Aggregate, Row<'a>) {
    use Key::{Int, Text};
    match cell {
        Cell::Gathered {
            day,
            district,
            industry,
            platform,
            tier,
        } => (
            &GATHERED,
            (
                vec![
                    Int(*day),
                    Text(district),
                    Text(industry),
                    Text(platform),
                    Int(*tier),
                ],
                vec![a.n],
                a.key,
            ),
        ),
        Cell::Outcome {
            cohort,
            day,
            university,
            degree,
            discipline,
            district,
            industry,
        } => (
            &OUTCOME,
            (
                vec![
                    Int(*cohort),
                    Int(*day),
                    Text(university),
                    Int(*degree),
                    Int(*discipline),
                    Text(district),
                    Text(industry),
                ],
                vec![a.n],
                a.key,
            ),
        ),
        Cell::Activity {
            kind,
            day,
            district,
            industry,
            platform,
            tier,
        } => (
            &ACTIVITY,
            (
                vec![
                    Text(kind),
                    Int(*day),
                    Text(district),
                    Text(industry),
                    Text(platform),
                    Int(*tier),
                ],
                vec![a.n, a.headcount],
                a.key,
            ),
        ),
        Cell::Distinct {
            kind,
            entity,
            day,
            district,
            industry,
            platform,
            tier,
        } => (
            &DISTINCT,
            (
                vec![
                    Text(kind),
                    Text(entity),
                    Int(*day),
                    Text(district),
                    Text(industry),
                    Text(platform),
                    Int(*tier),
                ],
                vec![a.n],
                a.key,
            ),
        ),
    }
}

impl<DB: MetricsSql> DeltaWriter for sqlx::Transaction<'static, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
{
    fn apply_deltas<'a>(
        &'a mut self,
        deltas: &'a BTreeMap<Cell, Amount>,
        known_at: i64,
    ) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            let c: &mut DB::Connection = self;
            let deltas: Vec<(&Cell, &Amount)> = deltas
                .iter()
                .filter(|(_, a)| **a != Amount::default())
                .collect();
            for chunk in deltas.chunks(400) {
                for aggregate in [&GATHERED, &OUTCOME, &ACTIVITY, &DISTINCT] {
                    let rows: Vec<Row> = chunk
                        .iter()
                        .map(|(cell, a)| row(cell, a))
                        .filter(|(of, _)| of.log == aggregate.log)
                        .map(|(_, r)| r)
                        .collect();
                    if rows.is_empty() {
                        continue;
                    }
                    add_rows::<DB>(
                        c,
                        aggregate.log,
                        aggregate.keys,
                        aggregate.sums,
                        &rows,
                        Some(known_at),
                    )
                    .await?;
                    add_rows::<DB>(
                        c,
                        aggregate.now,
                        aggregate.keys,
                        aggregate.sums,
                        &rows,
                        None,
                    )
                    .await?;
                    if aggregate.log == GATHERED.log {
                        add_rows::<DB>(
                            c,
                            "agg_gathered_roll",
                            GATHERED_ROLL_KEYS,
                            &["n"],
                            &gathered_roll(&rows),
                            None,
                        )
                        .await?;
                    }
                }
            }
            apply_outcome_roll::<DB>(c, &deltas).await
        })
    }
}

/// Talents gathered summed per month and per year: one row per roll-up
/// cell (PostgreSQL cannot update a row twice in one statement), in key
/// order.
fn gathered_roll<'a>(rows: &[Row<'a>]) -> Vec<Row<'a>> {
    let mut roll: BTreeMap<Vec<Key<'a>>, Tally> = BTreeMap::new();
    for (keys, sums, key) in rows {
        let Key::Int(day) = keys[0] else {
            continue;
        };
        for (level, bucket) in [("M", month_start(day)), ("Y", year_start(day))] {
            let mut k = vec![Key::Text(level), Key::Int(bucket)];
            k.extend_from_slice(&keys[1..]);
            *roll.entry(k).or_default() += Tally {
                n: sums[0],
                key: *key,
            };
        }
    }
    roll.into_iter()
        .map(|(k, t)| (k, vec![t.n], t.key))
        .collect()
}

/// Adds the outcome differences to their running totals
/// (`agg_outcome_roll`): summed per row first, in key order, so
/// concurrent transactions lock shared rows in the same order.
async fn apply_outcome_roll<DB: MetricsSql>(
    c: &mut DB::Connection,
    deltas: &[(&Cell, &Amount)],
) -> R<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
{
    let mut roll = BTreeMap::new();
    for (cell, a) in deltas {
        if let Cell::Outcome {
            cohort,
            day,
            university,
            degree,
            discipline,
            district,
            industry,
        } = cell
        {
            outcome_roll_add(
                &mut roll,
                *cohort,
                *day,
                university,
                *degree,
                *discipline,
                district,
                industry,
                Tally { n: a.n, key: a.key },
            );
        }
    }
    let tallies: Vec<(OutcomeRollKey, Tally)> = roll
        .into_iter()
        .filter(|(_, t)| *t != Tally::default())
        .collect();
    let rows: Vec<Row> = tallies
        .iter()
        .map(|(k, t)| {
            use Key::{Int, Text};
            (
                vec![
                    Int(k.0),
                    Int(k.1),
                    Text(k.2),
                    Int(k.3),
                    Text(&k.4),
                    Int(k.5),
                    Int(k.6),
                    Text(&k.7),
                    Text(&k.8),
                    Int(k.9),
                ],
                vec![t.n],
                t.key,
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        add_rows::<DB>(
            c,
            "agg_outcome_roll",
            OUTCOME_ROLL_KEYS,
            &["n"],
            chunk,
            None,
        )
        .await?;
    }
    Ok(())
}

/// Adds `rows` to `table`: appended with `known_at` (a log), or, without,
/// added to the row of the same key (`ON CONFLICT (keys)`), the key sum
/// modulo 2³².
async fn add_rows<DB: MetricsSql>(
    c: &mut DB::Connection,
    table: &str,
    keys: &str,
    sums: &[&str],
    rows: &[Row<'_>],
    known_at: Option<i64>,
) -> R<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "INSERT INTO {table} ({keys}, {}, key_sum{}) ",
        sums.join(", "),
        if known_at.is_some() { ", known_at" } else { "" }
    ));
    q.push_values(rows, |mut b, (key_values, sum_values, key_sum)| {
        for v in key_values {
            match v {
                Key::Int(i) => b.push_bind(*i),
                Key::Text(s) => b.push_bind(*s),
            };
        }
        for s in sum_values {
            b.push_bind(*s);
        }
        b.push_bind(i64::from(*key_sum));
        if let Some(at) = known_at {
            b.push_bind(at);
        }
    });
    if known_at.is_none() {
        let added: Vec<String> = sums
            .iter()
            .map(|s| format!("{s} = {table}.{s} + excluded.{s}"))
            .collect();
        q.push(format!(
            " ON CONFLICT ({keys}) DO UPDATE SET {}, \
             key_sum = ({table}.key_sum + excluded.key_sum) % 4294967296",
            added.join(", ")
        ));
    }
    q.build().per_batch().execute(&mut *c).await?;
    Ok(())
}
