//! Presence (issue 16): a user with an open stream is online; only friends
//! see `presence` and `last_seen_at` (`GET /v1/users/{id}`, `GET
//! /v1/me/friends`) and get `presence {user_id, online}` frames;
//! `show_presence: false` hides it. With two query nodes: a user online on
//! one node and not on the other is online, typing crosses nodes, and
//! closing one of two streams (on different nodes) keeps the user online.

mod stream_support;
mod support;

use contract::commands::{FriendRequest, UpdateMeRequest};
use contract::queries::PresenceResponse;
use cotalk::config::Role;
use serde_json::Value;
use std::time::Duration;
use stream_support::{connect, node, Client};
use support::{start, Server, User};
use testkit::client::Client as Api;
use tokio::time::Instant;

/// Make `a` and `b` friends; the position of the acceptance.
async fn befriend(s: &Server, a: &User, b: &User) -> i64 {
    s.as_user(a)
        .request_friend(&FriendRequest { user_id: b.id })
        .await
        .expect("ask");
    s.as_user(b)
        .accept_friend(a.id)
        .await
        .expect("accept")
        .position
}

/// `viewer`'s view of `user` on `api` until `done` holds (10 s at most).
async fn until_seen(
    api: &Api,
    viewer: &User,
    user: &User,
    done: impl Fn(Option<PresenceResponse>) -> bool,
) -> contract::queries::UserResponse {
    let api = api.auth(viewer.token.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = api.user(user.id).await.expect("user").body.clone();
        if done(seen.presence) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "presence never became right: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_presence(user: &User, online: bool) -> impl Fn(&Value) -> bool + '_ {
    move |f| f["type"] == "presence" && f["user_id"] == user.id.to_string() && f["online"] == online
}

/// Wait until `user`'s stream `c` is in its node's hub: post in `room` and
/// read up to it.
async fn settled(s: &Server, c: &mut Client, user: &User, room: domain::RoomId, what: &str) {
    s.post(user, room, what).await;
    c.until(stream_support::is_post(what)).await;
}

const ONLINE: Option<PresenceResponse> = Some(PresenceResponse::Online);
const OFFLINE: Option<PresenceResponse> = Some(PresenceResponse::Offline);

#[tokio::test]
async fn friends_see_presence_and_get_frames_others_see_nothing() {
    let s = start().await;
    let (a, friend, stranger) = (
        s.user("present").await,
        s.user("friendly").await,
        s.user("stranger").await,
    );
    let p = befriend(&s, &a, &friend).await;
    s.as_user(&a)
        .update_me(&UpdateMeRequest {
            status_message: Some("at lunch".into()),
            ..Default::default()
        })
        .await
        .expect("status");
    // Never connected: offline, no last_seen_at.
    let seen = s.as_user(&friend).at(p).user(a.id).await.unwrap().body;
    assert_eq!((seen.presence, seen.last_seen_at), (OFFLINE, None));
    let mut watching = connect(&s.base, &friend, None).await;
    let own = s.room(&friend, "own", &[]).await.room_id;
    settled(&s, &mut watching, &friend, own, "watching").await;

    let stream = connect(&s.base, &a, None).await;
    let frame = watching.until(is_presence(&a, true)).await;
    assert!(frame.last().unwrap().get("position").is_none());
    let seen = until_seen(&s.api, &friend, &a, |p| p == ONLINE).await;
    assert_eq!(seen.status_message, "at lunch");
    let list = s.as_user(&friend).friends().await.unwrap().body;
    assert_eq!(list.friends.len(), 1);
    assert_eq!(list.friends[0].presence, ONLINE);
    assert_eq!(list.friends[0].status_message, "at lunch");
    assert!(list.friends[0].last_seen_at.is_some());
    // A stranger, and the user themself, see no presence at all.
    for viewer in [&stranger, &a] {
        let seen = s.as_user(viewer).user(a.id).await.unwrap().body;
        assert_eq!((seen.presence, seen.last_seen_at), (None, None));
        let raw = s
            .call(reqwest::Method::GET, &format!("/v1/users/{}", a.id))
            .auth(viewer)
            .send()
            .await;
        assert!(raw.body.get("presence").is_none(), "{}", raw.body);
    }

    stream.close().await;
    watching.until(is_presence(&a, false)).await;
    let seen = until_seen(&s.api, &friend, &a, |p| p == OFFLINE).await;
    assert!(seen.last_seen_at.is_some());

    // Hidden: friends see nothing, in either answer.
    let p = s
        .as_user(&a)
        .update_me(&UpdateMeRequest {
            show_presence: Some(false),
            ..Default::default()
        })
        .await
        .expect("hide")
        .position;
    let _back = connect(&s.base, &a, None).await;
    let seen = s.as_user(&friend).at(p).user(a.id).await.unwrap().body;
    assert_eq!((seen.presence, seen.last_seen_at), (None, None));
    let list = s.as_user(&friend).at(p).friends().await.unwrap().body;
    assert_eq!(list.friends[0].presence, None);
}

/// `user`'s streams recorded in Redis (any node).
async fn streams_of(s: &Server, user: &User) -> usize {
    let client = redis::Client::open(s.env.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = readmodel::live::presence_key(&s.env.namespace, user.id);
    redis::cmd("ZCARD")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn until_streams(s: &Server, user: &User, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while streams_of(s, user).await != n {
        assert!(Instant::now() < deadline, "never {n} streams");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until a node serves `user` (its projection knows them).
async fn until_known(base: &str, user: &User) {
    let api = Api::new(base).auth(user.token.clone());
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.me().await.is_err() {
        assert!(Instant::now() < deadline, "the node never knew the user");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_query_nodes_agree_on_presence_and_carry_typing() {
    let s = start().await;
    // Its own data directory: its own search replica.
    let mut config = s.config.clone();
    config.data_dir = config.data_dir.join("second");
    let second = node(&config, Role::Query).await;
    let (a, b) = (s.user("roaming").await, s.user("watcher").await);
    befriend(&s, &a, &b).await;
    let room = s.room(&a, "across", &[&b]).await.room_id;
    until_known(&second.base, &b).await;
    let api2 = Api::new(&second.base);

    // B on node 2, A on node 1.
    let mut sb: Client = connect(&second.base, &b, None).await;
    settled(&s, &mut sb, &b, room, "b-here").await;
    let mut on_one = connect(&s.base, &a, None).await;
    sb.until(is_presence(&a, true)).await;
    until_seen(&api2, &b, &a, |p| p == ONLINE).await;

    // A types through node 1; B gets it on node 2.
    s.as_user(&a).typing(room).await.expect("typing");
    sb.until(|f| f["type"] == "typing" && f["user_id"] == a.id.to_string())
        .await;

    // A opens a second stream on node 2 and closes the one on node 1:
    // still online, on either node.
    let on_two = connect(&second.base, &a, None).await;
    until_streams(&s, &a, 2).await;
    s.post(&a, room, "settle").await;
    on_one.until(stream_support::is_post("settle")).await;
    on_one.close().await;
    until_streams(&s, &a, 1).await;
    for api in [&s.api, &api2] {
        let seen = api.auth(b.token.clone()).user(a.id).await.unwrap().body;
        assert_eq!(seen.presence, ONLINE);
    }
    // Closing the last one: offline everywhere, and B is told.
    on_two.close().await;
    sb.until(is_presence(&a, false)).await;
    until_seen(&s.api, &b, &a, |p| p == OFFLINE).await;
    until_seen(&api2, &b, &a, |p| p == OFFLINE).await;
}

#[tokio::test]
async fn showing_and_hiding_presence_tells_connected_friends() {
    let s = start().await;
    let (a, friend) = (s.user("shy").await, s.user("curious").await);
    befriend(&s, &a, &friend).await;
    let mut watching = connect(&s.base, &friend, None).await;
    let own = s.room(&friend, "own", &[]).await.room_id;
    settled(&s, &mut watching, &friend, own, "watching").await;
    let _stream = connect(&s.base, &a, None).await;
    watching.until(is_presence(&a, true)).await;

    let show = |on| UpdateMeRequest {
        show_presence: Some(on),
        ..Default::default()
    };
    s.as_user(&a).update_me(&show(false)).await.expect("hide");
    watching.until(is_presence(&a, false)).await;
    s.as_user(&a).update_me(&show(true)).await.expect("show");
    watching.until(is_presence(&a, true)).await;
}

/// Entries in `user`'s presence set as a node leaves them when it dies:
/// written like a node's, alive for `ttl_ms` more, never refreshed or
/// removed.
async fn left_by_a_dead_node(s: &Server, user: &User, ttl_ms: u64) {
    let client = redis::Client::open(s.env.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    let now = chrono::Utc::now().timestamp_millis();
    readmodel::live::queue_arrive(
        &mut pipe,
        &s.env.namespace,
        user.id,
        "dead-node-stream",
        now,
        ttl_ms,
    );
    let _: Vec<redis::Value> = pipe.query_async(&mut conn).await.unwrap();
}

#[tokio::test]
async fn a_user_whose_node_died_goes_offline_for_friends_once() {
    let s = start().await;
    // A second node sweeps too: the offline frame must still come once.
    let mut config = s.config.clone();
    config.data_dir = config.data_dir.join("second");
    let _second = node(&config, Role::Query).await;
    let (a, friend) = (s.user("crashed").await, s.user("waiting").await);
    befriend(&s, &a, &friend).await;
    let mut watching = connect(&s.base, &friend, None).await;
    let own = s.room(&friend, "own", &[]).await.room_id;
    settled(&s, &mut watching, &friend, own, "watching").await;

    left_by_a_dead_node(&s, &a, 1_500).await;
    let seen = s.as_user(&friend).user(a.id).await.unwrap().body;
    assert_eq!(seen.presence, ONLINE);
    let got = watching.until(is_presence(&a, false)).await;
    assert!(got.iter().all(|f| !is_presence(&a, true)(f)), "{got:?}");
    assert_eq!(streams_of(&s, &a).await, 0);
    until_seen(&s.api, &friend, &a, |p| p == OFFLINE).await;
    // Both nodes have swept since: no second frame.
    tokio::time::sleep(query::stream::PRESENCE_SWEEP_EVERY * 2).await;
    s.post(&friend, own, "later").await;
    let got = watching.until(stream_support::is_post("later")).await;
    assert!(got.iter().all(|f| f["type"] != "presence"), "{got:?}");
}
