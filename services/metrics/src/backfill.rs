//! Record keys for what a database counted before they existed.
//!
//! The aggregates' key sums need the service's record-key secret, so the
//! migration that adds them cannot fill them in. At start, before serving,
//! the service adds the record keys of every person counted (from their
//! stored contributions in `entity_state`) and of every application
//! counted (`applications.keyed = 0`) to the aggregates, as differences of
//! the key alone (count 0) through the same write path as events
//! (`Tx::apply_deltas`: log, current cells, running totals), then records
//! the instant it finished in `record_keys.complete_at`.
//!
//! Adding a person's keys is idempotent: the difference is between the
//! keys the stored contribution carries and the keys it should carry, so a
//! person already keyed (by a later event, or by another replica starting
//! at the same time) adds nothing. Chunks take the `record_keys` row first,
//! so replicas starting together work one after the other.
//!
//! The logs before `complete_at` hold counts without keys: a perturbed
//! answer as known at an earlier instant cannot be given (`stats` refuses
//! it); exact answers are unaffected.

use std::collections::{BTreeMap, BTreeSet};

use talent_codes as codes;

use crate::{
    disclosure::{self, RecordKeys},
    domain::{self, Amount, Cell, Contribution, kind},
    ingest::PERSON,
    store::Store,
};

/// Entities or applications per transaction.
const CHUNK: i64 = 1_000;

/// Adds the record keys of earlier data when the database needs it;
/// returns `record_keys.complete_at` (0 for a database that counted
/// nothing before).
pub async fn add_record_keys(store: &Store, keys: &RecordKeys) -> anyhow::Result<i64> {
    if let Some(at) = store.record_keys_complete_at().await? {
        return Ok(at);
    }
    tracing::info!("adding record keys to the aggregates of data counted before them");
    let mut after = String::new();
    let mut persons = 0_usize;
    loop {
        let mut tx = store.begin().await?;
        if let Some(at) = tx.lock_record_keys().await? {
            return Ok(at);
        }
        let ids: BTreeSet<String> = tx
            .entity_ids_after(PERSON, &after, CHUNK)
            .await?
            .into_iter()
            .collect();
        let Some(last) = ids.last().cloned() else {
            break;
        };
        let mut deltas = BTreeMap::new();
        let mut changed = Vec::new();
        for (id, stored) in tx.lock_entities(PERSON, &ids).await? {
            let keyed = disclosure::keyed(stored.clone(), keys.of(&id));
            if keyed != stored {
                Contribution::diff_into(&stored, &keyed, &mut deltas);
                changed.push((id, keyed.to_json()));
            }
        }
        let rows: Vec<(&str, &str, String)> = changed
            .iter()
            .map(|(id, json)| (PERSON, id.as_str(), json.clone()))
            .collect();
        tx.save_entities(&rows).await?;
        tx.apply_deltas(&deltas, codes::now_micros()).await?;
        tx.commit().await?;
        persons += ids.len();
        after = last;
    }
    let mut applications = 0_usize;
    loop {
        let mut tx = store.begin().await?;
        if let Some(at) = tx.lock_record_keys().await? {
            return Ok(at);
        }
        let rows = tx.unkeyed_applications(CHUNK).await?;
        if rows.is_empty() {
            let at = codes::now_micros();
            tx.complete_record_keys(at).await?;
            tx.commit().await?;
            tracing::info!(persons, applications, "record keys added");
            return Ok(at);
        }
        let mut deltas: BTreeMap<Cell, Amount> = BTreeMap::new();
        for (id, district, industry, platform, day) in &rows {
            let cell = domain::activity(kind::APPLICATION, *day, district, industry, platform);
            let a = deltas.entry(cell).or_default();
            a.key = a.key.wrapping_add(keys.of(id));
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        tx.mark_applications_keyed(&ids).await?;
        tx.apply_deltas(&deltas, codes::now_micros()).await?;
        tx.commit().await?;
        applications += rows.len();
    }
}

/// A database written before record keys existed, against one that had
/// them from the start, on the back end the test suite runs on.
#[cfg(test)]
mod tests {
    use talent_proto::talent::events::v1::{self as ev, event::Payload};
    use talent_proto::talent::metrics::v1 as pb;
    use talent_server::{ApiError, Db};

    use super::*;
    use crate::disclosure::Protection;
    use crate::domain::projection::{OUTCOME_PROJECTIONS, outcome_dim};
    use crate::ingest::{
        self, IngestSettings,
        tests::{PLATFORM, date, employer, event},
    };
    use crate::stats;
    use crate::store::{
        GatheredDims,
        test_db::{database, migrate},
    };

    /// Runs `$body` with `$p` bound to the pool, for each back end.
    macro_rules! on_pool {
        ($db:expr, $p:ident => $body:expr) => {
            match $db {
                Db::Sqlite($p) => $body,
                Db::Postgres($p) => $body,
            }
        };
    }

    fn person(i: u64) -> String {
        format!("{i:064x}")
    }

    fn at(month: i32) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: 1_735_689_600 + i64::from(month) * 2_592_000,
            nanos: 0,
        }
    }

    fn hire(n: &mut u64, employment: &str, who: u64, district: &str, month: i32) -> ev::Event {
        *n += 1;
        event(
            *n,
            Payload::Hired(ev::Hired {
                employment: format!("platforms/{PLATFORM}/employments/{employment}"),
                person_key: person(who),
                employer_credit_code: employer(),
                workplace_district: district.into(),
                industry: "C39".into(),
                start_date: date(month),
                reporting_platform_id: PLATFORM.into(),
                ..Default::default()
            }),
        )
    }

    fn resume(n: &mut u64, who: u64, revision: i64, degree: i32) -> ev::Event {
        *n += 1;
        event(
            *n,
            Payload::ResumeReceived(ev::ResumeReceived {
                resume: format!("platforms/{PLATFORM}/resumes/r{who}"),
                revision,
                person_key: person(who),
                first_received_at: Some(at(1 + (who % 5) as i32)),
                statistical_use_consent: true,
                attributes: Some(ev::ResumeAttributes {
                    education: vec![ev::EducationFacts {
                        degree_level: degree,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
        )
    }

    fn application(n: &mut u64, id: u64) -> ev::Event {
        *n += 1;
        event(
            *n,
            Payload::ApplicationSubmitted(ev::ApplicationSubmitted {
                application: format!("platforms/{PLATFORM}/applications/a{id}"),
                resume: format!("platforms/{PLATFORM}/resumes/r{id}"),
                posting: format!("platforms/{PLATFORM}/postings/x{}", id % 3),
                workplace_district: "370212".into(),
                industry: "C39".into(),
                submit_time: Some(at(1 + (id % 4) as i32)),
                ..Default::default()
            }),
        )
    }

    /// Persons hired in and outside the city, with résumés and roster rows,
    /// some separated, and applications.
    fn history(n: &mut u64) -> (Vec<ev::Event>, Vec<pb::GraduateRosterRow>) {
        let mut events = Vec::new();
        for i in 0..40 {
            let district = ["370212", "370211", "110101"][(i % 3) as usize];
            events.push(hire(n, &format!("e{i}"), i, district, 1 + (i % 6) as i32));
            events.push(resume(n, i, 1, 2 + (i % 4) as i32));
            events.push(application(n, i));
        }
        for i in 0..10 {
            *n += 1;
            events.push(event(
                *n,
                Payload::Separated(ev::Separated {
                    employment: format!("platforms/{PLATFORM}/employments/e{i}"),
                    person_key: person(i),
                    end_date: date(8),
                    revision: 1,
                }),
            ));
        }
        let roster = (0..20)
            .map(|i| pb::GraduateRosterRow {
                person: Some(pb::graduate_roster_row::Person::PersonKey(person(i))),
                university_code: "4137010001".into(),
                university_name: "U".into(),
                degree_level: 3,
                discipline: 8,
                graduation_date: date(6),
                ..Default::default()
            })
            .collect();
        (events, roster)
    }

    /// Takes the record keys out, as migration 0004 leaves a database
    /// written before it: key sums 0, contributions without keys,
    /// applications not keyed, `complete_at` unset.
    async fn strip(db: &Db) {
        let mut sql: Vec<String> = [
            "agg_gathered_log",
            "agg_gathered_now",
            "agg_gathered_roll",
            "agg_outcome_log",
            "agg_outcome_now",
            "agg_outcome_roll",
            "agg_activity_log",
            "agg_activity_now",
            "agg_distinct_log",
            "agg_distinct_now",
        ]
        .iter()
        .map(|t| format!("UPDATE {t} SET key_sum = 0"))
        .collect();
        sql.push("UPDATE applications SET keyed = 0".into());
        sql.push("UPDATE record_keys SET complete_at = NULL".into());
        let select = "SELECT id, contribution FROM entity_state WHERE kind = 'person'";
        let persons: Vec<(String, String)> = on_pool!(db, p => {
            for s in &sql {
                sqlx::query(sqlx::AssertSqlSafe(s.clone())).execute(p).await.unwrap();
            }
            sqlx::query_as(select).fetch_all(p).await.unwrap()
        });
        assert!(persons.len() >= 40, "{}", persons.len());
        for (id, json) in persons {
            let mut c = Contribution::from_json(&json).unwrap();
            for a in c.0.values_mut() {
                a.key = 0;
            }
            let update =
                "UPDATE entity_state SET contribution = $1 WHERE kind = 'person' AND id = $2";
            on_pool!(db, p => {
                sqlx::query(update)
                    .bind(c.to_json())
                    .bind(&id)
                    .execute(p)
                    .await
                    .unwrap();
            });
        }
    }

    /// What the queries read from a database, with key sums modulo 2³² and
    /// empty rows dropped: current cells, the logs summed as known now, and
    /// the running totals of outcomes.
    async fn everything(store: &Store) -> Vec<String> {
        let (start, end) = (
            codes::day_of_date(2000, 1, 1).unwrap(),
            codes::day_of_date(2100, 1, 1).unwrap(),
        );
        let all = GatheredDims {
            district: true,
            industry: true,
            platform: true,
        };
        let key = |k: i64| k.rem_euclid(disclosure::KEY_MODULUS);
        let now = codes::now_micros();
        let mut out = Vec::new();
        for known in [None, Some(now)] {
            let from = if known.is_some() { "log" } else { "now" };
            for r in store
                .gathered_rows(start, end, true, all, known)
                .await
                .unwrap()
            {
                if (r.5, key(r.6)) != (0, 0) {
                    out.push(format!(
                        "{from} g {:?} {}",
                        (r.0, r.1, r.2, r.3, r.4, r.5),
                        key(r.6)
                    ));
                }
            }
            for r in store.activity_rows(start, end, true, known).await.unwrap() {
                if (r.6, r.7, key(r.8)) != (0, 0, 0) {
                    out.push(format!(
                        "{from} a {:?} {}",
                        (&r.0, r.1, &r.2, &r.3, &r.4, r.5, r.6, r.7),
                        key(r.8)
                    ));
                }
            }
            for r in store.distinct_rows(start, end, known).await.unwrap() {
                out.push(format!(
                    "{from} d {:?} {}",
                    (&r.0, &r.1, r.2, &r.3, &r.4, &r.5, r.6),
                    key(r.7)
                ));
            }
            for as_of in [date(5), date(7), date(9)] {
                let day = codes::check_date(as_of.as_ref(), 1900..=2100).unwrap();
                let mut projections = vec![outcome_dim::ALL];
                if known.is_none() {
                    projections.extend(OUTCOME_PROJECTIONS);
                }
                for dims in projections {
                    let rows = store.outcome_rows(2025, day, known, dims).await.unwrap();
                    for r in rows.rows {
                        if (r.6, key(r.7)) != (0, 0) {
                            out.push(format!(
                                "{from} o {day} {dims} {:?} {}",
                                (&r.0, r.1, r.2, &r.3, &r.4, r.5, r.6),
                                key(r.7)
                            ));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Keys issued before protections existed: READ keys (whatever their
    /// threshold) become PERTURBED, OPERATOR keys EXACT; a database that
    /// counted persons waits for its keys, an empty one does not.
    #[tokio::test]
    async fn the_migration_makes_old_read_keys_perturbed() {
        for counted in [false, true] {
            let (db, _guard) = database().await;
            migrate(&db, Some(3)).await;
            let keys = "INSERT INTO api_keys (id, kind, display_name, key_hash, secret_prefix, \
                        disclosure_threshold, created_at) VALUES \
                        ('r5', 'READ', 'bureau', 'h1', 'tlm_', 5, 1), \
                        ('r10', 'READ', 'press', 'h2', 'tlm_', 10, 2), \
                        ('o', 'OPERATOR', 'ops', 'h3', 'tlm_', 0, 3), \
                        ('i', 'INGEST', 'relay', 'h4', 'tlm_', 0, 4)";
            let person = "INSERT INTO entity_state (kind, id, contribution) \
                          VALUES ('person', 'p', '[]')";
            on_pool!(&db, p => {
                sqlx::query(keys).execute(p).await.unwrap();
                if counted {
                    sqlx::query(person).execute(p).await.unwrap();
                }
            });
            migrate(&db, None).await;
            let read = "SELECT id, protection FROM api_keys ORDER BY created_at";
            let rows: Vec<(String, String)> =
                on_pool!(&db, p => sqlx::query_as(read).fetch_all(p).await.unwrap());
            assert_eq!(
                rows,
                [
                    ("r5", "PERTURBED"),
                    ("r10", "PERTURBED"),
                    ("o", "EXACT"),
                    ("i", "")
                ]
                .map(|(a, b)| (a.to_string(), b.to_string()))
            );
            let store = Store::new(db.clone());
            let pending = store.record_keys_complete_at().await.unwrap();
            assert_eq!(pending, if counted { None } else { Some(0) });
            db.close().await;
        }
    }

    /// Fails with the lines one side has and the other lacks.
    fn assert_same(got: &[String], want: &[String]) {
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        assert!(
            extra.is_empty() && missing.is_empty() && got.len() == want.len(),
            "extra {extra:#?}\nmissing {missing:#?}"
        );
    }

    #[tokio::test]
    async fn data_counted_before_record_keys_ends_with_the_keys_it_would_have_had() {
        let settings = IngestSettings {
            person_key_secret: "test".into(),
            city_prefix: "3702".into(),
            record_keys: RecordKeys::new("test record keys"),
        };
        let keys = &settings.record_keys;
        let (fresh_db, _fresh) = database().await;
        let (old_db, _old) = database().await;
        let (fresh, old) = (Store::new(fresh_db.clone()), Store::new(old_db.clone()));
        for db in [&fresh_db, &old_db] {
            migrate(db, None).await;
        }
        let mut n = 0;
        let (events, roster) = history(&mut n);
        // Then, after the upgrade but before the service's first start
        // adds the keys (another replica already serving): a tier change,
        // a move, a new person and a new application.
        let later = vec![
            resume(&mut n, 1, 2, 5),
            hire(&mut n, "e2b", 2, "370203", 9),
            hire(&mut n, "e50", 50, "370212", 9),
            resume(&mut n, 50, 1, 4),
            application(&mut n, 100),
        ];
        for store in [&fresh, &old] {
            ingest::publish(store, &settings, &events).await.unwrap();
            ingest::import_roster(store, &settings, roster.clone(), 0)
                .await
                .unwrap();
        }
        strip(&old_db).await;
        let stripped = everything(&old).await;
        for store in [&fresh, &old] {
            ingest::publish(store, &settings, &later).await.unwrap();
        }
        assert_eq!(add_record_keys(&fresh, keys).await.unwrap(), 0);

        let before = codes::now_micros();
        let complete_at = add_record_keys(&old, keys).await.unwrap();
        assert!(complete_at >= before, "{complete_at} < {before}");
        let want = everything(&fresh).await;
        assert_ne!(stripped, want, "the keys were taken out");
        assert_same(&everything(&old).await, &want);
        // A second start finds nothing to do.
        assert_eq!(add_record_keys(&old, keys).await.unwrap(), complete_at);
        assert_same(&everything(&old).await, &want);
        // Perturbed answers as known before the keys were complete are
        // refused (their logs have no keys); exact ones are not.
        let table = disclosure::PerturbationTable::new(3).unwrap();
        let viewer = |protection| stats::Viewer {
            protection,
            table: &table,
            keys_complete_at: complete_at,
        };
        let period = |known: i64| pb::GetTalentGatheredRequest {
            period: Some(talent_proto::talent::r#type::v1::Period {
                start_date: date(1),
                end_date: Some(talent_proto::google::r#type::Date {
                    year: 2026,
                    month: 1,
                    day: 1,
                }),
            }),
            as_known_at: Some(codes::timestamp_of_micros(known)),
            ..Default::default()
        };
        let early = period(complete_at - 1);
        match stats::talent_gathered(&old, viewer(Protection::Perturbed), &early).await {
            Err(ApiError::InvalidArgument(v)) => {
                let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["as_known_at"]);
            }
            other => panic!("{other:?}"),
        }
        let exact = stats::talent_gathered(&old, viewer(Protection::Exact), &early)
            .await
            .unwrap();
        assert!(exact.total.unwrap().talents_gathered.unwrap().value > 0);
        stats::talent_gathered(&old, viewer(Protection::Perturbed), &period(complete_at))
            .await
            .unwrap();
        // Every key sum is in [0, 2³²) in the current cells.
        let out_of_range = "SELECT COUNT(*) FROM agg_outcome_now \
                            WHERE key_sum < 0 OR key_sum >= 4294967296";
        let bad: i64 = on_pool!(&old_db, p => sqlx::query_scalar(out_of_range)
            .fetch_one(p)
            .await
            .unwrap());
        assert_eq!(bad, 0);
        fresh_db.close().await;
        old_db.close().await;
    }
}
