//! The run's two databases: SQLite files in the run's folder, or two fresh
//! PostgreSQL databases created for the run and dropped at its end; and
//! the event ids each side holds, read directly from them.

use std::{collections::HashSet, path::Path};

use anyhow::Context;

/// The recruiting and metrics databases of one run.
pub struct Databases {
    pub recruiting_url: String,
    pub metrics_url: String,
    /// PostgreSQL: the server's URL and the databases to drop.
    postgres: Option<(String, [String; 2])>,
}

impl Databases {
    pub fn sqlite(dir: &Path) -> Self {
        let url = |f: &str| format!("sqlite://{}", dir.join(f).display());
        Self {
            recruiting_url: url("recruiting.db"),
            metrics_url: url("metrics.db"),
            postgres: None,
        }
    }

    /// Creates two databases named after this run on the server of
    /// `server_url`.
    pub async fn postgres(server_url: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let names = ["recruiting", "metrics"]
            .map(|s| format!("fault_run_{s}_{}_{nanos}", std::process::id()));
        let admin = sqlx::PgPool::connect(server_url)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {server_url}"))?;
        for name in &names {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .with_context(|| format!("creating the database {name}"))?;
        }
        admin.close().await;
        Ok(Self {
            recruiting_url: talent_url(server_url, &names[0]),
            metrics_url: talent_url(server_url, &names[1]),
            postgres: Some((server_url.to_owned(), names)),
        })
    }

    /// Drops the PostgreSQL databases (the SQLite files go with the run's
    /// folder).
    pub async fn drop_all(&mut self) -> anyhow::Result<()> {
        let Some((server_url, names)) = self.postgres.take() else {
            return Ok(());
        };
        let admin = sqlx::PgPool::connect(&server_url).await?;
        for name in names {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .with_context(|| format!("dropping the database {name}"))?;
        }
        admin.close().await;
        Ok(())
    }

    /// The event id of every outbox row (the events recruiting wrote).
    pub async fn sent_event_ids(&self) -> anyhow::Result<HashSet<String>> {
        event_ids(&self.recruiting_url, "SELECT event_id FROM outbox").await
    }

    /// The event id of every event metrics applied.
    pub async fn applied_event_ids(&self) -> anyhow::Result<HashSet<String>> {
        event_ids(&self.metrics_url, "SELECT event_id FROM applied_events").await
    }
}

async fn event_ids(url: &str, sql: &'static str) -> anyhow::Result<HashSet<String>> {
    let ids: Vec<(String,)> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let ids = sqlx::query_as(sql).fetch_all(&pool).await?;
        pool.close().await;
        ids
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        let ids = sqlx::query_as(sql).fetch_all(&pool).await?;
        pool.close().await;
        ids
    };
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// `postgres://user@host:port/old?x` with the database replaced by `name`.
fn talent_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            super::talent_url("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::talent_url("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::talent_url("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
