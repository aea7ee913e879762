//! The SQL migrations of cotalk's two databases, embedded in the binary:
//! `write/` for the event log (and the command side's own tables), `read/`
//! for the read database the projections write. [`prepare`] creates each
//! database if missing, migrates it, and sets up the query role.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};
use std::str::FromStr;
use thiserror::Error;

/// Migrations of the event-log database.
pub static WRITE: sqlx::migrate::Migrator = sqlx::migrate!("./write");
/// Migrations of the read database.
pub static READ: sqlx::migrate::Migrator = sqlx::migrate!("./read");

/// The database role the query side connects as: it may read the read
/// database and nothing of the event log.
pub const QUERY_ROLE: &str = "cotalk_query";

/// Preparing a database failed.
#[derive(Debug, Error)]
pub enum MigrateError {
    #[error("bad database url: {0}")]
    Url(#[source] sqlx::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Create the database named in `url` if it does not exist (connecting to the
/// server's `postgres` database to do so).
pub async fn ensure_database(url: &str) -> Result<(), MigrateError> {
    let opts = PgConnectOptions::from_str(url).map_err(MigrateError::Url)?;
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let admin = opts.clone().database("postgres");
    let mut conn = admin.connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match conn
            .execute(format!("CREATE DATABASE {quoted}").as_str())
            .await
        {
            Ok(_) => {}
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Create the query role if it does not exist. Roles are cluster-wide, so two
/// processes may race here; losing the race is fine.
async fn ensure_query_role(pool: &PgPool) -> Result<(), MigrateError> {
    let sql = format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{QUERY_ROLE}') THEN
             CREATE ROLE {QUERY_ROLE} LOGIN;
           END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$"
    );
    pool.execute(sql.as_str()).await?;
    Ok(())
}

/// Create (if missing) and migrate the event-log database.
pub async fn prepare_write(url: &str) -> Result<PgPool, MigrateError> {
    ensure_database(url).await?;
    let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
    WRITE.run(&pool).await?;
    ensure_query_role(&pool).await?;
    Ok(pool)
}

/// Create (if missing) and migrate the read database, and let the query role
/// read it: `SELECT` on every table there now and later, nothing else.
pub async fn prepare_read(url: &str) -> Result<PgPool, MigrateError> {
    ensure_database(url).await?;
    let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
    READ.run(&pool).await?;
    ensure_query_role(&pool).await?;
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    for stmt in [
        format!("GRANT CONNECT ON DATABASE \"{db}\" TO {QUERY_ROLE}"),
        format!("GRANT USAGE ON SCHEMA public TO {QUERY_ROLE}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {QUERY_ROLE}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {QUERY_ROLE}"),
    ] {
        execute_contended(&pool, &stmt).await?;
    }
    Ok(pool)
}

/// How many times a statement is tried while concurrent catalog updates
/// keep getting in its way.
const CONTENDED_TRIES: usize = 10;

/// Run `stmt`, again when another session changed the same catalog row at
/// the same moment ("tuple concurrently updated", SQLSTATE XX000) or when
/// Postgres picked it as a deadlock's victim (40P01: two `GRANT ... ON ALL
/// TABLES` lock the same tables in different orders): nodes starting
/// together grant on the same schema and tables, and a projector creating
/// its tables grants on them while a query node starts. Each try sees the
/// other's committed change, so a retry goes through.
async fn execute_contended(pool: &PgPool, stmt: &str) -> Result<(), MigrateError> {
    let mut tries = 1;
    loop {
        match pool.execute(stmt).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e))
                if tries < CONTENDED_TRIES
                    && (e.code().as_deref() == Some("40P01")
                        || e.code().as_deref() == Some("XX000")
                            && e.message().contains("concurrently updated")) =>
            {
                tracing::debug!(
                    tries,
                    statement = stmt,
                    "catalog row updated concurrently or deadlock, again"
                );
                tries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connection options for the query side: the given read (or replica) URL,
/// but logged in as [`QUERY_ROLE`], whatever user the URL names.
pub fn query_role_options(url: &str) -> Result<PgConnectOptions, MigrateError> {
    let opts = PgConnectOptions::from_str(url).map_err(MigrateError::Url)?;
    Ok(opts.username(QUERY_ROLE))
}
