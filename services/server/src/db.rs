//! The database pool, chosen by URL: embedded SQLite (`sqlite:`) by default,
//! PostgreSQL (`postgres:`) in production. Each service embeds one folder of
//! migrations per back end and runs it at start.
//!
//! SQL that both back ends run alike is written once, generic over [`Sql`];
//! the [`Db`] a service opened picks the back end once, where the component
//! is built (`Db::Sqlite(pool) => Component::new(pool)`, the same for
//! PostgreSQL). What differs by back end lives in a trait of the component
//! implemented for `Sqlite` and `Postgres` side by side.

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::{Context, bail};
use sqlx::{
    Database, Decode, Encode, IntoArguments, Type,
    database::HasStatementCache,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

/// A service's migrations, one set per back end (their SQL differs).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// The [`Migrations`] of the calling crate: its `migrations/sqlite` and
/// `migrations/postgres` folders, embedded at compile time.
#[macro_export]
macro_rules! migrations {
    () => {{
        static SQLITE: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/sqlite");
        static POSTGRES: ::sqlx::migrate::Migrator = ::sqlx::migrate!("migrations/postgres");
        $crate::Migrations {
            sqlite: &SQLITE,
            postgres: &POSTGRES,
        }
    }};
}

/// Which back end a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            bail!("unsupported database URL scheme (use sqlite: or postgres:)")
        }
    }
}

/// SQLite's page cache per connection, KiB (its default is 2,000 KiB). A
/// 1,000-event message or a 1,000-posting batch touches more pages than the
/// default holds: SQLite then spills dirty pages to the WAL in the middle of
/// the transaction and reads clean ones back from the file (measured in
/// `BENCHMARKS.md`).
const SQLITE_CACHE_KIB: u32 = 16 * 1024;
/// Pages written to the WAL before SQLite copies them back into the database
/// (its default is 1,000, 4 MB): hot pages (aggregate rows, the outbox
/// tail) written by many transactions are copied back once per checkpoint,
/// so fewer checkpoints copy fewer pages. The WAL grows to this many pages
/// between checkpoints.
const SQLITE_CHECKPOINT_PAGES: u32 = 10_000;

/// A connected, migrated pool of one of the two back ends.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Connects to `url` and applies `migrations`. For SQLite the file and
    /// its folder are created when missing, for the owner alone (0600 and
    /// 0700, the WAL and shared-memory files too); the database runs in WAL mode
    /// with `synchronous=FULL`, so a committed transaction survives a power
    /// loss (the durability the ingest contract promises).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        migrations: Migrations,
    ) -> anyhow::Result<Self> {
        let db = Self::open(url, max_connections).await?;
        match &db {
            Db::Sqlite(pool) => {
                let (file, _) = sqlite_url_pragmas(url);
                migrations.sqlite.run(pool).await.map_err(|err| match err {
                    sqlx::migrate::MigrateError::Execute(err) => {
                        sqlite_file_error(err, "migrating", &file)
                    }
                    other => anyhow::Error::new(other)
                        .context(format!("migrating the SQLite database {file}")),
                })?
            }
            Db::Postgres(pool) => migrations
                .postgres
                .run(pool)
                .await
                .context("migrating the PostgreSQL database")?,
        }
        Ok(db)
    }

    /// A second pool on a database `connect` has already migrated, with
    /// the same settings (a component that must not wait behind the
    /// service's calls for a connection, such as the outbox relay).
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let (url, pragmas) = sqlite_url_pragmas(url);
                let mut options = SqliteConnectOptions::from_str(&url)
                    .context("parsing the SQLite URL")?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                    .pragma("wal_autocheckpoint", SQLITE_CHECKPOINT_PAGES.to_string())
                    // The statement journal (kept for each multi-row
                    // upsert inside a transaction, to undo that statement
                    // alone) in memory rather than in a temporary file,
                    // which metrics spent much of its time writing.
                    .pragma("temp_store", "memory")
                    // Deleted or replaced row content zeroed in its page (no
                    // extra I/O): an erased value leaves no copy in the file.
                    .pragma("secure_delete", "fast");
                for (name, value) in pragmas {
                    options = options.pragma(name, value);
                }
                if !sqlite_in_memory(&url) {
                    create_private_file(options.get_filename())?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .after_release(|conn, _| Box::pin(fit_for_reuse(conn)))
                    .connect_with(options)
                    .await
                    .map_err(|err| sqlite_file_error(err, "opening", &url))?;
                Db::Sqlite(pool)
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .context("parsing the PostgreSQL URL")?
                    // No parallel query. Every statement of the services
                    // reads or writes a few thousand rows at most through
                    // an index, where starting worker processes costs more
                    // than it saves (measured in `BENCHMARKS.md`).
                    //
                    // No JIT either: a batch of keys looked up one index
                    // probe each (`VALUES … LATERAL`) on a table without
                    // statistics is estimated at hundreds of rows a probe,
                    // past `jit_above_cost`, and compiling the plan costs
                    // far more than running it.
                    .options([("max_parallel_workers_per_gather", "0"), ("jit", "off")]);
                first_pg_connection(&options).await?;
                let target = pg_target(&options);
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .after_release(|conn, _| Box::pin(fit_for_reuse(conn)))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {target}"))?;
                Db::Postgres(pool)
            }
        };
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; waits for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// An error of `doing` (opening, migrating) the SQLite database of `url`,
/// naming its file; a damaged file (or one that is not a database) says so
/// and what to do, since no retry helps.
fn sqlite_file_error(err: sqlx::Error, doing: &str, url: &str) -> anyhow::Error {
    let file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let file = file.split_once('?').map_or(file, |(f, _)| f);
    if crate::db_error::classify(&err) == crate::db_error::DbFault::Corrupt {
        let reason = match &err {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        };
        anyhow::anyhow!(
            "the SQLite database {file} is damaged or is not a SQLite database ({reason}); \
             restore it from a backup or move it away"
        )
    } else {
        anyhow::Error::new(err).context(format!("{doing} the SQLite database {file}"))
    }
}

/// How long a service waits at start for PostgreSQL: for a name to
/// resolve and a connection to be accepted (a refused connection is tried
/// again until then, as a server still starting refuses).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a PostgreSQL connection goes, for messages: `host:port`, or the
/// Unix socket.
fn pg_target(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => format!("the socket {}", socket.display()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// Opens one connection to PostgreSQL before the pool does, so that a
/// server that cannot be used stops the start within [`CONNECT_TIMEOUT`]
/// with the reason: the host name does not resolve, the connection is
/// refused, authentication fails, the database does not exist. (sqlx's
/// pool keeps retrying a refused connection until its acquire timeout and
/// then only says that it timed out.)
async fn first_pg_connection(options: &PgConnectOptions) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};

    let target = pg_target(options);
    let database = options.get_database().unwrap_or(options.get_username());
    let fail = |reason: String| {
        anyhow::anyhow!(
            "cannot connect to PostgreSQL at {target} (database {database}, user {}): {reason}",
            options.get_username()
        )
    };
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let waited = || format!("{}s", CONNECT_TIMEOUT.as_secs());
    if options.get_socket().is_none() {
        let host = (options.get_host(), options.get_port());
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host(host)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return Err(fail(format!("the host name does not resolve (DNS: {err})")));
            }
            Err(_) => {
                return Err(fail(format!(
                    "the host name did not resolve within {} (DNS)",
                    waited()
                )));
            }
        }
    }
    let mut pause = Duration::from_millis(50);
    loop {
        let error = match tokio::time::timeout_at(deadline, options.connect()).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(err)) => err,
            Err(_) => return Err(fail(format!("no answer within {}", waited()))),
        };
        let (reason, retry) = pg_connect_failure(&error);
        if !retry {
            return Err(fail(reason));
        }
        let next = tokio::time::Instant::now() + pause;
        if next >= deadline {
            return Err(fail(format!("{reason} (still after {})", waited())));
        }
        tokio::time::sleep_until(next).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Why a connection to PostgreSQL failed, in words, and whether trying
/// again may help (a server starting up refuses connections).
fn pg_connect_failure(error: &sqlx::Error) -> (String, bool) {
    match error {
        sqlx::Error::Io(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("connection refused".to_owned(), true)
        }
        sqlx::Error::Io(err) => (format!("{err}"), false),
        sqlx::Error::Tls(err) => (format!("TLS: {err}"), false),
        sqlx::Error::Database(err) => {
            let code = err.code().unwrap_or_default();
            let message = err.message();
            match code.as_ref() {
                // invalid_password; invalid_authorization_specification (an
                // unknown role, no pg_hba.conf entry)
                "28P01" | "28000" => (format!("authentication failed: {message}"), false),
                // invalid_catalog_name
                "3D000" => (format!("the database is missing: {message}"), false),
                // cannot_connect_now (starting up); too_many_connections
                "57P03" | "53300" => (message.to_owned(), true),
                _ => (format!("{message} (SQLSTATE {code})"), false),
            }
        }
        other => (other.to_string(), false),
    }
}

/// Whether a connection coming back to the pool may serve the next user:
/// not when it is still inside a transaction. A transaction dropped
/// without commit queues its rollback; when that rollback fails (SQLite
/// has already rolled back by itself after a full disk or an I/O error,
/// and answers "no transaction is active"), the driver still counts the
/// transaction open, and every later `BEGIN` on that connection would
/// fail. Such a connection is closed instead (which also releases any lock
/// it holds) and the pool opens a fresh one.
async fn fit_for_reuse<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // The queued rollback runs before the ping answers.
    conn.ping().await?;
    let fit = !conn.is_in_transaction();
    if !fit {
        tracing::warn!("closing a connection left inside a failed transaction");
    }
    Ok(fit)
}

/// A back end as a type: SQL written once for both is generic over
/// `DB: Sql` (`sqlx::Sqlite` or `sqlx::Postgres`).
///
/// Generic code also states the Rust types it binds and reads, because Rust
/// carries a trait's bounds on `Self` and its associated types to every
/// user of the trait, but not bounds on other types (`String: Encode<DB>`).
/// A block of such code reads:
///
/// ```ignore
/// impl<DB: Sql> Store<DB>
/// where
///     for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
///     for<'n> &'n str: ColumnIndex<DB::Row>,
///     String: Column<DB>,
///     Option<i64>: Column<DB>,
/// ```
///
/// naming the types it uses; both back ends have them all, and one that is
/// missing is a compile error naming it. Where the back ends differ, a
/// component defines a trait of its own over `Sql` (the statements, the
/// locks) with one implementation per back end, which needs no such bounds.
pub trait Sql:
    Database<Arguments: IntoArguments<Self>, QueryResult: RowsAffected> + HasStatementCache
{
    /// Which back end this is.
    const BACKEND: Backend;

    /// The statement that begins a transaction that will write. On SQLite
    /// it takes the write lock at once: a transaction that read first and
    /// then wrote fails with `SQLITE_BUSY` when another writer committed
    /// in between, whatever the busy timeout.
    const BEGIN_WRITE: &'static str;
}

impl Sql for sqlx::Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
}

impl Sql for sqlx::Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
}

/// The rows a statement changed, on either back end.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

/// A Rust type that back end `DB` binds as a parameter and reads from a
/// column (`String`, `i64`, `Vec<u8>`, `bool` and their `Option`s on both).
pub trait Column<DB: Database>: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T> Column<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>
{
}

/// Splits `pragma.NAME=VALUE` parameters off an SQLite URL: each is run
/// on every connection (`?pragma.max_page_count=5000` caps the file's
/// size, which is also how the tests fill a disk). The rest of the URL is
/// what sqlx parses.
fn sqlite_url_pragmas(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut pragmas = Vec::new();
    let mut rest = Vec::new();
    for param in query.split('&') {
        match param
            .strip_prefix("pragma.")
            .and_then(|p| p.split_once('='))
        {
            Some((name, value)) => pragmas.push((name.to_owned(), value.to_owned())),
            None => rest.push(param),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, pragmas)
}

/// Whether an SQLite URL names a database in memory (no file to create).
fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Creates `dir` and any missing parent, readable by the owner alone
/// (0700); an existing folder keeps its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates a missing database file, and its folder, for the owner alone
/// (0600, 0700). SQLite would create it 0644, and its WAL and shared-memory
/// files take the database file's mode, so creating the empty file first
/// (an empty file is an empty database to SQLite) keeps all three private.
/// An existing file keeps its mode.
fn create_private_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_private_dir(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// How a statement whose text is built per batch (an `IN` list or a
/// multi-row `VALUES` of the batch's size) is sent.
///
/// [`per_batch`](PerBatch::per_batch): never kept prepared. On PostgreSQL
/// it goes unnamed, so the server plans it with the batch's actual
/// parameters every time. A named prepared statement switches to a generic
/// plan after five runs, and one made while a table was still nearly empty
/// (a fresh database, or statistics never refreshed on a server without
/// autovacuum) keeps scanning the whole table with every key of the `IN`
/// list for as long as the connection lives. On SQLite a kept statement
/// holds its compiled program in every connection's statement cache, one
/// per size met.
///
/// [`piece`](PerBatch::piece): one of the [`pieces`] of a batch. A full
/// piece has the same text in every batch, so SQLite keeps it prepared
/// (parsing a statement of thousands of parameters is a large part of a
/// batch's work) and its cache holds one program per statement, whatever
/// the batch sizes; the rest, and every piece on PostgreSQL, as
/// `per_batch`.
pub trait PerBatch: Sized {
    fn per_batch(self) -> Self;
    fn piece(self, full: bool) -> Self;
}

impl<DB: Sql, A> PerBatch for sqlx::query::Query<'_, DB, A> {
    fn per_batch(self) -> Self {
        self.persistent(false)
    }

    fn piece(self, full: bool) -> Self {
        self.persistent(full && DB::BACKEND == Backend::Sqlite)
    }
}

impl<DB: Sql, O, A> PerBatch for sqlx::query::QueryAs<'_, DB, O, A> {
    fn per_batch(self) -> Self {
        self.persistent(false)
    }

    fn piece(self, full: bool) -> Self {
        self.persistent(full && DB::BACKEND == Backend::Sqlite)
    }
}

/// Rows of a full piece on SQLite (see [`pieces`]).
pub const PIECE_ROWS: usize = 128;
/// SQLite's limit of bound parameters in one statement.
pub const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// Rows of a full piece of statements with `columns` parameters a row:
/// [`PIECE_ROWS`] on SQLite (fewer where that would pass its limit of
/// parameters); 1,000 on PostgreSQL, which keeps no piece prepared.
pub fn piece_rows<DB: Sql>(columns: usize) -> usize {
    match DB::BACKEND {
        Backend::Sqlite => PIECE_ROWS.min(SQLITE_MAX_PARAMETERS / columns.max(1)),
        Backend::Postgres => 1000,
    }
    .max(1)
}

/// `rows` in pieces of `size` rows, then the rest; each with whether it is
/// full (see [`PerBatch::piece`]).
pub fn pieces<T>(rows: &[T], size: usize) -> impl Iterator<Item = (&[T], bool)> {
    let size = size.max(1);
    rows.chunks(size)
        .map(move |piece| (piece, piece.len() == size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_in_full_pieces_then_the_rest() {
        let rows: Vec<u32> = (0..300).collect();
        let sizes = |size| -> Vec<(usize, bool)> {
            pieces(&rows, size)
                .map(|(p, full)| (p.len(), full))
                .collect()
        };
        assert_eq!(
            sizes(piece_rows::<sqlx::Sqlite>(5)),
            [(128, true), (128, true), (44, false)]
        );
        assert_eq!(piece_rows::<sqlx::Sqlite>(1000), 32, "within the limit");
        assert_eq!(sizes(piece_rows::<sqlx::Postgres>(5)), [(300, false)]);
        assert!(pieces::<u32>(&[], 5).next().is_none());
    }

    #[test]
    fn pragmas_are_split_off_sqlite_urls() {
        assert_eq!(
            sqlite_url_pragmas("sqlite://a.db?mode=rwc&pragma.max_page_count=50"),
            (
                "sqlite://a.db?mode=rwc".to_owned(),
                vec![("max_page_count".to_owned(), "50".to_owned())]
            )
        );
        assert_eq!(
            sqlite_url_pragmas("sqlite://a.db?pragma.max_page_count=50"),
            (
                "sqlite://a.db".to_owned(),
                vec![("max_page_count".to_owned(), "50".to_owned())]
            )
        );
        assert_eq!(
            sqlite_url_pragmas("sqlite://a.db"),
            ("sqlite://a.db".to_owned(), vec![])
        );
    }

    /// A writing transaction that reads first still writes when another
    /// writer tried to commit in between: it held the write lock from its
    /// start (with a plain `BEGIN` it fails with `SQLITE_BUSY`).
    #[tokio::test]
    async fn a_sqlite_writer_holds_the_write_lock_from_its_start() {
        use sqlx::{Connection, sqlite::SqliteConnectOptions};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::ZERO);
        let mut a = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut b = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut a)
            .await
            .unwrap();

        let mut tx = a
            .begin_with(<sqlx::Sqlite as Sql>::BEGIN_WRITE)
            .await
            .unwrap();
        sqlx::query("SELECT count(*) FROM t")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let other = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut b)
            .await;
        assert!(other.is_err(), "the other writer must wait for the lock");
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}
