//! Test support. Every test that touches a server gets its own event-log
//! database, its own read database and its own namespace (the prefix of every
//! Redis key and JetStream name), so tests run in parallel, and alongside a
//! running `cotalk serve`, without touching each other.
//!
//! The servers are real: Postgres, Redis and NATS on loopback, as started by
//! `scripts/services`. Override with `COTALK_TEST_PG` (a server URL without a
//! database), `COTALK_REDIS_URL` and `COTALK_NATS_URL`.
//!
//! [`client`] is the typed HTTP client of the API that the tests, `cotalk
//! seed` and `cotalk bench` all use.

pub mod client;

use sqlx::PgPool;

/// A fresh, migrated pair of databases and a unique namespace.
pub struct TestEnv {
    /// Unique per test: `t` + 12 hex digits.
    pub namespace: String,
    /// The event-log database.
    pub database_url: String,
    /// The read database.
    pub read_database_url: String,
    /// Redis for read models.
    pub redis_url: String,
    /// NATS with JetStream.
    pub nats_url: String,
    /// A pool on the event-log database (owner role).
    pub write_pool: PgPool,
    /// A pool on the read database (owner role).
    pub read_pool: PgPool,
    /// The server (URL without a database) holding both databases, where
    /// `Drop` removes them again.
    server: String,
}

fn server_url() -> String {
    std::env::var("COTALK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl TestEnv {
    /// Create and migrate both databases under a new namespace. They are
    /// dropped when the `TestEnv` is (a test killed outright leaves them
    /// behind; [`drop_stale`] and `scripts/services prune-test-dbs` remove those).
    pub async fn new() -> Self {
        Self::on_server(&server_url()).await
    }

    /// As [`TestEnv::new`], on another Postgres server: `server` is its URL
    /// without a database (`postgres://postgres@127.0.0.1:5433`), reachable
    /// as a superuser. A test that restarts or replicates its Postgres uses a
    /// private server so that the shared one, serving every other test,
    /// stays untouched. `Drop` removes the databases from that server.
    pub async fn on_server(server: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let namespace = format!("t{}", &id[..12]);
        let base = server.trim_end_matches('/').to_owned();
        let database_url = format!("{base}/cotalk_{namespace}");
        let read_database_url = format!("{base}/cotalk_{namespace}_read");
        let write_pool = migrations::prepare_write(&database_url)
            .await
            .expect("prepare the test event-log database (is Postgres up? run scripts/services)");
        let read_pool = migrations::prepare_read(&read_database_url)
            .await
            .expect("prepare the test read database");
        Self {
            namespace,
            database_url,
            read_database_url,
            redis_url: std::env::var("COTALK_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            nats_url: std::env::var("COTALK_NATS_URL")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
            write_pool,
            read_pool,
            server: base,
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let names: Vec<String> = [&self.database_url, &self.read_database_url]
            .iter()
            .filter_map(|u| u.rsplit('/').next().map(str::to_owned))
            .collect();
        let server = self.server.clone();
        // Drop runs inside the test's runtime, which cannot block on its own
        // futures: a short-lived runtime on another thread does the work.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(pool) = PgPool::connect(&format!("{server}/postgres")).await else {
                    return;
                };
                for name in names {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&pool)
                            .await;
                }
                pool.close().await;
            });
        })
        .join();
    }
}

/// Drop the databases earlier test runs left behind (named `cotalk_t…`).
pub async fn drop_stale() -> Result<usize, sqlx::Error> {
    let pool = PgPool::connect(&format!("{}/postgres", server_url())).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname ~ '^cotalk_t[0-9a-f]{12}'",
    )
    .fetch_all(&pool)
    .await?;
    for name in &names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&pool)
            .await?;
    }
    Ok(names.len())
}
