//! Presence entries in the real Redis, as stream nodes write and sweep them
//! (`readmodel::live`).

mod common;

use common::Fx;
use domain::ids::UserId;
use readmodel::{live, Replies};
use std::time::Duration;
use uuid::Uuid;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn run(fx: &mut Fx, pipe: redis::Pipeline) -> Replies {
    let values: Vec<redis::Value> = pipe.query_async(&mut fx.conn).await.unwrap();
    Replies::new(values)
}

/// Whether a sweep at `now` finds `user` due and takes them offline.
async fn sweep(fx: &mut Fx, user: UserId, now: i64) -> (bool, bool) {
    let mut pipe = redis::pipe();
    live::queue_due(&mut pipe, &fx.namespace, now, 100);
    let due = live::take_due(&mut run(fx, pipe).await).unwrap();
    let mut pipe = redis::pipe();
    live::queue_expire(&mut pipe, &fx.namespace, user, now);
    live::queue_swept(&mut pipe, &fx.namespace, &[user], now);
    let gone = live::take_transition(&mut run(fx, pipe).await).unwrap();
    (due.contains(&user), gone)
}

#[tokio::test]
async fn a_late_sweep_still_takes_a_dead_nodes_user_offline_once() {
    let mut fx = Fx::new().await;
    let user = UserId(Uuid::new_v4());
    let ttl = 100;
    let mut pipe = redis::pipe();
    live::queue_arrive(&mut pipe, &fx.namespace, user, "dead-node", now_ms(), ttl);
    let came = live::take_transition(&mut run(&mut fx, pipe).await).unwrap();
    assert!(came, "the first stream brings the user online");
    // No node refreshes or removes the entry, and no sweep runs until
    // several lifetimes after it expired.
    tokio::time::sleep(Duration::from_millis(5 * ttl)).await;
    assert_eq!(sweep(&mut fx, user, now_ms()).await, (true, true));
    assert_eq!(sweep(&mut fx, user, now_ms()).await, (false, false), "once");
    fx.cleanup().await;
}

#[tokio::test]
async fn a_user_who_closed_their_streams_is_not_taken_offline_again() {
    let mut fx = Fx::new().await;
    let user = UserId(Uuid::new_v4());
    let mut pipe = redis::pipe();
    live::queue_arrive(&mut pipe, &fx.namespace, user, "s", now_ms(), 100);
    live::queue_leave(&mut pipe, &fx.namespace, user, "s", now_ms());
    let mut replies = run(&mut fx, pipe).await;
    assert!(live::take_transition(&mut replies).unwrap(), "online");
    assert!(
        live::take_transition(&mut replies).unwrap(),
        "offline on close"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sweep(&mut fx, user, now_ms()).await, (true, false));
    fx.cleanup().await;
}
