//! `GET /v1/stream` with real WebSocket clients against real servers: order
//! and gapless `seq`, edits and deletes, membership taking effect at once,
//! exact resume, the resync frame beyond the window, fan-out across two
//! query processes, and the close code at shutdown.
//!
//! "Nothing more arrives" is shown without timing: a later frame of another
//! room (published after, in position order) arrives first.

mod stream_support;
mod support;

use contract::commands::{AddMemberRequest, EditMessageRequest, RenameRoomRequest};
use cotalk::config::Role;
use serde_json::Value;
use stream_support::{connect, connect_with, direct, is_post, node};
use support::{start, Server};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn members_see_each_others_messages_in_order_with_edits_and_deletes() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut a = connect(&s.base, &minsu, None).await;
    // A browser-style connection, token in the query.
    let mut b = connect_with(&s.base, &bora, None, true).await;

    let mut ids = Vec::new();
    for i in 0..6 {
        let who = if i % 2 == 0 { &minsu } else { &bora };
        ids.push(s.post(who, room, &format!("메시지 {i}")).await.message_id);
    }
    for c in [&mut a, &mut b] {
        let frames = c.until(is_post("메시지 5")).await;
        let posts: Vec<&Value> = frames
            .iter()
            .filter(|f| f["type"] == "message_posted")
            .collect();
        let seqs: Vec<u64> = posts.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6], "gapless and in order");
        for (i, f) in posts.iter().enumerate() {
            assert_eq!(f["room_id"], room.to_string());
            assert_eq!(f["body"], format!("메시지 {i}"));
            assert_eq!(f["message_id"], ids[i].to_string());
        }
        // Room frames ascend; a `notification` (the history projection's,
        // for the user alone) may fall anywhere between them.
        let positions: Vec<i64> = frames
            .iter()
            .filter(|f| f["type"] != "notification")
            .map(|f| f["position"].as_i64().unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "positions ascend"
        );
    }

    let edit = EditMessageRequest {
        body: "고친 메시지".into(),
    };
    s.as_user(&minsu)
        .edit_message(room, ids[0], &edit)
        .await
        .expect("edit");
    s.as_user(&bora)
        .delete_message(room, ids[1])
        .await
        .expect("delete");
    let rename = RenameRoomRequest {
        name: "새 이름".into(),
    };
    s.as_user(&minsu)
        .rename_room(room, &rename)
        .await
        .expect("rename");
    for c in [&mut a, &mut b] {
        let frames = c.until(|f| f["type"] == "room_renamed").await;
        let edited = frames
            .iter()
            .find(|f| f["type"] == "message_edited")
            .expect("edit frame");
        assert_eq!(edited["message_id"], ids[0].to_string());
        assert_eq!(edited["body"], "고친 메시지");
        assert_eq!(edited["seq"], 1);
        let deleted = frames
            .iter()
            .find(|f| f["type"] == "message_deleted")
            .expect("delete frame");
        assert_eq!(deleted["message_id"], ids[1].to_string());
        assert_eq!(deleted["seq"], 2);
        let renamed = frames.last().unwrap();
        // The frame comes after the projection applied it: a read at its
        // position needs no wait at all.
        let read = s
            .as_user(&bora)
            .at(renamed["position"].as_i64().unwrap())
            .max_wait(0)
            .room(room)
            .await
            .expect("the renamed room");
        assert_eq!(read.name, "새 이름");
    }

    a.close().await;
    s.cancel.cancel();
    assert_eq!(b.close_code().await, 1001, "going away at shutdown");
}

#[tokio::test]
async fn a_kicked_member_stops_receiving_and_an_added_one_starts() {
    let s = start().await;
    let (minsu, bora, carol) = (
        s.user("minsu").await,
        s.user("bora").await,
        s.user("carol").await,
    );
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut b = connect(&s.base, &bora, None).await;
    let mut c = connect(&s.base, &carol, None).await;

    s.as_user(&minsu)
        .add_member(room, &AddMemberRequest { user_id: carol.id })
        .await
        .expect("add carol");
    // (Carol's `added_to_room` notification may come before or after it.)
    let joined = c
        .until(|f| f["type"] != "notification")
        .await
        .pop()
        .unwrap();
    assert_eq!(joined["type"], "member_joined");
    assert_eq!(joined["user_id"], carol.id.to_string());
    assert_eq!(joined["room_id"], room.to_string());
    s.post(&minsu, room, "어서 와요").await;
    // (Carol's `added_to_room` notification may come first.)
    let frames = c.until(is_post("어서 와요")).await;
    assert!(
        frames[..frames.len() - 1]
            .iter()
            .all(|f| f["type"] == "notification"),
        "no reconnect needed, nothing else first: {frames:?}"
    );

    s.as_user(&minsu)
        .remove_member(room, bora.id)
        .await
        .expect("kick");
    s.post(&minsu, room, "after the kick").await;
    // A later frame in another room bora is in (created after the post).
    let (direct, _) = direct(&s, &minsu, &bora).await;
    s.post(&minsu, direct, "sentinel").await;

    let frames = b.until(is_post("sentinel")).await;
    let kick = frames
        .iter()
        .position(|f| f["type"] == "member_kicked")
        .expect("the kick frame reaches the kicked user");
    assert_eq!(frames[kick]["user_id"], bora.id.to_string());
    assert!(
        frames[kick + 1..]
            .iter()
            .all(|f| f["room_id"] != room.to_string()),
        "nothing from the room after the kick: {frames:?}"
    );
    // Notifications (no room) go to the user beside the room frames.
    let next = frames[kick + 1..]
        .iter()
        .find(|f| f["type"] != "notification")
        .expect("a frame after the kick");
    assert_eq!(next["type"], "room_created");
    assert_eq!(next["room_id"], direct.to_string());

    let frames = c.until(is_post("after the kick")).await;
    assert!(frames.iter().any(|f| f["type"] == "member_kicked"));
}

#[tokio::test]
async fn resume_delivers_exactly_the_missed_frames_then_live_ones() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut b = connect(&s.base, &bora, None).await;
    let posted = s.post(&minsu, room, "first").await;
    let (m1, _) = (posted.message_id, posted.position);
    // (The room's creation may arrive first: it may not have been applied
    // when bora connected.)
    let seen = b.until(is_post("first")).await.pop().unwrap();
    b.close().await;

    // While bora is away: every command here appends exactly one event.
    let mut missed = vec![s.post(&minsu, room, "second").await.position];
    let as_minsu = s.as_user(&minsu);
    let edit = EditMessageRequest {
        body: "first, edited".into(),
    };
    let p = as_minsu.edit_message(room, m1, &edit).await.expect("edit");
    missed.push(p.position);
    let p = as_minsu.delete_message(room, m1).await.expect("delete");
    missed.push(p.position);
    missed.push(s.post(&minsu, room, "third").await.position);

    let after = seen["position"].as_i64().unwrap();
    let mut b = connect(&s.base, &bora, Some(after)).await;
    let posted = s.post(&minsu, room, "live").await;
    let (_, live) = (posted.message_id, posted.position);
    missed.push(live);
    let frames = b.until(is_post("live")).await;
    let positions: Vec<i64> = frames
        .iter()
        .map(|f| f["position"].as_i64().unwrap())
        .collect();
    assert_eq!(
        positions, missed,
        "exactly the missed frames, then live: {frames:?}"
    );
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "message_posted",
            "message_edited",
            "message_deleted",
            "message_posted",
            "message_posted"
        ]
    );
}

#[tokio::test]
async fn resume_follows_membership_changes_made_while_away() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut b = connect(&s.base, &bora, None).await;
    s.post(&minsu, room, "before").await;
    let seen = b.until(is_post("before")).await.pop().unwrap();
    b.close().await;

    s.post(&minsu, room, "second").await;
    let kick = s
        .as_user(&minsu)
        .remove_member(room, bora.id)
        .await
        .expect("kick");
    s.post(&minsu, room, "not for bora").await;
    let (direct_room, direct_at) = direct(&s, &minsu, &bora).await;
    let posted = s.post(&minsu, direct_room, "hello directly").await;
    let (_, p_hello) = (posted.message_id, posted.position);

    let mut b = connect(&s.base, &bora, seen["position"].as_i64()).await;
    let frames = b.until(is_post("hello directly")).await;
    let summary: Vec<(&str, i64)> = frames
        .iter()
        .map(|f| (f["type"].as_str().unwrap(), f["position"].as_i64().unwrap()))
        .collect();
    // The replay is a view of now: of the room bora was kicked from, only
    // the kick (not "second", posted before it: she no longer has access).
    assert_eq!(
        summary,
        [
            ("member_kicked", kick.position),
            ("room_created", direct_at),
            ("message_posted", p_hello),
        ],
        "{frames:?}"
    );
    assert_eq!(frames[2]["room_id"], direct_room.to_string());
}

#[tokio::test]
async fn resuming_beyond_the_window_asks_for_a_resync() {
    let s = start().await;
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut b = connect(&s.base, &bora, None).await;
    s.post(&minsu, room, "seen").await;
    let seen = b.until(is_post("seen")).await.pop().unwrap();
    b.close().await;
    for i in 0..(readmodel::FRAMES_LEN + 5) {
        s.post(&minsu, room, &format!("away {i}")).await;
    }
    let mut b = connect(&s.base, &bora, seen["position"].as_i64()).await;
    let resync = b.next().await;
    assert_eq!(resync["type"], "resync_required");
    assert_eq!(resync["room_id"], room.to_string());
    s.post(&minsu, room, "after the resync").await;
    // Posts the projection had not applied at the resume come live.
    let live = b.until(is_post("after the resync")).await;
    let from = resync["position"].as_i64().unwrap();
    assert!(live.iter().all(|f| f["position"].as_i64().unwrap() > from));
}

#[tokio::test]
async fn two_query_processes_deliver_to_clients_connected_to_either() {
    let env = testkit::TestEnv::new().await;
    let ns = env.namespace.clone();
    let dir = |n: &str| std::env::temp_dir().join(format!("cotalk-test-{ns}-{n}"));
    let command = node(&support::config(&env, &dir("c")), Role::Command).await;
    let _projector = node(&support::config(&env, &dir("p")), Role::Projector).await;
    let query_a = node(&support::config(&env, &dir("qa")), Role::Query).await;
    let query_b = node(&support::config(&env, &dir("qb")), Role::Query).await;
    // The command node answers registration, login and posts.
    let s = Server {
        base: command.base.clone(),
        config: support::config(&env, &dir("c")),
        env,
        cancel: CancellationToken::new(),
        http: reqwest::Client::new(),
        api: testkit::client::Client::new(command.base.clone()),
    };
    let (minsu, bora) = (s.user("minsu").await, s.user("bora").await);
    let room = s.room(&minsu, "스트림", &[&bora]).await.room_id;
    let mut a = connect(&query_a.base, &minsu, None).await;
    let mut b = connect(&query_b.base, &bora, None).await;
    s.post(&minsu, room, "from minsu").await;
    s.post(&bora, room, "from bora").await;
    for c in [&mut a, &mut b] {
        let frames = c.until(is_post("from bora")).await;
        let bodies: Vec<&str> = frames.iter().filter_map(|f| f["body"].as_str()).collect();
        assert_eq!(bodies, ["from minsu", "from bora"]);
    }
    for name in ["c", "p", "qa", "qb"] {
        let _ = std::fs::remove_dir_all(dir(name));
    }
}
