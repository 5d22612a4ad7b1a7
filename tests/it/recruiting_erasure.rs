//! A résumé's free text at rest: sealed with the personal fields (nowhere in
//! the raw database), readable through the API, gone after `ErasePerson`,
//! and sealed at start when an older database holds it in the clear.

use crate::support;

use sqlx::Row;
use support::{
    TestApp,
    recruiting::{ADMIN_KEY, TestPlatform, authed},
};
use talent_proto::{
    google::r#type::Date,
    talent::{recruiting::v1 as pb, r#type::v1 as types},
};
use talent_recruiting::pii::{Cipher, Personal};
use talent_server::Backend;

const ID_1: &str = "37020219980315108x";
const ID_2: &str = "370202199901011232";
const MAJOR: &str = "Zyxwvut Studies";
const UNIVERSITY: &str = "Qwertyuiop University";
/// A desired district and industry, as the JSON of a stored list writes
/// them (quoted, so that they are not found by chance in other bytes).
const DISTRICT: &str = "370281";
const INDUSTRY: &str = "I65";
/// Held in the clear on purpose: shows the scan reads the résumé's row.
const UNIVERSITY_CODE: &str = "4137010426";

/// What must not be found in the clear.
fn secrets() -> Vec<String> {
    vec![
        MAJOR.to_owned(),
        UNIVERSITY.to_owned(),
        format!("\"{DISTRICT}\""),
        format!("\"{INDUSTRY}\""),
    ]
}

fn resume(external_id: &str, id: &str) -> pb::Resume {
    pb::Resume {
        external_id: external_id.to_owned(),
        resident_id_number: id.to_owned(),
        full_name: "王秘密".to_owned(),
        education: vec![pb::EducationEntry {
            degree_level: types::DegreeLevel::Master as i32,
            university_code: UNIVERSITY_CODE.into(),
            university_name: UNIVERSITY.into(),
            discipline: types::Discipline::Engineering as i32,
            major: MAJOR.into(),
            graduation_date: Some(Date {
                year: 2023,
                month: 6,
                day: 30,
            }),
        }],
        desired_districts: vec![DISTRICT.into()],
        desired_industries: vec![INDUSTRY.into()],
        statistical_use_consent: true,
        ..Default::default()
    }
}

async fn client(
    app: &TestApp,
) -> pb::resume_service_client::ResumeServiceClient<tonic::transport::Channel> {
    pb::resume_service_client::ResumeServiceClient::new(app.recruiting_channel().await)
}

async fn push(app: &TestApp, p: &TestPlatform, resumes: Vec<pb::Resume>) {
    let mut responses = client(app)
        .await
        .upsert_resumes(authed(
            tokio_stream::iter([pb::UpsertResumesRequest { resumes }]),
            &p.key,
        ))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    for result in response.results {
        assert_eq!(result.outcome(), pb::UpsertOutcome::Created, "{result:?}");
    }
}

async fn get(app: &TestApp, p: &TestPlatform, external_id: &str) -> pb::Resume {
    client(app)
        .await
        .get_resume(authed(
            pb::GetResumeRequest {
                name: format!("platforms/{}/resumes/{external_id}", p.id),
            },
            &p.key,
        ))
        .await
        .unwrap()
        .into_inner()
        .resume
        .unwrap()
}

async fn export(app: &TestApp, key: &str, id: &str) -> pb::ExportPersonResponse {
    client(app)
        .await
        .export_person(authed(
            pb::ExportPersonRequest {
                person: Some(pb::export_person_request::Person::ResidentIdNumber(
                    id.into(),
                )),
            },
            key,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn erase(app: &TestApp, id: &str) {
    client(app)
        .await
        .erase_person(authed(
            pb::ErasePersonRequest {
                person: Some(pb::erase_person_request::Person::ResidentIdNumber(
                    id.into(),
                )),
                reason: "ticket 25".into(),
            },
            ADMIN_KEY,
        ))
        .await
        .unwrap();
}

fn assert_has_free_text(r: &pb::Resume) {
    assert_eq!(r.education[0].major, MAJOR);
    assert_eq!(r.education[0].university_name, UNIVERSITY);
    assert_eq!(r.desired_districts, [DISTRICT]);
    assert_eq!(r.desired_industries, [INDUSTRY]);
}

fn assert_no_free_text(r: &pb::Resume) {
    assert!(r.erased);
    assert_eq!(r.education.len(), 1, "the statistical attributes stay");
    assert_eq!(r.education[0].university_code, UNIVERSITY_CODE);
    assert_eq!(r.education[0].degree_level(), types::DegreeLevel::Master);
    assert_eq!(r.education[0].major, "");
    assert_eq!(r.education[0].university_name, "");
    assert!(r.desired_districts.is_empty() && r.desired_industries.is_empty());
}

/// Which of `needles` occur anywhere in the recruiting database as stored:
/// on SQLite the bytes of the database file, its WAL and its shared
/// memory after a checkpoint; on PostgreSQL every text and bytea value of
/// every table.
async fn found_in_database(app: &TestApp, needles: &[String]) -> Vec<String> {
    let url = app.recruiting_database_url();
    let mut haystacks: Vec<Vec<u8>> = Vec::new();
    match app.backend {
        Backend::Sqlite => {
            let url = url.split_once('?').map_or(url, |(base, _)| base);
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await
                .unwrap();
            let path = url.trim_start_matches("sqlite://");
            for file in [
                path.to_owned(),
                format!("{path}-wal"),
                format!("{path}-shm"),
            ] {
                if let Ok(bytes) = std::fs::read(&file) {
                    haystacks.push(bytes);
                }
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let columns = sqlx::query(
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb')",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(!columns.is_empty());
            for column in columns {
                let (table, name, kind): (String, String, String) =
                    (column.get("t"), column.get("c"), column.get("d"));
                let value = if kind == "bytea" {
                    format!("\"{name}\"")
                } else {
                    format!("convert_to(\"{name}\"::text, 'UTF8')")
                };
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {value} AS v FROM \"{table}\" WHERE \"{name}\" IS NOT NULL"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                haystacks.extend(rows.iter().map(|r| r.get::<Vec<u8>, _>("v")));
            }
            pool.close().await;
        }
    }
    needles
        .iter()
        .filter(|needle| {
            let needle = needle.as_bytes();
            haystacks
                .iter()
                .any(|h| h.windows(needle.len()).any(|w| w == needle))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn free_text_is_sealed_at_rest_and_gone_after_erasure() {
    let app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    push(&app, &a, vec![resume("r-1", ID_1)]).await;

    // Readable through the API, decrypted.
    assert_has_free_text(&get(&app, &a, "r-1").await);
    let exported = export(&app, &a.key, ID_1).await;
    assert_has_free_text(&exported.resumes[0]);
    for text in [MAJOR, UNIVERSITY] {
        assert!(exported.json.contains(text), "{}", exported.json);
    }
    assert_has_free_text(&export(&app, ADMIN_KEY, ID_1).await.resumes[0]);

    // Stored only encrypted; the statistical university code in the clear.
    let mut needles = secrets();
    needles.push(UNIVERSITY_CODE.to_owned());
    assert_eq!(
        found_in_database(&app, &needles).await,
        [UNIVERSITY_CODE],
        "the free text is stored only encrypted"
    );

    erase(&app, ID_1).await;
    assert_no_free_text(&get(&app, &a, "r-1").await);
    let exported = export(&app, ADMIN_KEY, ID_1).await;
    assert_no_free_text(&exported.resumes[0]);
    for text in [MAJOR, UNIVERSITY] {
        assert!(!exported.json.contains(text), "{}", exported.json);
    }
    assert_eq!(
        found_in_database(&app, &needles).await,
        [UNIVERSITY_CODE],
        "erasure leaves no copy of the free text"
    );
    app.stop().await;
}

/// Runs `sql` (one row; binds `attributes` and `pii`) on the recruiting
/// database.
async fn raw_update(app: &TestApp, sql: &'static str, attributes: String, pii: Option<Vec<u8>>) {
    let url = app.recruiting_database_url();
    match app.backend {
        Backend::Sqlite => {
            let url = url.split_once('?').map_or(url, |(base, _)| base);
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let done = sqlx::query(sql)
                .bind(attributes)
                .bind(pii)
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let done = sqlx::query(sql)
                .bind(attributes)
                .bind(pii)
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
    }
}

/// The `attributes` column as it was written before the free text was
/// sealed: everything in the clear.
fn legacy_attributes() -> String {
    serde_json::json!({
        "education": [{
            "degree_level": types::DegreeLevel::Master as i32,
            "university_code": UNIVERSITY_CODE,
            "university_name": UNIVERSITY,
            "discipline": types::Discipline::Engineering as i32,
            "major": MAJOR,
            "graduation": [2023, 6, 30],
        }],
        "title_level": 0,
        "skill_level": 0,
        "desired_districts": [DISTRICT],
        "desired_industries": [INDUSTRY],
    })
    .to_string()
}

#[tokio::test]
async fn free_text_stored_in_the_clear_is_sealed_at_start() {
    let mut app = TestApp::spawn().await;
    let a = app.create_platform("a").await;
    push(&app, &a, vec![resume("r-1", ID_1), resume("r-2", ID_2)]).await;
    erase(&app, ID_2).await;
    app.stop_recruiting().await;

    // What an older version stored: the free text in the clear beside the
    // personal fields sealed alone (r-1), or beside nothing (r-2, erased).
    let key: [u8; 32] = std::array::from_fn(|i| {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()
    });
    let old_pii = Cipher::new(&key)
        .seal(
            "platforms/a/resumes/r-1",
            &Personal {
                resident_id_number: ID_1.to_uppercase(),
                full_name: "王秘密".into(),
                ..Default::default()
            },
        )
        .unwrap();
    raw_update(
        &app,
        "UPDATE resumes SET attributes = $1, pii = $2 WHERE external_id = 'r-1'",
        legacy_attributes(),
        Some(old_pii),
    )
    .await;
    raw_update(
        &app,
        "UPDATE resumes SET attributes = $1, pii = $2 WHERE external_id = 'r-2'",
        legacy_attributes(),
        None,
    )
    .await;
    assert_eq!(found_in_database(&app, &secrets()).await, secrets());

    app.start_recruiting().await;
    assert_eq!(
        found_in_database(&app, &secrets()).await,
        Vec::<String>::new(),
        "the free text was sealed at start"
    );
    let r1 = get(&app, &a, "r-1").await;
    assert_has_free_text(&r1);
    assert_eq!(r1.full_name, "王秘密");
    assert_no_free_text(&get(&app, &a, "r-2").await);

    // Sealed once: a second start has nothing left to do, and changes
    // nothing.
    app.restart_recruiting().await;
    assert_has_free_text(&get(&app, &a, "r-1").await);
    app.stop().await;
}
