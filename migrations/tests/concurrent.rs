//! Nodes starting together prepare the same databases at the same moment
//! (a cluster's query and projector nodes): every one of them must succeed,
//! though their grants on the same catalog rows collide.

use sqlx::{Connection, Executor, PgConnection};

fn server() -> String {
    std::env::var("COTALK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_preparing_one_read_database_at_once_all_succeed() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("cotalk_t{}_concurrent_read", &id[..12]);
    let url = format!("{}/{name}", server());
    migrations::prepare_read(&url)
        .await
        .expect("prepare it once");
    // Several rounds of several processes starting together.
    let mut failures = Vec::new();
    for _ in 0..5 {
        let starts = (0..8).map(|_| migrations::prepare_read(&url));
        for outcome in futures::future::join_all(starts).await {
            if let Err(e) = outcome {
                failures.push(e.to_string());
            }
        }
    }
    let mut admin = PgConnection::connect(&format!("{}/postgres", server()))
        .await
        .unwrap();
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
}
