//! Scenario 1 (postings ingest) and the recruiting half of scenario 5
//! (its peak RSS during scenario 1).
//!
//! The benchmark process is the client; the `recruiting` binary runs as a
//! child process on a fresh database. After a few hundred employers are
//! upserted (not timed), N postings are pushed through one
//! `UpsertPostings` stream, 1,000 postings a message, a few messages in
//! flight: first as new postings, then every posting again with its
//! headcount changed (all conflicting; a changed fact, so the service also
//! writes a `PostingUpdated` event for each).
//!
//! The baseline, in the same run: a fresh database with the recruiting
//! service's own migrations, the same rows upserted directly into its
//! `postings` table from this process, 1,000 rows a statement (multi-row
//! VALUES on SQLite, UNNEST on PostgreSQL), each statement its own
//! committed transaction, with the durability the service runs with. The
//! floor rows add, in the same transaction, one outbox row per posting
//! (payloads of the size the service wrote, ids in time order as the
//! service's are), which the service must also write (its outbox
//! invariant).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use sqlx::{ColumnIndex, Executor, Pool, Postgres, QueryBuilder, Sqlite};
use talent_proto::talent::recruiting::v1::{
    self as pb, posting_service_client::PostingServiceClient,
};
use talent_recruiting::store::{
    POSTING_COLUMNS as COLUMNS, POSTING_UPSERT_TAIL as UPSERT_TAIL, pg_posting_insert,
};
use talent_server::{Column, Db, Sql};
use tokio_stream::wrappers::ReceiverStream;

use crate::recruiting::{Recruiting, employer_code, with_key};
use crate::service::Databases;
use crate::table::{Row, Status};

/// Postings a request message (and a baseline statement) carries.
const BATCH: usize = 1000;
/// Employers the postings belong to.
const EMPLOYERS: u64 = 300;
/// Request messages in flight on the stream.
const IN_FLIGHT: usize = 4;
const TARGET: &str = "≥ 0.7 × direct batch upsert";
const RSS_TARGET_MB: f64 = 150.0;

const TITLES: [&str; 40] = [
    "Java 开发工程师",
    "Rust 开发工程师",
    "前端开发工程师",
    "测试工程师",
    "运维工程师",
    "数据分析师",
    "算法工程师",
    "产品经理",
    "UI 设计师",
    "销售代表",
    "客户经理",
    "会计",
    "出纳",
    "人力资源专员",
    "行政助理",
    "机械工程师",
    "电气工程师",
    "工艺工程师",
    "质量工程师",
    "采购专员",
    "仓库管理员",
    "物流专员",
    "司机",
    "厨师",
    "服务员",
    "店长",
    "护士",
    "药剂师",
    "教师",
    "翻译",
    "Marketing Specialist",
    "Sales Engineer",
    "Embedded Software Engineer",
    "Data Engineer",
    "Mechanical Designer",
    "Customer Service Representative",
    "Financial Analyst",
    "Project Manager",
    "Network Administrator",
    "Technical Writer",
];
const LEVELS: [&str; 3] = ["", "高级", "资深"];
const DISTRICTS: [&str; 10] = [
    "370202", "370203", "370211", "370212", "370213", "370214", "370215", "370281", "370283",
    "370285",
];
const INDUSTRIES: [&str; 10] = [
    "C39", "I64", "I65", "M73", "F52", "G59", "K70", "P83", "Q84", "C36",
];
const OCCUPATIONS: [&str; 6] = [
    "2-02-10-03",
    "2-02-10-09",
    "4-01-02-01",
    "2-06-07-02",
    "6-18-01-01",
    "4-03-01-02",
];
const TAGS: [&str; 12] = [
    "五险一金",
    "双休",
    "包住宿",
    "年终奖",
    "带薪年假",
    "弹性工作",
    "交通补贴",
    "餐补",
    "定期体检",
    "股票期权",
    "应届生",
    "可远程",
];
const SENTENCES: [&str; 8] = [
    "负责公司核心业务系统的设计、开发与维护，参与需求分析和技术方案评审。",
    "Work with the team on requirements, design reviews and delivery of features on schedule.",
    "具有良好的沟通能力和团队合作精神，能够承受一定的工作压力。",
    "熟悉行业相关法规和标准，有相关工作经验者优先。",
    "We offer training, a clear career path and a friendly working environment in Qingdao.",
    "工作地点在青岛市，交通便利，公司提供完善的薪酬福利体系。",
    "Responsible for quality, safety and continuous improvement of the processes you own.",
    "本科及以上学历，专业不限，欢迎优秀应届毕业生投递简历。",
];

/// A deterministic mix of `i`'s bits (SplitMix64), to pick field values.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<T: Copy>(list: &[T], h: u64, shift: u32) -> T {
    list[((h >> shift) % list.len() as u64) as usize]
}

/// Posting `i` as a platform pushes it; `pass` 1 is the first push, pass
/// 2 the same posting with one more head. `base` is the publish time of
/// the oldest posting (seconds).
fn posting(i: u64, pass: i32, base: i64) -> pb::Posting {
    let h = mix(i);
    let title = format!("{}{}", pick(&LEVELS, h, 0), pick(&TITLES, h, 4));
    let description: String = (0..5).map(|k| pick(&SENTENCES, h, 12 + 3 * k)).collect();
    let min = 4000 + ((h >> 30) % 40) as i32 * 500;
    let publish = base + (h >> 36) as i64 % (15 * 86_400);
    let tags = (0..3)
        .map(|k| pick(&TAGS, h, 44 + 4 * k).to_owned())
        .collect::<Vec<_>>();
    pb::Posting {
        external_id: format!("bench-{i:09}"),
        title,
        description,
        employer_credit_code: employer_code(i % EMPLOYERS),
        workplace_district: pick(&DISTRICTS, h, 8).into(),
        industry: pick(&INDUSTRIES, h, 20).into(),
        occupation_code: pick(&OCCUPATIONS, h, 24).into(),
        minimum_degree_level: ((h >> 27) % 5) as i32,
        experience_years: ((h >> 56) % 8) as i32,
        salary: Some(pb::MonthlySalaryRange {
            min_cny: min,
            max_cny: min + 2000 + ((h >> 60) % 8) as i32 * 1000,
        }),
        headcount: 1 + ((h >> 52) % 10) as i32 + (pass - 1),
        employment_type: 1 + ((h >> 58) % 3) as i32,
        publish_time: Some(prost_types::Timestamp {
            seconds: publish,
            nanos: 0,
        }),
        expire_time: Some(prost_types::Timestamp {
            seconds: publish + 30 * 86_400,
            nanos: 0,
        }),
        tags,
        ..Default::default()
    }
}

/// One posting as a row of the `postings` table (25 columns), for the
/// baseline.
struct PostingRow {
    external_id: String,
    title: String,
    title_key: String,
    description: String,
    employer_code: String,
    district: String,
    industry: String,
    occupation: String,
    min_degree: i64,
    experience_years: i64,
    salary_min: Option<i64>,
    salary_max: Option<i64>,
    headcount: i64,
    employment_type: i64,
    publish_at: i64,
    expire_at: i64,
    fair_id: Option<String>,
    tags: String,
    opening_id: String,
    revision: i64,
    now: i64,
}

fn micros(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref()
        .and_then(|t| talent_codes::micros(t).ok())
        .unwrap_or(0)
}

impl PostingRow {
    fn of(i: u64, p: pb::Posting, revision: i64, now: i64) -> Self {
        Self {
            title_key: talent_recruiting::domain::openings::normalised_title(&p.title),
            opening_id: format!("00000000-0000-4000-8000-{i:012x}"),
            publish_at: micros(&p.publish_time),
            expire_at: micros(&p.expire_time),
            tags: serde_json::to_string(&p.tags).unwrap_or_default(),
            salary_min: p.salary.map(|s| i64::from(s.min_cny)),
            salary_max: p.salary.map(|s| i64::from(s.max_cny)),
            external_id: p.external_id,
            title: p.title,
            description: p.description,
            employer_code: p.employer_credit_code,
            district: p.workplace_district,
            industry: p.industry,
            occupation: p.occupation_code,
            min_degree: i64::from(p.minimum_degree_level),
            experience_years: i64::from(p.experience_years),
            headcount: i64::from(p.headcount),
            employment_type: i64::from(p.employment_type),
            fair_id: None,
            revision,
            now,
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What one timed pass measured.
struct Pass {
    rows: u64,
    elapsed: Duration,
}

impl Pass {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }
}

/// Pushes `messages` through one `UpsertPostings` stream and checks every
/// result is `expect`; the time from the first message sent to the last
/// answer received.
async fn push(
    service: &Recruiting,
    key: &str,
    messages: Vec<pb::UpsertPostingsRequest>,
    expect: pb::UpsertOutcome,
) -> anyhow::Result<Pass> {
    let mut client = PostingServiceClient::new(service.connect().await?)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let count = messages.len();
    let rows = messages.iter().map(|m| m.postings.len() as u64).sum();
    let (sender, receiver) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let began = Instant::now();
    let feeder = tokio::spawn(async move {
        for message in messages {
            if sender.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut answers = client
        .upsert_postings(with_key(ReceiverStream::new(receiver), key))
        .await
        .context("UpsertPostings")?
        .into_inner();
    let mut answered = 0;
    while let Some(response) = answers.message().await.context("UpsertPostings answer")? {
        if let Some(bad) = response.results.iter().find(|r| r.outcome() != expect) {
            bail!("a posting was not {expect:?}: {bad:?}");
        }
        answered += 1;
    }
    let elapsed = began.elapsed();
    feeder.await?;
    ensure!(answered == count, "{answered} answers to {count} messages");
    Ok(Pass { rows, elapsed })
}

fn messages(n: u64, pass: i32, base: i64) -> Vec<pb::UpsertPostingsRequest> {
    let all: Vec<u64> = (0..n).collect();
    all.chunks(BATCH)
        .map(|chunk| pb::UpsertPostingsRequest {
            postings: chunk.iter().map(|&i| posting(i, pass, base)).collect(),
        })
        .collect()
}

fn rows(n: u64, pass: i32, base: i64, now: i64) -> Vec<Vec<PostingRow>> {
    let all: Vec<u64> = (0..n).collect();
    all.chunks(BATCH)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&i| PostingRow::of(i, posting(i, pass, base), i64::from(pass), now))
                .collect()
        })
        .collect()
}

/// Outbox rows of the floor: (event id, payload).
fn outbox_rows(first: u64, count: usize, payload_len: usize) -> Vec<(i64, String, Vec<u8>)> {
    (0..count as u64)
        .map(|k| {
            let seq = first + k;
            let payload = (0..payload_len)
                .map(|b| (mix(seq * 7919 + b as u64) & 0xff) as u8)
                .collect();
            (
                seq as i64,
                // In time order, as the service's UUIDv7 ids are.
                format!("00000000-0000-7000-8000-{seq:012x}"),
                payload,
            )
        })
        .collect()
}

/// The baseline database: the service's schema, the platform and the
/// employers the postings refer to.
async fn baseline_db(dbs: &mut Databases, name: &str, platform: &str) -> anyhow::Result<Db> {
    let url = dbs.create(name).await?;
    let db = Db::connect(&url, 1, talent_recruiting::MIGRATIONS).await?;
    let now = now_secs() * 1_000_000;
    let codes: Vec<String> = (0..EMPLOYERS).map(employer_code).collect();
    match &db {
        Db::Sqlite(pool) => seed(pool, platform, &codes, now).await?,
        Db::Postgres(pool) => seed(pool, platform, &codes, now).await?,
    }
    Ok(db)
}

async fn seed<DB: Sql>(
    pool: &Pool<DB>,
    platform: &str,
    codes: &[String],
    now: i64,
) -> anyhow::Result<()>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    String: Column<DB>,
    i64: Column<DB>,
{
    sqlx::query("INSERT INTO platforms (id, display_name, created_at) VALUES ($1, $2, $3)")
        .bind(platform.to_owned())
        .bind("bench".to_owned())
        .bind(now)
        .execute(pool)
        .await?;
    let mut b = QueryBuilder::new(
        "INSERT INTO employers (credit_code, display_name, district, industry, size, \
         field_sources, created_at, updated_at) ",
    );
    b.push_values(codes, |mut r, code| {
        r.push_bind(code.clone())
            .push_bind("employer".to_owned())
            .push_bind("370202".to_owned())
            .push_bind("I64".to_owned())
            .push_bind(0i64)
            .push_bind("{}".to_owned())
            .push_bind(now)
            .push_bind(now);
    });
    b.build().execute(pool).await?;
    Ok(())
}

/// The durability the database runs with, as it reports it.
async fn durability(db: &Db) -> anyhow::Result<String> {
    match db {
        Db::Sqlite(pool) => Sqlite::durability(pool).await,
        Db::Postgres(pool) => Postgres::durability(pool).await,
    }
}

/// Upserts `batches` directly, each batch one statement (plus, with
/// `outbox_payload`, one multi-row outbox insert) in its own transaction.
async fn direct(
    db: &Db,
    platform: &str,
    batches: Vec<Vec<PostingRow>>,
    outbox_payload: Option<(u64, usize)>,
) -> anyhow::Result<Pass> {
    match db {
        Db::Sqlite(pool) => direct_on(pool, platform, batches, outbox_payload).await,
        Db::Postgres(pool) => direct_on(pool, platform, batches, outbox_payload).await,
    }
}

async fn direct_on<DB: Baseline>(
    pool: &Pool<DB>,
    platform: &str,
    batches: Vec<Vec<PostingRow>>,
    outbox_payload: Option<(u64, usize)>,
) -> anyhow::Result<Pass> {
    let rows = batches.iter().map(|b| b.len() as u64).sum();
    let mut seq = outbox_payload.map_or(0, |(first, _)| first);
    let began = Instant::now();
    for batch in batches {
        let outbox = outbox_payload.map(|(_, len)| outbox_rows(seq, batch.len(), len));
        seq += batch.len() as u64;
        DB::upsert(pool, platform, batch, outbox).await?;
    }
    Ok(Pass {
        rows,
        elapsed: began.elapsed(),
    })
}

/// One outbox row of the floor: (seq, event id, payload).
type OutboxRow = (i64, String, Vec<u8>);

/// The baseline's statements on each back end: the cheapest form of what
/// the service writes there.
trait Baseline: Sql {
    fn durability(pool: &Pool<Self>) -> impl Future<Output = anyhow::Result<String>> + Send;

    /// Upserts `batch` in one statement (and appends `outbox` in a second),
    /// in one committed transaction.
    fn upsert(
        pool: &Pool<Self>,
        platform: &str,
        batch: Vec<PostingRow>,
        outbox: Option<Vec<OutboxRow>>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl Baseline for Sqlite {
    async fn durability(pool: &Pool<Self>) -> anyhow::Result<String> {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await?;
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await?;
        let sync = match sync {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            3 => "EXTRA",
            _ => "?",
        };
        Ok(format!("SQLite journal_mode={mode}, synchronous={sync}"))
    }

    async fn upsert(
        pool: &Pool<Self>,
        platform: &str,
        batch: Vec<PostingRow>,
        outbox: Option<Vec<OutboxRow>>,
    ) -> anyhow::Result<()> {
        let mut tx = pool.begin().await?;
        let mut b = sqlx::QueryBuilder::new(format!("INSERT INTO postings ({COLUMNS}) "));
        b.push_values(batch, |mut r, p| {
            r.push_bind(platform.to_owned())
                .push_bind(p.external_id)
                .push_bind(p.title)
                .push_bind(p.title_key)
                .push_bind(p.description)
                .push_bind(p.employer_code)
                .push_bind(p.district)
                .push_bind(p.industry)
                .push_bind(p.occupation)
                .push_bind(p.min_degree)
                .push_bind(p.experience_years)
                .push_bind(p.salary_min)
                .push_bind(p.salary_max)
                .push_bind(p.headcount)
                .push_bind(p.employment_type)
                .push_bind(p.publish_at)
                .push_bind(p.expire_at)
                .push_bind(p.fair_id)
                .push_bind(p.tags)
                .push_bind(0i64)
                .push_bind(None::<i64>)
                .push_bind(p.opening_id)
                .push_bind(p.revision)
                .push_bind(p.now)
                .push_bind(p.now);
        });
        b.push(UPSERT_TAIL);
        b.build().execute(&mut *tx).await?;
        if let Some(outbox) = outbox {
            let mut b =
                sqlx::QueryBuilder::new("INSERT INTO outbox (seq, event_id, payload, created_at) ");
            b.push_values(outbox, |mut r, (seq, id, payload)| {
                r.push_bind(seq)
                    .push_bind(id)
                    .push_bind(payload)
                    .push_bind(0i64);
            });
            b.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Baseline for Postgres {
    async fn durability(pool: &Pool<Self>) -> anyhow::Result<String> {
        let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(pool).await?;
        let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(pool)
            .await?;
        Ok(format!(
            "PostgreSQL fsync={fsync}, synchronous_commit={commit}"
        ))
    }

    async fn upsert(
        pool: &Pool<Self>,
        platform: &str,
        batch: Vec<PostingRow>,
        outbox: Option<Vec<OutboxRow>>,
    ) -> anyhow::Result<()> {
        let mut c = PgColumns::default();
        for p in batch {
            c.push(platform, p);
        }
        let mut tx = pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(pg_posting_insert(true)))
            .bind(c.platform_id)
            .bind(c.external_id)
            .bind(c.title)
            .bind(c.title_key)
            .bind(c.description)
            .bind(c.employer_code)
            .bind(c.district)
            .bind(c.industry)
            .bind(c.occupation)
            .bind(c.min_degree)
            .bind(c.experience_years)
            .bind(c.salary_min)
            .bind(c.salary_max)
            .bind(c.headcount)
            .bind(c.employment_type)
            .bind(c.publish_at)
            .bind(c.expire_at)
            .bind(c.fair_id)
            .bind(c.tags)
            .bind(c.close_reason)
            .bind(c.closed_at)
            .bind(c.opening_id)
            .bind(c.revision)
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(&mut *tx)
            .await?;
        if let Some(outbox) = outbox {
            let mut seqs = Vec::with_capacity(outbox.len());
            let mut ids = Vec::with_capacity(outbox.len());
            let mut payloads = Vec::with_capacity(outbox.len());
            for (seq, id, payload) in outbox {
                seqs.push(seq);
                ids.push(id);
                payloads.push(payload);
            }
            sqlx::query(
                "INSERT INTO outbox (seq, event_id, payload, created_at) \
                 SELECT s, i, p, 0 FROM UNNEST($1::int8[], $2::text[], $3::bytea[]) AS t(s, i, p)",
            )
            .bind(seqs)
            .bind(ids)
            .bind(payloads)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The columns of one UNNEST statement.
#[derive(Default)]
struct PgColumns {
    platform_id: Vec<String>,
    external_id: Vec<String>,
    title: Vec<String>,
    title_key: Vec<String>,
    description: Vec<String>,
    employer_code: Vec<String>,
    district: Vec<String>,
    industry: Vec<String>,
    occupation: Vec<String>,
    min_degree: Vec<i64>,
    experience_years: Vec<i64>,
    salary_min: Vec<Option<i64>>,
    salary_max: Vec<Option<i64>>,
    headcount: Vec<i64>,
    employment_type: Vec<i64>,
    publish_at: Vec<i64>,
    expire_at: Vec<i64>,
    fair_id: Vec<Option<String>>,
    tags: Vec<String>,
    close_reason: Vec<i64>,
    closed_at: Vec<Option<i64>>,
    opening_id: Vec<String>,
    revision: Vec<i64>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
}

impl PgColumns {
    fn push(&mut self, platform: &str, p: PostingRow) {
        self.platform_id.push(platform.to_owned());
        self.external_id.push(p.external_id);
        self.title.push(p.title);
        self.title_key.push(p.title_key);
        self.description.push(p.description);
        self.employer_code.push(p.employer_code);
        self.district.push(p.district);
        self.industry.push(p.industry);
        self.occupation.push(p.occupation);
        self.min_degree.push(p.min_degree);
        self.experience_years.push(p.experience_years);
        self.salary_min.push(p.salary_min);
        self.salary_max.push(p.salary_max);
        self.headcount.push(p.headcount);
        self.employment_type.push(p.employment_type);
        self.publish_at.push(p.publish_at);
        self.expire_at.push(p.expire_at);
        self.fair_id.push(p.fair_id);
        self.tags.push(p.tags);
        self.close_reason.push(0);
        self.closed_at.push(None);
        self.opening_id.push(p.opening_id);
        self.revision.push(p.revision);
        self.created_at.push(p.now);
        self.updated_at.push(p.now);
    }
}

/// Rows stored in `postings` and (count, mean payload bytes) of `outbox`.
async fn stored(url: &str) -> anyhow::Result<(i64, i64, i64)> {
    let db = Db::connect(url, 1, talent_recruiting::MIGRATIONS).await?;
    let counts = match &db {
        Db::Sqlite(pool) => counts(pool).await,
        Db::Postgres(pool) => counts(pool).await,
    };
    db.close().await;
    counts
}

async fn counts<DB: Sql>(pool: &Pool<DB>) -> anyhow::Result<(i64, i64, i64)>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
{
    let postings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM postings")
        .fetch_one(pool)
        .await?;
    let (n, len): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(AVG(LENGTH(payload)), 0) AS BIGINT) FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok((postings, n, len))
}

/// Scenario 1 and the recruiting row of scenario 5: `n` postings.
pub async fn run(dbs: &mut Databases, n: u64, quick: bool) -> anyhow::Result<Vec<Row>> {
    let platform = "bench";
    let base = now_secs() - 20 * 86_400;
    let url = dbs.create("ingest").await?;
    let service = Recruiting::start(&url, None, &[]).await?;
    let measured = async {
        let key = service.platform(platform).await?;
        service.employers(&key, EMPLOYERS).await?;
        let new = push(
            &service,
            &key,
            messages(n, 1, base),
            pb::UpsertOutcome::Created,
        )
        .await?;
        eprintln!(
            "bench: ingest, service, new: {} rows in {:.2} s",
            new.rows,
            new.elapsed.as_secs_f64()
        );
        let changed = push(
            &service,
            &key,
            messages(n, 2, base),
            pb::UpsertOutcome::Updated,
        )
        .await?;
        eprintln!(
            "bench: ingest, service, conflicting: {} rows in {:.2} s",
            changed.rows,
            changed.elapsed.as_secs_f64()
        );
        anyhow::Ok((new, changed))
    }
    .await;
    let rss = service.peak_rss_kib();
    service.stop().await?;
    let (new, changed) = measured?;
    let (stored_postings, outbox_rows, payload_len) = stored(&url).await?;
    ensure!(
        stored_postings == n as i64,
        "the service stored {stored_postings} postings, not {n}"
    );

    let now = now_secs() * 1_000_000;
    let db = baseline_db(dbs, "ingest_baseline", platform).await?;
    let durable = durability(&db).await?;
    let base_new = direct(&db, platform, rows(n, 1, base, now), None).await?;
    let base_changed = direct(&db, platform, rows(n, 2, base, now), None).await?;
    db.close().await;
    let db = baseline_db(dbs, "ingest_floor", platform).await?;
    let payload = usize::try_from(payload_len).unwrap_or(0);
    let floor_new = direct(&db, platform, rows(n, 1, base, now), Some((1, payload))).await?;
    let floor_changed =
        direct(&db, platform, rows(n, 2, base, now), Some((n + 1, payload))).await?;
    db.close().await;
    eprintln!(
        "bench: ingest, baseline {:.0} / {:.0} rows/s, floor {:.0} / {:.0} rows/s",
        base_new.rate(),
        base_changed.rate(),
        floor_new.rate(),
        floor_changed.rate()
    );

    let mut out = Vec::new();
    let how = format!(
        "{n} postings, {BATCH} a message, one UpsertPostings stream from another process; \
         baseline: the same rows upserted directly, {BATCH} a statement ({}), each its own \
         transaction; {durable}",
        if matches!(db, Db::Postgres(_)) {
            "UNNEST"
        } else {
            "multi-row VALUES"
        }
    );
    for (what, service, baseline) in [
        ("new postings", &new, &base_new),
        (
            "all conflicting (every posting re-pushed, headcount changed)",
            &changed,
            &base_changed,
        ),
    ] {
        let ratio = service.rate() / baseline.rate();
        out.push(Row {
            scenario: 1,
            figure: format!("postings ingest through UpsertPostings, {what}"),
            unit: "rows/s".into(),
            value: Some(service.rate()),
            baseline: Some(baseline.rate()),
            ratio: Some(ratio),
            target: TARGET.into(),
            status: if ratio >= 0.7 {
                Status::Pass
            } else {
                Status::Fail
            },
            note: how.clone(),
        });
    }
    for (what, floor, baseline) in [
        ("new postings", &floor_new, &base_new),
        ("all conflicting", &floor_changed, &base_changed),
    ] {
        out.push(Row {
            scenario: 1,
            figure: format!("floor: direct batch upsert + one outbox row per posting, {what}"),
            unit: "rows/s".into(),
            value: Some(floor.rate()),
            baseline: Some(baseline.rate()),
            ratio: Some(floor.rate() / baseline.rate()),
            target: "-".into(),
            status: Status::Info,
            note: format!(
                "what the service must write at least (its outbox invariant): outbox rows of \
                 {payload_len} bytes (the service's mean; it wrote {outbox_rows} events for \
                 {} postings pushed)",
                2 * n
            ),
        });
    }
    let mb = rss.map(|kib| kib as f64 / 1024.0);
    out.push(Row {
        scenario: 5,
        figure: "recruiting peak RSS (VmHWM) during scenario 1".into(),
        unit: "MB".into(),
        value: mb,
        baseline: None,
        ratio: None,
        target: format!("≤ {RSS_TARGET_MB:.0} MB"),
        status: match mb {
            Some(mb) if mb <= RSS_TARGET_MB => Status::Pass,
            Some(_) => Status::Fail,
            None => Status::Skip,
        },
        note: format!(
            "the recruiting binary as a child process, {n} postings{}",
            if quick { " (--quick)" } else { "" }
        ),
    });
    Ok(out)
}
