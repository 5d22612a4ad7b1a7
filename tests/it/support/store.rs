//! Fresh recruiting databases for the store conformance suite, which calls
//! the store directly: a SQLite file always, a PostgreSQL database when
//! `TALENT_TEST_POSTGRES_URL` is set (created here, dropped at the end).

use talent_server::{Backend, Db};

use super::{POOL_SIZE, POSTGRES_URL_VAR, TestDatabases, unique_name, with_database};

/// One migrated recruiting database; dropped with this value.
pub struct StoreDatabase {
    pub db: Db,
    _databases: TestDatabases,
}

impl StoreDatabase {
    /// A fresh SQLite database.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("recruiting.db").display());
        Self::migrated(TestDatabases {
            backend: Backend::Sqlite,
            recruiting_url: url,
            metrics_url: String::new(),
            _dir: Some(dir),
            postgres: None,
        })
        .await
    }

    /// A fresh PostgreSQL database, when the tests are given a server.
    pub async fn postgres() -> Option<Self> {
        let server_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())?;
        let name = unique_name("store");
        let admin = sqlx::PgPool::connect(&server_url)
            .await
            .unwrap_or_else(|err| {
                panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {err}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("creating a test database");
        admin.close().await;
        Some(
            Self::migrated(TestDatabases {
                backend: Backend::Postgres,
                recruiting_url: with_database(&server_url, &name),
                metrics_url: String::new(),
                _dir: None,
                postgres: Some((server_url, vec![name])),
            })
            .await,
        )
    }

    async fn migrated(databases: TestDatabases) -> Self {
        let db = Db::connect(
            &databases.recruiting_url,
            POOL_SIZE,
            talent_recruiting::MIGRATIONS,
        )
        .await
        .expect("migrating the recruiting database");
        Self {
            db,
            _databases: databases,
        }
    }
}
