//! Résumés and the persons they belong to: personal fields and free text
//! sealed at rest, statistics events only when a statistical attribute or
//! the consent changes, and erasure of a person's personal data everywhere.

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, ColumnIndex, Executor, QueryBuilder, Row};
use talent_server::{Column, PerBatch};

use super::{
    ItemError, ItemResult, Outcome, ResumeAttributes, ResumeInput, ResumeRecord, ResumeStore,
    ResumeSummary, SqlStore, StoreResult,
    backend::RecruitingSql,
    outbox::write_outbox,
    resume_name,
    sql::{Tx, json},
};
use crate::{
    events::{self, OutboxEvent},
    pii::{Cipher, EducationText, FreeText, Sealed},
};

/// What the `attributes` column holds: what statistics and the events
/// need, never free text (that is sealed in `pii`).
#[derive(serde::Serialize)]
struct StoredAttributes<'a> {
    education: Vec<StoredEducation<'a>>,
    title_level: i32,
    skill_level: i32,
}

#[derive(serde::Serialize)]
struct StoredEducation<'a> {
    degree_level: i32,
    university_code: &'a str,
    discipline: i32,
    graduation: (i32, i32, i32),
}

/// `attributes` as the column stores it, and its free text apart.
fn split(attributes: &ResumeAttributes) -> (StoredAttributes<'_>, FreeText) {
    let stored = StoredAttributes {
        education: attributes
            .education
            .iter()
            .map(|e| StoredEducation {
                degree_level: e.degree_level,
                university_code: &e.university_code,
                discipline: e.discipline,
                graduation: e.graduation,
            })
            .collect(),
        title_level: attributes.title_level,
        skill_level: attributes.skill_level,
    };
    let text = FreeText {
        education: attributes
            .education
            .iter()
            .map(|e| EducationText {
                university_name: e.university_name.clone(),
                major: e.major.clone(),
            })
            .collect(),
        desired_districts: attributes.desired_districts.clone(),
        desired_industries: attributes.desired_industries.clone(),
    };
    (stored, text)
}

/// Puts sealed free text back into the attributes read from the column
/// (`None`: erased, no free text).
fn merge(attributes: &mut ResumeAttributes, text: Option<FreeText>) -> StoreResult<()> {
    let text = text.unwrap_or_else(|| FreeText {
        education: vec![EducationText::default(); attributes.education.len()],
        ..FreeText::default()
    });
    if text.education.len() != attributes.education.len() {
        return Err(anyhow::anyhow!(
            "a résumé's sealed free text does not match its education entries"
        )
        .into());
    }
    for (entry, text) in attributes.education.iter_mut().zip(text.education) {
        entry.university_name = text.university_name;
        entry.major = text.major;
    }
    attributes.desired_districts = text.desired_districts;
    attributes.desired_industries = text.desired_industries;
    Ok(())
}

/// Résumés whose `attributes` still hold free text (written before it was
/// sealed): the column then has the `desired_districts` member, which
/// [`StoredAttributes`] never writes.
const HOLDS_FREE_TEXT: &str = "attributes LIKE '%\"desired_districts\"%'";

/// How many persons' résumés one transaction of the re-sealing takes.
const RESEAL_BATCH: i64 = 500;

/// The columns of a résumé as `resume_from_row` reads them.
const RESUME_COLUMNS: &str = "platform_id, external_id, person_key, pii, attributes, consent, \
     consent_at, erased_at, revision, created_at, updated_at";

impl<DB: RecruitingSql> ResumeStore for SqlStore<DB>
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
    async fn upsert_resumes(
        &self,
        platform: String,
        items: Vec<ResumeInput>,
        now: i64,
    ) -> StoreResult<Vec<ItemResult<ResumeSummary>>> {
        let ids: HashSet<String> = items.iter().map(|i| i.external_id.clone()).collect();
        let mut tx = self.begin().await?;
        DB::lock(
            &mut *tx,
            std::iter::once(format!("platform:{platform}"))
                .chain(items.iter().map(|i| format!("person:{}", i.person_key))),
        )
        .await?;
        let mut existing = Self::load_resumes(&mut tx, &self.cipher, &platform, &ids).await?;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let stored = existing.get(&item.external_id);
            let (outcome, record) = match stored {
                Some(r) if r.erased_at.is_some() => {
                    results.push(Err(ItemError::FailedPrecondition(
                        "the résumé's person was erased (ErasePerson); it cannot change".into(),
                    )));
                    continue;
                }
                Some(r) if r.person_key != item.person_key => {
                    results.push(Err(ItemError::field(
                        "resident_id_number",
                        "is immutable: it differs from the résumé's stored number",
                    )));
                    continue;
                }
                Some(r) => {
                    let consent_at = item.consent_at.unwrap_or(if r.consent == item.consent {
                        r.consent_at
                    } else {
                        now
                    });
                    if r.personal.as_ref() == Some(&item.personal)
                        && r.attributes == item.attributes
                        && r.consent == item.consent
                        && r.consent_at == consent_at
                    {
                        results.push(Ok(ResumeSummary {
                            outcome: Outcome::Unchanged,
                            person_key: r.person_key.clone(),
                        }));
                        continue;
                    }
                    let statistics = r.consent != item.consent
                        || r.attributes.statistics_differ(&item.attributes);
                    let mut record = r.clone();
                    record.personal = Some(item.personal);
                    record.attributes = item.attributes;
                    record.consent = item.consent;
                    record.consent_at = consent_at;
                    record.updated_at = now;
                    if statistics {
                        record.revision += 1;
                        events.push(OutboxEvent::new(
                            &platform,
                            now,
                            events::resume_received(&record),
                        ));
                    }
                    Self::save_resume(&mut tx, &self.cipher, &record, false).await?;
                    (Outcome::Updated, record)
                }
                None => {
                    let record = ResumeRecord {
                        platform_id: platform.clone(),
                        external_id: item.external_id,
                        person_key: item.person_key,
                        personal: Some(item.personal),
                        attributes: item.attributes,
                        consent: item.consent,
                        consent_at: item.consent_at.unwrap_or(now),
                        erased_at: None,
                        revision: 1,
                        created_at: item.received_at.unwrap_or(now),
                        updated_at: now,
                    };
                    events.push(OutboxEvent::new(
                        &platform,
                        now,
                        events::resume_received(&record),
                    ));
                    Self::save_resume(&mut tx, &self.cipher, &record, true).await?;
                    (Outcome::Created, record)
                }
            };
            results.push(Ok(ResumeSummary {
                outcome,
                person_key: record.person_key.clone(),
            }));
            existing.insert(record.external_id.clone(), record);
        }
        write_outbox(&mut tx, events, now).await?;
        tx.commit().await?;
        Ok(results)
    }

    async fn get_resume(
        &self,
        platform: String,
        external_id: String,
    ) -> StoreResult<Option<ResumeRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RESUME_COLUMNS} FROM resumes WHERE platform_id = $1 AND external_id = $2"
        )))
        .bind(platform)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| Self::resume_from_row(row, &self.cipher))
            .transpose()
    }

    async fn erase_person(
        &self,
        platform: Option<String>,
        person_key: String,
        now: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        DB::lock(&mut *tx, [format!("person:{person_key}")]).await?;
        let owners: Vec<String> = sqlx::query(
            "SELECT platform_id FROM resumes WHERE person_key = $1 AND erased_at IS NULL",
        )
        .bind(person_key.clone())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("platform_id"))
        .collect::<Result<_, _>>()?;
        if owners.is_empty() {
            return Ok(0);
        }
        sqlx::query(
            "UPDATE resumes SET pii = NULL, erased_at = $2, updated_at = $2 \
             WHERE person_key = $1 AND erased_at IS NULL",
        )
        .bind(person_key.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let counted = owners
            .iter()
            .filter(|owner| platform.as_ref().is_none_or(|p| p == *owner))
            .count();
        let event = OutboxEvent::new(
            platform.as_deref().unwrap_or(""),
            now,
            events::person_erased(&person_key, now),
        );
        write_outbox(&mut tx, vec![event], now).await?;
        tx.commit().await?;
        Ok(i64::try_from(counted).unwrap_or(i64::MAX))
    }

    async fn person_resumes(
        &self,
        platform: Option<String>,
        person_key: String,
    ) -> StoreResult<Vec<ResumeRecord>> {
        let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
            "SELECT {RESUME_COLUMNS} FROM resumes WHERE person_key = "
        ));
        builder.push_bind(person_key);
        if let Some(platform) = platform {
            builder.push(" AND platform_id = ");
            builder.push_bind(platform);
        }
        builder.push(" ORDER BY platform_id, external_id");
        let rows = builder.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Self::resume_from_row(row, &self.cipher))
            .collect()
    }

    async fn seal_legacy_free_text(&self) -> StoreResult<usize> {
        let mut sealed = 0;
        loop {
            let mut tx = self.begin().await?;
            let persons: Vec<String> = sqlx::query(AssertSqlSafe(format!(
                "SELECT DISTINCT person_key FROM resumes WHERE {HOLDS_FREE_TEXT} LIMIT {RESEAL_BATCH}"
            )))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("person_key"))
            .collect::<Result<_, _>>()?;
            if persons.is_empty() {
                return Ok(sealed);
            }
            // The persons' locks, as an upsert or an erasure takes them,
            // then their résumés as they are now.
            DB::lock_batched(&mut *tx, persons.iter().map(|p| format!("person:{p}"))).await?;
            let mut builder: QueryBuilder<DB> = QueryBuilder::new(format!(
                "SELECT {RESUME_COLUMNS} FROM resumes WHERE {HOLDS_FREE_TEXT} AND person_key IN ("
            ));
            let mut keys = builder.separated(", ");
            for person in persons {
                keys.push_bind(person);
            }
            builder.push(")");
            let rows = builder.build().fetch_all(&mut *tx).await?;
            for row in &rows {
                let resume = Self::resume_from_row(row, &self.cipher)?;
                Self::save_resume(&mut tx, &self.cipher, &resume, false).await?;
            }
            sealed += rows.len();
            tx.commit().await?;
        }
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
    pub(super) async fn load_resumes(
        tx: &mut Tx<DB>,
        cipher: &Cipher,
        platform: &str,
        ids: &HashSet<String>,
    ) -> StoreResult<HashMap<String, ResumeRecord>> {
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let mut builder = DB::by_external_ids(RESUME_COLUMNS, "resumes", platform, ids);
        for row in builder.build().per_batch().fetch_all(&mut **tx).await? {
            let resume = Self::resume_from_row(&row, cipher)?;
            found.insert(resume.external_id.clone(), resume);
        }
        Ok(found)
    }

    /// Writes a résumé (insert or update), sealing its personal
    /// fields with a fresh nonce.
    async fn save_resume(
        tx: &mut Tx<DB>,
        cipher: &Cipher,
        r: &ResumeRecord,
        insert: bool,
    ) -> StoreResult<()> {
        let (attributes, text) = split(&r.attributes);
        // Erased: neither the personal fields nor the free text are kept.
        let sealed = r
            .personal
            .as_ref()
            .map(|personal| {
                let sealed = Sealed {
                    personal: personal.clone(),
                    text: Some(text),
                };
                cipher.seal(&r.name(), &sealed)
            })
            .transpose()?;
        let sql = if insert {
            "INSERT INTO resumes (platform_id, external_id, person_key, pii, attributes, consent, \
             consent_at, erased_at, revision, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        } else {
            "UPDATE resumes SET person_key = $3, pii = $4, attributes = $5, consent = $6, \
             consent_at = $7, erased_at = $8, revision = $9, updated_at = $11 \
             WHERE platform_id = $1 AND external_id = $2 AND created_at = $10"
        };
        sqlx::query(sql)
            .bind(r.platform_id.clone())
            .bind(r.external_id.clone())
            .bind(r.person_key.clone())
            .bind(sealed)
            .bind(json(&attributes))
            .bind(i64::from(r.consent))
            .bind(r.consent_at)
            .bind(r.erased_at)
            .bind(r.revision)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    fn resume_from_row(row: &DB::Row, cipher: &Cipher) -> StoreResult<ResumeRecord> {
        let platform_id: String = row.try_get("platform_id")?;
        let external_id: String = row.try_get("external_id")?;
        let sealed: Option<Vec<u8>> = row.try_get("pii")?;
        let sealed = sealed
            .map(|bytes| cipher.open::<Sealed>(&resume_name(&platform_id, &external_id), &bytes))
            .transpose()?;
        let attributes: String = row.try_get("attributes")?;
        let mut attributes: ResumeAttributes = serde_json::from_str(&attributes)
            .map_err(|e| anyhow::anyhow!("resume attributes: {e}"))?;
        let personal = match sealed {
            Some(Sealed {
                personal,
                text: Some(text),
            }) => {
                merge(&mut attributes, Some(text))?;
                Some(personal)
            }
            // Sealed before the free text moved in: it is still in the
            // column.
            Some(Sealed {
                personal,
                text: None,
            }) => Some(personal),
            None => {
                merge(&mut attributes, None)?;
                None
            }
        };
        let consent: i64 = row.try_get("consent")?;
        Ok(ResumeRecord {
            platform_id,
            external_id,
            person_key: row.try_get("person_key")?,
            personal,
            attributes,
            consent: consent != 0,
            consent_at: row.try_get("consent_at")?,
            erased_at: row.try_get("erased_at")?,
            revision: row.try_get("revision")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}
