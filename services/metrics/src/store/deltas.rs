//! The delta writer: an entity's change of contribution, as differences
//! per aggregate cell, appended to the logs (stamped with the commit
//! instant), added to the current cells, and added to the running totals.

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
                let gathered: Vec<_> = chunk
                    .iter()
                    .filter_map(|(c, a)| match c {
                        Cell::Gathered {
                            day,
                            district,
                            industry,
                            platform,
                            tier,
                        } => Some((*day, district, industry, platform, *tier, a.n, a.key)),
                        _ => None,
                    })
                    .collect();
                let outcome: Vec<_> = chunk
                    .iter()
                    .filter_map(|(c, a)| match c {
                        Cell::Outcome {
                            cohort,
                            day,
                            university,
                            degree,
                            discipline,
                            district,
                            industry,
                        } => Some((
                            *cohort,
                            *day,
                            university,
                            *degree,
                            *discipline,
                            district,
                            industry,
                            a.n,
                            a.key,
                        )),
                        _ => None,
                    })
                    .collect();
                let activity: Vec<_> = chunk
                    .iter()
                    .filter_map(|(c, a)| match c {
                        Cell::Activity {
                            kind,
                            day,
                            district,
                            industry,
                            platform,
                            tier,
                        } => Some((
                            kind,
                            *day,
                            district,
                            industry,
                            platform,
                            *tier,
                            a.n,
                            a.headcount,
                            a.key,
                        )),
                        _ => None,
                    })
                    .collect();
                let distinct: Vec<_> = chunk
                    .iter()
                    .filter_map(|(c, a)| match c {
                        Cell::Distinct {
                            kind,
                            entity,
                            day,
                            district,
                            industry,
                            platform,
                            tier,
                        } => Some((
                            kind, entity, *day, district, industry, platform, *tier, a.n, a.key,
                        )),
                        _ => None,
                    })
                    .collect();
                if !gathered.is_empty() {
                    for (table, log) in [("agg_gathered_log", true), ("agg_gathered_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (day, district, industry, platform, tier, n, \
                     key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&gathered, |mut b, r| {
                            b.push_bind(r.0)
                                .push_bind(r.1)
                                .push_bind(r.2)
                                .push_bind(r.3)
                                .push_bind(r.4)
                                .push_bind(r.5)
                                .push_bind(i64::from(r.6));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(
                                " ON CONFLICT (day, district, industry, platform, tier) \
                            DO UPDATE SET n = agg_gathered_now.n + excluded.n, \
                            key_sum = (agg_gathered_now.key_sum + excluded.key_sum) \
                            % 4294967296",
                            );
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                    // One row per roll-up cell (PostgreSQL cannot update a
                    // row twice in one statement), in key order.
                    let mut roll: BTreeMap<(&str, i64, &String, &String, &String, i64), Tally> =
                        BTreeMap::new();
                    for r in &gathered {
                        for (level, bucket) in [("M", month_start(r.0)), ("Y", year_start(r.0))] {
                            *roll.entry((level, bucket, r.1, r.2, r.3, r.4)).or_default() +=
                                Tally { n: r.5, key: r.6 };
                        }
                    }
                    let mut q = QueryBuilder::new(
                        "INSERT INTO agg_gathered_roll (level, bucket, district, industry, \
                 platform, tier, n, key_sum) ",
                    );
                    q.push_values(&roll, |mut b, (k, t)| {
                        b.push_bind(k.0)
                            .push_bind(k.1)
                            .push_bind(k.2)
                            .push_bind(k.3)
                            .push_bind(k.4)
                            .push_bind(k.5)
                            .push_bind(t.n)
                            .push_bind(i64::from(t.key));
                    });
                    q.push(
                        " ON CONFLICT (level, bucket, district, industry, platform, tier) \
                    DO UPDATE SET n = agg_gathered_roll.n + excluded.n, \
                    key_sum = (agg_gathered_roll.key_sum + excluded.key_sum) % 4294967296",
                    );
                    q.build().per_batch().execute(&mut *c).await?;
                }
                if !outcome.is_empty() {
                    for (table, log) in [("agg_outcome_log", true), ("agg_outcome_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (cohort, day, university, degree, discipline, \
                     district, industry, n, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&outcome, |mut b, r| {
                            b.push_bind(r.0)
                                .push_bind(r.1)
                                .push_bind(r.2)
                                .push_bind(r.3)
                                .push_bind(r.4)
                                .push_bind(r.5)
                                .push_bind(r.6)
                                .push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(
                                " ON CONFLICT (cohort, day, university, degree, discipline, \
                            district, industry) DO UPDATE SET n = agg_outcome_now.n + excluded.n, \
                            key_sum = (agg_outcome_now.key_sum + excluded.key_sum) % 4294967296",
                            );
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
                if !activity.is_empty() {
                    for (table, log) in [("agg_activity_log", true), ("agg_activity_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, day, district, industry, platform, tier, \
                     n, headcount, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&activity, |mut b, r| {
                            b.push_bind(r.0)
                                .push_bind(r.1)
                                .push_bind(r.2)
                                .push_bind(r.3)
                                .push_bind(r.4)
                                .push_bind(r.5)
                                .push_bind(r.6)
                                .push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(
                                " ON CONFLICT (kind, day, district, industry, platform, tier) \
                            DO UPDATE SET n = agg_activity_now.n + excluded.n, \
                            headcount = agg_activity_now.headcount + excluded.headcount, \
                            key_sum = (agg_activity_now.key_sum + excluded.key_sum) \
                            % 4294967296",
                            );
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
                if !distinct.is_empty() {
                    for (table, log) in [("agg_distinct_log", true), ("agg_distinct_now", false)] {
                        let mut q = QueryBuilder::new(format!(
                            "INSERT INTO {table} (kind, entity, day, district, industry, platform, \
                     tier, n, key_sum{}) ",
                            if log { ", known_at" } else { "" }
                        ));
                        q.push_values(&distinct, |mut b, r| {
                            b.push_bind(r.0)
                                .push_bind(r.1)
                                .push_bind(r.2)
                                .push_bind(r.3)
                                .push_bind(r.4)
                                .push_bind(r.5)
                                .push_bind(r.6)
                                .push_bind(r.7)
                                .push_bind(i64::from(r.8));
                            if log {
                                b.push_bind(known_at);
                            }
                        });
                        if !log {
                            q.push(
                                " ON CONFLICT (kind, entity, day, district, industry, platform, \
                            tier) DO UPDATE SET n = agg_distinct_now.n + excluded.n, \
                            key_sum = (agg_distinct_now.key_sum + excluded.key_sum) \
                            % 4294967296",
                            );
                        }
                        q.build().per_batch().execute(&mut *c).await?;
                    }
                }
            }
            apply_outcome_roll::<DB>(&mut **self, &deltas).await
        })
    }
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
    let rows: Vec<(OutcomeRollKey, Tally)> = roll
        .into_iter()
        .filter(|(_, t)| *t != Tally::default())
        .collect();
    for chunk in rows.chunks(1000) {
        let mut q = QueryBuilder::new(
            "INSERT INTO agg_outcome_roll (cohort, proj, level, bucket, university, \
         degree, discipline, district, industry, status, n, key_sum) ",
        );
        q.push_values(chunk, |mut b, (k, t)| {
            b.push_bind(k.0)
                .push_bind(k.1)
                .push_bind(k.2)
                .push_bind(k.3)
                .push_bind(&k.4)
                .push_bind(k.5)
                .push_bind(k.6)
                .push_bind(&k.7)
                .push_bind(&k.8)
                .push_bind(k.9)
                .push_bind(t.n)
                .push_bind(i64::from(t.key));
        });
        q.push(
            " ON CONFLICT (cohort, proj, level, bucket, university, degree, discipline, \
         district, industry, status) DO UPDATE SET n = agg_outcome_roll.n + excluded.n, \
         key_sum = (agg_outcome_roll.key_sum + excluded.key_sum) % 4294967296",
        );
        q.build().per_batch().execute(&mut *c).await?;
    }
    Ok(())
}
