//! Employers, shared by every platform: each field keeps the value and the
//! platform of its last write.

use std::collections::{HashMap, HashSet};

use sqlx::{ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, PerBatch};

use super::{
    EmployerFilter, EmployerInput, EmployerRecord, EmployerStore, FieldSources, ItemError,
    ItemResult, Outcome, SqlStore, StoreResult,
    backend::RecruitingSql,
    sql::{Tx, int, json},
};

/// The columns of an employer (`e`) as `employer_from_row` reads them.
const EMPLOYER_COLUMNS: &str = "e.credit_code, e.display_name, e.district, e.industry, e.size, \
     e.field_sources, e.created_at, e.updated_at";

impl<DB: RecruitingSql> EmployerStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    async fn upsert_employers(
        &self,
        platform: String,
        items: Vec<EmployerInput>,
        now: i64,
    ) -> StoreResult<Vec<ItemResult<Outcome>>> {
        let codes: HashSet<String> = items.iter().map(|i| i.credit_code.clone()).collect();
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, codes.iter().map(|c| format!("employer:{c}"))).await?;
        let mut stored = Self::load_employers(&mut tx, &codes).await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let code = item.credit_code.clone();
            let result = match stored.get(&code) {
                None => {
                    let mut problems = Vec::new();
                    for (field, value) in [
                        ("display_name", &item.display_name),
                        ("district", &item.district),
                        ("industry", &item.industry),
                    ] {
                        if value.is_none() {
                            problems.push((
                                field.to_owned(),
                                "is required when the employer is created".to_owned(),
                            ));
                        }
                    }
                    if !problems.is_empty() {
                        results.push(Err(ItemError::Invalid(problems)));
                        continue;
                    }
                    let mut sources = FieldSources::new();
                    for field in ["display_name", "district", "industry"] {
                        sources.insert(field.to_owned(), (platform.clone(), now));
                    }
                    if item.size.is_some() {
                        sources.insert("size".to_owned(), (platform.clone(), now));
                    }
                    let record = EmployerRecord {
                        credit_code: code.clone(),
                        display_name: item.display_name.unwrap_or_default(),
                        district: item.district.unwrap_or_default(),
                        industry: item.industry.unwrap_or_default(),
                        size: item.size.unwrap_or(0),
                        field_sources: sources,
                        created_at: now,
                        updated_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO employers (credit_code, display_name, district, industry, \
                         size, field_sources, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(record.credit_code.clone())
                    .bind(record.display_name.clone())
                    .bind(record.district.clone())
                    .bind(record.industry.clone())
                    .bind(i64::from(record.size))
                    .bind(json(&record.field_sources))
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    stored.insert(code.clone(), record);
                    Outcome::Created
                }
                Some(current) => {
                    let mut record = current.clone();
                    let mut changed = false;
                    let mut set = |field: &str, slot: &mut String, value: Option<String>| {
                        if let Some(value) = value
                            && *slot != value
                        {
                            *slot = value;
                            record_source(&mut changed, field, &platform, now)
                        } else {
                            None
                        }
                    };
                    let mut touched = Vec::new();
                    touched.extend(set(
                        "display_name",
                        &mut record.display_name,
                        item.display_name,
                    ));
                    touched.extend(set("district", &mut record.district, item.district));
                    touched.extend(set("industry", &mut record.industry, item.industry));
                    if let Some(size) = item.size
                        && record.size != size
                    {
                        record.size = size;
                        touched.extend(record_source(&mut changed, "size", &platform, now));
                    }
                    for (field, source) in touched {
                        record.field_sources.insert(field, source);
                    }
                    if changed {
                        record.updated_at = now;
                        sqlx::query(
                            "UPDATE employers SET display_name = $2, district = $3, \
                             industry = $4, size = $5, field_sources = $6, updated_at = $7 \
                             WHERE credit_code = $1",
                        )
                        .bind(record.credit_code.clone())
                        .bind(record.display_name.clone())
                        .bind(record.district.clone())
                        .bind(record.industry.clone())
                        .bind(i64::from(record.size))
                        .bind(json(&record.field_sources))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        stored.insert(code.clone(), record);
                        Outcome::Updated
                    } else {
                        Outcome::Unchanged
                    }
                }
            };
            sqlx::query(
                "INSERT INTO employer_platforms (platform_id, credit_code) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(platform.clone())
            .bind(code)
            .execute(&mut *tx)
            .await?;
            results.push(Ok(result));
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn get_employer(
        &self,
        platform: Option<String>,
        credit_code: String,
    ) -> StoreResult<Option<EmployerRecord>> {
        let mut builder = Self::employers_of(platform);
        builder.push(" AND e.credit_code = ");
        builder.push_bind(credit_code);
        let row = builder.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::employer_from_row).transpose()
    }

    async fn list_employers(
        &self,
        platform: Option<String>,
        filter: EmployerFilter,
        after: Option<String>,
        limit: i64,
    ) -> StoreResult<Vec<EmployerRecord>> {
        let mut builder = Self::employers_of(platform);
        if let Some(prefix) = filter.district_prefix {
            builder.push(" AND substr(e.district, 1, CAST(");
            builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
            builder.push(" AS INTEGER)) = ");
            builder.push_bind(prefix);
        }
        if let Some(prefix) = filter.industry_prefix {
            builder.push(" AND substr(e.industry, 1, CAST(");
            builder.push_bind(i64::try_from(prefix.len()).unwrap_or(0));
            builder.push(" AS INTEGER)) = ");
            builder.push_bind(prefix);
        }
        if let Some(after) = after {
            builder.push(" AND e.credit_code > ");
            builder.push_bind(after);
        }
        builder.push(" ORDER BY e.credit_code LIMIT ");
        builder.push_bind(limit);
        let rows = builder.build().fetch_all(&self.pool).await?;
        rows.iter().map(Self::employer_from_row).collect()
    }
}

impl<DB: RecruitingSql> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
{
    /// The employers with these credit codes.
    pub(super) async fn load_employers(
        tx: &mut Tx<DB>,
        codes: &HashSet<String>,
    ) -> StoreResult<HashMap<String, EmployerRecord>> {
        let mut found = HashMap::new();
        if codes.is_empty() {
            return Ok(found);
        }
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {EMPLOYER_COLUMNS} FROM employers e WHERE e.credit_code IN ("
        ));
        let mut list = builder.separated(", ");
        for code in codes {
            list.push_bind(code.clone());
        }
        builder.push(")");
        for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
            let employer = Self::employer_from_row(&row)?;
            found.insert(employer.credit_code.clone(), employer);
        }
        Ok(found)
    }

    /// `SELECT` of the employers `platform` has upserted (None: every
    /// employer), ready for ` AND ` conditions.
    fn employers_of(platform: Option<String>) -> QueryBuilder<DB> {
        let mut builder = QueryBuilder::new(format!("SELECT {EMPLOYER_COLUMNS} FROM employers e"));
        match platform {
            Some(platform) => {
                builder.push(
                    " JOIN employer_platforms v ON v.credit_code = e.credit_code \
                     WHERE v.platform_id = ",
                );
                builder.push_bind(platform);
            }
            None => {
                builder.push(" WHERE 1 = 1");
            }
        }
        builder
    }

    fn employer_from_row(row: &DB::Row) -> StoreResult<EmployerRecord> {
        let sources: String = row.try_get("field_sources")?;
        let field_sources: FieldSources = serde_json::from_str(&sources)
            .map_err(|e| anyhow::anyhow!("employer field_sources: {e}"))?;
        Ok(EmployerRecord {
            credit_code: row.try_get("credit_code")?,
            display_name: row.try_get("display_name")?,
            district: row.try_get("district")?,
            industry: row.try_get("industry")?,
            size: int(row.try_get("size")?),
            field_sources,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Marks a field as written by `platform` at `now`.
fn record_source(
    changed: &mut bool,
    field: &str,
    platform: &str,
    now: i64,
) -> Option<(String, (String, i64))> {
    *changed = true;
    Some((field.to_owned(), (platform.to_owned(), now)))
}
