//! The readiness probes of `/readyz`, one per kind of dependency.

use crate::ops::Check;
use sqlx::PgPool;
use std::sync::Arc;

/// Postgres answers `SELECT 1` on `pool`.
pub fn postgres(pool: PgPool) -> Check {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

/// Redis at `url` answers `PING` on a fresh connection.
pub fn redis(url: String) -> Check {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let timeouts = readmodel::Timeouts::new(
                std::time::Duration::from_secs(2),
                std::time::Duration::from_secs(2),
            );
            let mut conn = readmodel::RedisTarget::open(&url)
                .map_err(|e| e.to_string())?
                .connect(timeouts)
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

/// `client` is connected and a flush round-trips.
pub fn nats(client: async_nats::Client) -> Check {
    Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            match client.connection_state() {
                async_nats::connection::State::Connected => {
                    client.flush().await.map_err(|e| e.to_string())
                }
                other => Err(format!("{other:?}")),
            }
        })
    })
}

/// The query side reads its read models (`query::check_ready`).
pub fn read_models(state: query::QueryState) -> Check {
    Arc::new(move || {
        let state = state.clone();
        Box::pin(async move { query::check_ready(&state).await })
    })
}
