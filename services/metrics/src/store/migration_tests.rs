//! Migrations that move what a database already holds.

use sqlx::{Row, SqlitePool};
use talent_server::Db;

use super::test_db::{execute, migrate, sqlite_database};

/// The aggregate tables and, for each, its rows in key order as text.
const TABLES: [(&str, &str); 6] = [
    (
        "agg_gathered_now",
        "day || district || industry || platform || tier || ':' || n || ':' || key_sum",
    ),
    (
        "agg_gathered_roll",
        "level || bucket || district || industry || platform || tier || ':' || n || ':' || key_sum",
    ),
    (
        "agg_outcome_now",
        "cohort || day || university || degree || discipline || district || industry \
         || ':' || n || ':' || key_sum",
    ),
    (
        "agg_outcome_roll",
        "cohort || proj || level || bucket || university || degree || discipline || district \
         || industry || status || ':' || n || ':' || key_sum",
    ),
    (
        "agg_activity_now",
        "kind || day || district || industry || platform || tier || ':' || n || ':' \
         || headcount || ':' || key_sum",
    ),
    (
        "agg_distinct_now",
        "kind || entity || day || district || industry || platform || tier || ':' || n || ':' \
         || key_sum",
    ),
];

async fn rows(pool: &SqlitePool, table: &str, text: &str) -> Vec<String> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {text} FROM {table} ORDER BY 1"));
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// SQLite's aggregate tables become `WITHOUT ROWID` (0008) with every cell
/// as it was, and their upserts still find the cells.
#[tokio::test]
async fn clustering_the_aggregates_keeps_every_cell() {
    // The migration is SQLite's alone: it runs on SQLite in every run.
    let (db, _guard) = sqlite_database().await;
    let Db::Sqlite(pool) = &db else {
        unreachable!("an SQLite database")
    };
    migrate(&db, Some(7)).await;
    execute(
        &db,
        "INSERT INTO agg_gathered_now VALUES (19000, '370212', 'C', 'p', 1, 3, 77), \
         (19001, '370212', 'C', 'p', 2, 1, 5); \
         INSERT INTO agg_gathered_roll VALUES ('M', 18993, '370212', 'C', 'p', 1, 3, 77); \
         INSERT INTO agg_outcome_now VALUES (2024, 19000, '10001', 4, 8, '370212', 'C', 2, 9); \
         INSERT INTO agg_outcome_roll VALUES (2024, 3, 'D', 19000, '10001', 4, 8, '370212', \
         'C', 2, 2, 9); \
         INSERT INTO agg_activity_now VALUES ('posting', 19000, '370212', 'C', 'p', 0, 4, 12, 0); \
         INSERT INTO agg_distinct_now VALUES ('employer', 'e1', 19000, '370212', 'C', 'p', 0, 1, 0)",
    )
    .await;
    let mut before = Vec::new();
    for (table, text) in TABLES {
        before.push(rows(pool, table, text).await);
    }
    migrate(&db, None).await;
    for ((table, text), before) in TABLES.into_iter().zip(before) {
        assert_eq!(rows(pool, table, text).await, before, "{table}");
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = $1")
            .bind(table)
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(sql.ends_with("WITHOUT ROWID"), "{table}: {sql}");
    }
    execute(
        &db,
        "INSERT INTO agg_gathered_now VALUES (19000, '370212', 'C', 'p', 1, 1, 3) \
         ON CONFLICT (day, district, industry, platform, tier) \
         DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum",
    )
    .await;
    assert_eq!(
        rows(pool, TABLES[0].0, TABLES[0].1).await,
        ["19000370212Cp1:4:80", "19001370212Cp2:1:5"]
    );
    db.close().await;
}
