//! Bulk loading of the synthetic city straight into the metrics database:
//! the fact tables (`employments`, `resumes`, `roster`, `universities`)
//! and the current aggregates the two measured queries read
//! (`agg_gathered_now` and its month/year roll-up `agg_gathered_roll`,
//! `agg_outcome_now` and its running totals `agg_outcome_roll`), computed
//! by the model in `data`. Multi-row VALUES (1,000 persons a statement)
//! in transactions of 50 statements on SQLite; UNNEST of 10,000 persons a
//! statement on PostgreSQL, two statements at a time on two connections
//! (the person indexes built afterwards). The outcome running totals are
//! computed on a blocking thread while the database works. Not written:
//! the `*_log` tables ("as known at" queries), `entity_state`,
//! `applied_events` and the activity aggregates, which the measured
//! queries do not read.

use std::str::FromStr;

use anyhow::Context;
use sqlx::{
    ColumnIndex, Executor, PgPool, Pool, Postgres, QueryBuilder, Sqlite, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use talent_metrics::disclosure::Tally;
use talent_server::{Backend, Column, Db, Sql};
use tokio::task::JoinHandle;

use crate::data::{self, Aggregates, Person};

/// Connections loading PostgreSQL at once (the machine's cores).
const LOAD_CONNECTIONS: usize = 2;

/// A small pool for loading and the full-scan baseline (one connection on
/// SQLite, which has one writer; two on PostgreSQL). SQLite loads with
/// `synchronous=OFF` (a crash during set-up only loses the benchmark's own
/// data); PostgreSQL with `synchronous_commit=off`.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    Ok(match Backend::of_url(url)? {
        Backend::Sqlite => Db::Sqlite(Sqlite::open(url).await?),
        Backend::Postgres => Db::Postgres(Postgres::open(url).await?),
    })
}

/// Refreshes the planner statistics, as a running database would have.
pub async fn analyze(db: &Db) -> anyhow::Result<()> {
    match db {
        Db::Sqlite(pool) => Sqlite::analyze(pool).await,
        Db::Postgres(pool) => Postgres::analyze(pool).await,
    }
}

/// Loads persons `0..persons`; returns the aggregates written.
pub async fn load(db: &Db, persons: u64) -> anyhow::Result<Aggregates> {
    match db {
        Db::Sqlite(pool) => Sqlite::load(pool, persons).await,
        Db::Postgres(pool) => Postgres::load(pool, persons).await,
    }
}

/// Loading, on each back end.
trait Loader: Sql {
    fn open(url: &str) -> impl Future<Output = anyhow::Result<Pool<Self>>> + Send;

    fn analyze(pool: &Pool<Self>) -> impl Future<Output = anyhow::Result<()>> + Send;

    fn load(
        pool: &Pool<Self>,
        persons: u64,
    ) -> impl Future<Output = anyhow::Result<Aggregates>> + Send;
}

/// Multi-row VALUES (1,000 persons a statement) in transactions of 50
/// statements.
impl Loader for Sqlite {
    async fn open(url: &str) -> anyhow::Result<SqlitePool> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-262144");
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("opening the SQLite database")
    }

    async fn analyze(pool: &SqlitePool) -> anyhow::Result<()> {
        sqlx::query("PRAGMA analysis_limit = 1000")
            .execute(pool)
            .await?;
        sqlx::query("ANALYZE").execute(pool).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn load(pool: &SqlitePool, persons: u64) -> anyhow::Result<Aggregates> {
        let mut aggs = Aggregates::default();
        let chunk = 1000;
        let mut tx = pool.begin().await?;
        let mut statements = 0;
        let mut start = 0;
        while start < persons {
            let end = (start + chunk).min(persons);
            let ps: Vec<Person> = (start..end).map(data::person).collect();
            for person in &ps {
                aggs.add(person);
            }
            sqlite_facts(&mut tx, &ps).await?;
            statements += 1;
            if statements % 50 == 0 {
                tx.commit().await?;
                tx = pool.begin().await?;
            }
            start = end;
        }
        tx.commit().await?;
        aggs.prune();
        let roll = spawn_outcome_roll(&aggs);
        sqlite_aggregates(pool, &aggs, roll).await?;
        Ok(aggs)
    }
}

/// UNNEST of 10,000 persons a statement, two statements at a time on two
/// connections, the person indexes built afterwards.
impl Loader for Postgres {
    async fn open(url: &str) -> anyhow::Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(LOAD_CONNECTIONS as u32)
            .after_connect(|c, _| {
                Box::pin(async move {
                    sqlx::query("SET synchronous_commit = off")
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context("connecting to PostgreSQL")
    }

    async fn analyze(pool: &PgPool) -> anyhow::Result<()> {
        sqlx::query("VACUUM ANALYZE").execute(pool).await?;
        Ok(())
    }

    async fn load(pool: &PgPool, persons: u64) -> anyhow::Result<Aggregates> {
        let mut aggs = Aggregates::default();
        let indexes = drop_secondary_indexes(pool).await?;
        let chunk = 10_000;
        let mut start = 0;
        // One PostgreSQL backend is one core: statements on both of the
        // pool's connections use both cores.
        let mut inserting = tokio::task::JoinSet::new();
        while start < persons {
            let end = (start + chunk).min(persons);
            let ps: Vec<Person> = (start..end).map(data::person).collect();
            for person in &ps {
                aggs.add(person);
            }
            if inserting.len() >= LOAD_CONNECTIONS {
                inserting.join_next().await.context("an insert task")???;
            }
            let pool = pool.clone();
            inserting.spawn(async move { postgres_facts(&pool, &ps).await });
            start = end;
        }
        while let Some(done) = inserting.join_next().await {
            done??;
        }
        aggs.prune();
        let roll = spawn_outcome_roll(&aggs);
        for definition in indexes {
            sqlx::query(sqlx::AssertSqlSafe(definition))
                .execute(pool)
                .await?;
        }
        postgres_aggregates(pool, &aggs, roll).await?;
        Ok(aggs)
    }
}

/// Drops the indexes of the fact tables that are not constraints (those on
/// `person_key`, whose values are random) and returns their definitions,
/// to be built again once the rows are in. Inserting 20 million rows into
/// a random-key index touches a random leaf page per row, and after every
/// checkpoint each page touched is written to the WAL whole: building the
/// index afterwards, in one sorted pass, is several times faster.
async fn drop_secondary_indexes(p: &PgPool) -> anyhow::Result<Vec<String>> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() \
         AND tablename IN ('employments', 'resumes', 'roster') \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(p)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
            .execute(p)
            .await?;
    }
    Ok(indexes
        .into_iter()
        .map(|(_, definition)| definition)
        .collect())
}

type SqliteTx = sqlx::Transaction<'static, Sqlite>;

async fn sqlite_facts(tx: &mut SqliteTx, ps: &[Person]) -> anyhow::Result<()> {
    let emps: Vec<(&str, &data::Emp)> = ps
        .iter()
        .flat_map(|p| p.emps.iter().map(move |e| (p.key.as_str(), e)))
        .collect();
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO employments (employment_id, person_key, hired, district, industry, in_city, \
         start_day, platform, recorded_at, end_day, end_revision) ",
    );
    q.push_values(&emps, |mut b, (key, e)| {
        b.push_bind(e.id.as_str())
            .push_bind(*key)
            .push_bind(1_i64)
            .push_bind(e.district)
            .push_bind(e.industry)
            .push_bind(i64::from(e.in_city))
            .push_bind(e.start_day)
            .push_bind(e.platform)
            .push_bind(e.recorded_at)
            .push_bind(e.end_day)
            .push_bind(i64::from(e.end_day.is_some()));
    });
    q.build().execute(&mut **tx).await?;
    let resumes: Vec<(&str, &data::Resume)> = ps
        .iter()
        .filter_map(|p| p.resume.as_ref().map(|r| (p.key.as_str(), r)))
        .collect();
    if !resumes.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO resumes (resume_id, revision, person_key, platform, first_day, degree, \
             title, skill) ",
        );
        q.push_values(&resumes, |mut b, (key, r)| {
            b.push_bind(r.id.as_str())
                .push_bind(1_i64)
                .push_bind(*key)
                .push_bind(r.platform)
                .push_bind(r.first_day)
                .push_bind(r.degree)
                .push_bind(0_i64)
                .push_bind(0_i64);
        });
        q.build().execute(&mut **tx).await?;
    }
    let roster: Vec<(&str, &data::Roster, String, String)> = ps
        .iter()
        .filter_map(|p| {
            p.roster.as_ref().map(|r| {
                (
                    p.key.as_str(),
                    r,
                    data::university_code(r.university),
                    data::university_name(r.university),
                )
            })
        })
        .collect();
    if !roster.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO roster (person_key, university_code, degree, university_name, \
             discipline, graduation_day, cohort, imported_at, import_seq) ",
        );
        q.push_values(&roster, |mut b, (key, r, code, name)| {
            b.push_bind(*key)
                .push_bind(code.as_str())
                .push_bind(r.degree)
                .push_bind(name.as_str())
                .push_bind(r.discipline)
                .push_bind(r.graduation_day)
                .push_bind(r.cohort)
                .push_bind(0_i64)
                .push_bind(0_i64);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Gathered cells as owned rows.
#[allow(clippy::type_complexity)]
fn gathered_rows(
    aggs: &Aggregates,
) -> Vec<(i64, &'static str, &'static str, &'static str, i64, i64, i64)> {
    let mut rows: Vec<_> = aggs
        .gathered
        .iter()
        .map(|((day, d, i, p, t), n)| (*day, *d, *i, *p, *t, n.n, i64::from(n.key)))
        .collect();
    rows.sort_unstable();
    rows
}

#[allow(clippy::type_complexity)]
fn outcome_rows(
    aggs: &Aggregates,
) -> Vec<(
    i64,
    i64,
    String,
    i64,
    i64,
    &'static str,
    &'static str,
    i64,
    i64,
)> {
    let mut rows: Vec<_> = aggs
        .outcome
        .iter()
        .map(|((c, day, u, g, s, d, i), n)| {
            (
                *c,
                *day,
                data::university_code(*u),
                *g,
                *s,
                *d,
                *i,
                n.n,
                i64::from(n.key),
            )
        })
        .collect();
    rows.sort_unstable();
    rows
}

/// The month and year roll-ups of the gathered cells
/// (`agg_gathered_roll`): (level, bucket, district, industry, platform,
/// tier, n, key_sum).
#[allow(clippy::type_complexity)]
fn roll_rows(
    aggs: &Aggregates,
) -> Vec<(
    &'static str,
    i64,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
)> {
    let mut roll: std::collections::BTreeMap<_, Tally> = std::collections::BTreeMap::new();
    for ((day, d, i, p, t), n) in &aggs.gathered {
        let date = talent_codes::date_of_day(*day);
        let month = day - i64::from(date.day()) + 1;
        let year = day - i64::from(date.ordinal()) + 1;
        for (level, bucket) in [("M", month), ("Y", year)] {
            *roll.entry((level, bucket, *d, *i, *p, *t)).or_default() += *n;
        }
    }
    roll.into_iter()
        .filter(|(_, n)| n.n != 0 || n.key != 0)
        .map(|((l, b, d, i, p, t), n)| (l, b, d, i, p, t, n.n, i64::from(n.key)))
        .collect()
}

/// A row of `agg_outcome_roll`.
struct RollRow {
    cohort: i64,
    proj: i64,
    level: &'static str,
    bucket: i64,
    university: String,
    degree: i64,
    discipline: i64,
    district: &'static str,
    industry: &'static str,
    status: i64,
    n: i64,
    key_sum: i64,
}

/// Computes the outcome running totals on a blocking thread (long enough at
/// full size to be worth overlapping) while the database builds indexes
/// and takes the other aggregates.
fn spawn_outcome_roll(aggs: &Aggregates) -> JoinHandle<Vec<RollRow>> {
    let outcome = aggs.outcome_only();
    tokio::task::spawn_blocking(move || outcome_roll_rows(&outcome))
}

/// The outcome running totals (`agg_outcome_roll`) as owned rows in key
/// order.
fn outcome_roll_rows(aggs: &Aggregates) -> Vec<RollRow> {
    let mut cells: Vec<(data::RollCell, Tally)> = aggs.outcome_roll().into_iter().collect();
    cells.sort_unstable_by_key(|(c, _)| *c);
    cells
        .into_iter()
        .map(|(c, n)| RollRow {
            cohort: c.cohort,
            proj: i64::from(c.proj),
            level: match c.level {
                b'Y' => "Y",
                b'M' => "M",
                _ => "D",
            },
            bucket: c.bucket,
            university: c.university.map(data::university_code).unwrap_or_default(),
            degree: c.degree,
            discipline: c.discipline,
            district: c.district,
            industry: c.industry,
            status: c.status,
            n: n.n,
            key_sum: i64::from(n.key),
        })
        .collect()
}

fn universities() -> Vec<(String, String)> {
    (0..data::UNIVERSITIES)
        .map(|u| (data::university_code(u), data::university_name(u)))
        .collect()
}

async fn sqlite_aggregates(
    p: &SqlitePool,
    aggs: &Aggregates,
    roll: JoinHandle<Vec<RollRow>>,
) -> anyhow::Result<()> {
    use Value::{Int, Text};
    let mut tx = p.begin().await?;
    let unis = universities();
    let rows = unis.iter().map(|(c, n)| vec![Text(c), Text(n)]);
    sqlite_insert(&mut tx, "universities (code, name)", rows).await?;
    let rows = gathered_rows(aggs);
    let rows = rows.iter().map(|r| {
        vec![
            Int(r.0),
            Text(r.1),
            Text(r.2),
            Text(r.3),
            Int(r.4),
            Int(r.5),
            Int(r.6),
        ]
    });
    let table = "agg_gathered_now (day, district, industry, platform, tier, n, key_sum)";
    sqlite_insert(&mut tx, table, rows).await?;
    let rows = roll_rows(aggs);
    let rows = rows.iter().map(|r| {
        vec![
            Text(r.0),
            Int(r.1),
            Text(r.2),
            Text(r.3),
            Text(r.4),
            Int(r.5),
            Int(r.6),
            Int(r.7),
        ]
    });
    let table = "agg_gathered_roll (level, bucket, district, industry, platform, tier, n, key_sum)";
    sqlite_insert(&mut tx, table, rows).await?;
    let rows = outcome_rows(aggs);
    let rows = rows.iter().map(|r| {
        vec![
            Int(r.0),
            Int(r.1),
            Text(&r.2),
            Int(r.3),
            Int(r.4),
            Text(r.5),
            Text(r.6),
            Int(r.7),
            Int(r.8),
        ]
    });
    let table = "agg_outcome_now (cohort, day, university, degree, discipline, district, \
                 industry, n, key_sum)";
    sqlite_insert(&mut tx, table, rows).await?;
    let roll = roll.await.context("computing the outcome running totals")?;
    eprintln!("bench: {} outcome running-total rows", roll.len());
    let rows = roll.iter().map(|r| {
        vec![
            Int(r.cohort),
            Int(r.proj),
            Text(r.level),
            Int(r.bucket),
            Text(&r.university),
            Int(r.degree),
            Int(r.discipline),
            Text(r.district),
            Text(r.industry),
            Int(r.status),
            Int(r.n),
            Int(r.key_sum),
        ]
    });
    let table = "agg_outcome_roll (cohort, proj, level, bucket, university, degree, discipline, \
                 district, industry, status, n, key_sum)";
    sqlite_insert(&mut tx, table, rows).await?;
    tx.commit().await?;
    Ok(())
}

/// A column value of a row the SQLite loader inserts.
enum Value<'a> {
    Int(i64),
    Text(&'a str),
}

/// Inserts `rows` into `table` (its name and column list), 1,000 rows a
/// statement.
async fn sqlite_insert<'a>(
    tx: &mut sqlx::SqliteConnection,
    table: &str,
    rows: impl Iterator<Item = Vec<Value<'a>>>,
) -> anyhow::Result<()> {
    let rows: Vec<Vec<Value<'a>>> = rows.collect();
    for chunk in rows.chunks(1000) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT INTO {table} "));
        q.push_values(chunk, |mut b, row| {
            for value in row {
                match value {
                    Value::Int(n) => b.push_bind(*n),
                    Value::Text(s) => b.push_bind(*s),
                };
            }
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn postgres_facts(p: &PgPool, ps: &[Person]) -> anyhow::Result<()> {
    let emps: Vec<(&str, &data::Emp)> = ps
        .iter()
        .flat_map(|p| p.emps.iter().map(move |e| (p.key.as_str(), e)))
        .collect();
    let col_s = |f: fn(&(&str, &data::Emp)) -> String| emps.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "INSERT INTO employments (employment_id, person_key, hired, district, industry, in_city, \
         start_day, platform, recorded_at, end_day, end_revision) \
         SELECT id, pk, 1, d, i, c, s, p, r, e, er FROM UNNEST($1::text[], $2::text[], \
         $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[], \
         $9::bigint[], $10::bigint[]) AS t(id, pk, d, i, c, s, p, r, e, er)",
    )
    .bind(col_s(|(_, e)| e.id.clone()))
    .bind(col_s(|(k, _)| (*k).to_string()))
    .bind(col_s(|(_, e)| e.district.to_string()))
    .bind(col_s(|(_, e)| e.industry.to_string()))
    .bind(
        emps.iter()
            .map(|(_, e)| i64::from(e.in_city))
            .collect::<Vec<_>>(),
    )
    .bind(emps.iter().map(|(_, e)| e.start_day).collect::<Vec<_>>())
    .bind(col_s(|(_, e)| e.platform.to_string()))
    .bind(emps.iter().map(|(_, e)| e.recorded_at).collect::<Vec<_>>())
    .bind(
        emps.iter()
            .map(|(_, e)| e.end_day)
            .collect::<Vec<Option<i64>>>(),
    )
    .bind(
        emps.iter()
            .map(|(_, e)| i64::from(e.end_day.is_some()))
            .collect::<Vec<_>>(),
    )
    .execute(p)
    .await?;
    let resumes: Vec<(&str, &data::Resume)> = ps
        .iter()
        .filter_map(|p| p.resume.as_ref().map(|r| (p.key.as_str(), r)))
        .collect();
    if !resumes.is_empty() {
        sqlx::query(
            "INSERT INTO resumes (resume_id, revision, person_key, platform, first_day, degree, \
             title, skill) SELECT id, 1, pk, p, f, d, 0, 0 FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::bigint[], $5::bigint[]) AS t(id, pk, p, f, d)",
        )
        .bind(
            resumes
                .iter()
                .map(|(_, r)| r.id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            resumes
                .iter()
                .map(|(k, _)| (*k).to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            resumes
                .iter()
                .map(|(_, r)| r.platform.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(resumes.iter().map(|(_, r)| r.first_day).collect::<Vec<_>>())
        .bind(resumes.iter().map(|(_, r)| r.degree).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    let roster: Vec<(&str, &data::Roster)> = ps
        .iter()
        .filter_map(|p| p.roster.as_ref().map(|r| (p.key.as_str(), r)))
        .collect();
    if !roster.is_empty() {
        sqlx::query(
            "INSERT INTO roster (person_key, university_code, degree, university_name, \
             discipline, graduation_day, cohort, imported_at, import_seq) \
             SELECT pk, u, d, n, s, g, c, 0, 0 FROM UNNEST($1::text[], $2::text[], $3::bigint[], \
             $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS t(pk, u, d, n, s, g, c)",
        )
        .bind(
            roster
                .iter()
                .map(|(k, _)| (*k).to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            roster
                .iter()
                .map(|(_, r)| data::university_code(r.university))
                .collect::<Vec<_>>(),
        )
        .bind(roster.iter().map(|(_, r)| r.degree).collect::<Vec<_>>())
        .bind(
            roster
                .iter()
                .map(|(_, r)| data::university_name(r.university))
                .collect::<Vec<_>>(),
        )
        .bind(roster.iter().map(|(_, r)| r.discipline).collect::<Vec<_>>())
        .bind(
            roster
                .iter()
                .map(|(_, r)| r.graduation_day)
                .collect::<Vec<_>>(),
        )
        .bind(roster.iter().map(|(_, r)| r.cohort).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    Ok(())
}

async fn postgres_aggregates(
    p: &PgPool,
    aggs: &Aggregates,
    roll: JoinHandle<Vec<RollRow>>,
) -> anyhow::Result<()> {
    let unis = universities();
    sqlx::query(
        "INSERT INTO universities (code, name) SELECT * FROM UNNEST($1::text[], $2::text[])",
    )
    .bind(unis.iter().map(|u| u.0.clone()).collect::<Vec<_>>())
    .bind(unis.iter().map(|u| u.1.clone()).collect::<Vec<_>>())
    .execute(p)
    .await?;
    for chunk in gathered_rows(aggs).chunks(20_000) {
        sqlx::query(
            "INSERT INTO agg_gathered_now (day, district, industry, platform, tier, n, key_sum) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::bigint[], $7::bigint[])",
        )
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    for chunk in roll_rows(aggs).chunks(20_000) {
        sqlx::query(
            "INSERT INTO agg_gathered_roll (level, bucket, district, industry, platform, tier, n, \
             key_sum) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], \
             $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])",
        )
        .bind(chunk.iter().map(|r| r.0.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.7).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    for chunk in outcome_rows(aggs).chunks(20_000) {
        sqlx::query(
            "INSERT INTO agg_outcome_now (cohort, day, university, degree, discipline, district, \
             industry, n, key_sum) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], \
             $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])",
        )
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6.to_string()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.7).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.8).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    let roll = roll.await.context("computing the outcome running totals")?;
    eprintln!("bench: {} outcome running-total rows", roll.len());
    for chunk in roll.chunks(20_000) {
        sqlx::query(
            "INSERT INTO agg_outcome_roll (cohort, proj, level, bucket, university, degree, \
             discipline, district, industry, status, n, key_sum) SELECT * FROM \
             UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
             $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], \
             $12::bigint[])",
        )
        .bind(chunk.iter().map(|r| r.cohort).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.proj).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.level.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.bucket).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.university.clone())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.degree).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.discipline).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.district.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|r| r.industry.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.status).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.n).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.key_sum).collect::<Vec<_>>())
        .execute(p)
        .await?;
    }
    Ok(())
}

// ----- the full-scan baseline -----

/// Talents gathered in `[start, end)` by district and tier, computed from
/// the fact tables by one query: (district, tier, persons).
pub const GATHERED_SCAN: &str = "\
WITH t AS (
  SELECT person_key,
         CASE WHEN MAX(degree) >= 4 OR MAX(title) >= 4 OR MAX(skill) >= 4 THEN 3
              WHEN MAX(degree) >= 2 OR MAX(title) >= 2 OR MAX(skill) >= 2 THEN 2
              ELSE 1 END AS tier
  FROM (SELECT person_key, degree, title, skill FROM resumes
        UNION ALL SELECT person_key, degree, 0, 0 FROM roster) x
  GROUP BY person_key),
f AS (
  SELECT person_key, district, start_day,
         ROW_NUMBER() OVER (PARTITION BY person_key
                            ORDER BY start_day, recorded_at, employment_id) AS rn
  FROM employments WHERE hired = 1 AND in_city = 1)
SELECT f.district, t.tier, CAST(COUNT(*) AS BIGINT)
FROM f JOIN t ON t.person_key = f.person_key
WHERE f.rn = 1 AND f.start_day >= $1 AND f.start_day < $2 AND t.tier > 1
GROUP BY f.district, t.tier";

/// Cohort members of `$1` as of day `$2` by university and place (an
/// in-city district, OUTSIDE or NONE): (university, place, persons).
pub const OUTCOME_SCAN: &str = "\
WITH r AS (
  SELECT person_key, university_code,
         ROW_NUMBER() OVER (PARTITION BY person_key
                            ORDER BY degree DESC, import_seq, university_code DESC) AS rn
  FROM roster WHERE cohort = $1),
a AS (
  SELECT person_key, district, in_city,
         ROW_NUMBER() OVER (PARTITION BY person_key
                            ORDER BY in_city DESC, start_day DESC, recorded_at DESC,
                                     employment_id DESC) AS rn
  FROM employments
  WHERE hired = 1 AND start_day <= $2 AND (end_day IS NULL OR end_day > $2))
SELECT r.university_code,
       CASE WHEN a.person_key IS NULL THEN 'NONE'
            WHEN a.in_city = 1 THEN a.district ELSE 'OUTSIDE' END AS place,
       CAST(COUNT(*) AS BIGINT)
FROM r LEFT JOIN a ON a.person_key = r.person_key AND a.rn = 1
WHERE r.rn = 1
GROUP BY r.university_code, place";

/// Runs one of the scans: rows of (text, text-or-integer, count) as
/// (text, text, count).
pub async fn scan(
    db: &Db,
    sql: &'static str,
    a: i64,
    b: i64,
) -> anyhow::Result<Vec<(String, String, i64)>> {
    // The gathered scan's tier is an INTEGER on SQLite, an int4 on
    // PostgreSQL.
    match db {
        Db::Sqlite(pool) => scan_on::<_, i64>(pool, sql, a, b).await,
        Db::Postgres(pool) => scan_on::<_, i32>(pool, sql, a, b).await,
    }
}

async fn scan_on<DB: Sql, Tier>(
    pool: &Pool<DB>,
    sql: &'static str,
    a: i64,
    b: i64,
) -> anyhow::Result<Vec<(String, String, i64)>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Tier: Column<DB> + ToString + Send + Unpin,
{
    Ok(if sql == GATHERED_SCAN {
        let rows: Vec<(String, Tier, i64)> =
            sqlx::query_as(sql).bind(a).bind(b).fetch_all(pool).await?;
        rows.into_iter()
            .map(|(x, y, n)| (x, y.to_string(), n))
            .collect()
    } else {
        sqlx::query_as(sql).bind(a).bind(b).fetch_all(pool).await?
    })
}

/// A count (`SELECT COUNT(*) …`) on either back end.
pub async fn count(db: &Db, sql: &'static str) -> anyhow::Result<i64> {
    match db {
        Db::Sqlite(pool) => count_on(pool, sql).await,
        Db::Postgres(pool) => count_on(pool, sql).await,
    }
}

async fn count_on<DB: Sql>(pool: &Pool<DB>, sql: &'static str) -> anyhow::Result<i64>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
{
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}
