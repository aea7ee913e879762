//! Writes read models the way the projector does (per `domain::views`), so
//! the query routes can be tested without the projector, and drives the
//! router in-process.

use api::TokenKeys;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::views::{
    messages_table, preview, FriendEntryView, FriendState, LastMessageView, MemberView,
    MessageView, ProfileView, RedisKeys, Role, RoomView, TIMELINE_LEN,
};
use domain::{MessageId, RoomId, UserId};
use query::{QueryConfig, QueryState};
use redis::AsyncCommands;
use serde_json::Value;
use std::sync::Arc;
use testkit::TestEnv;
use tower::ServiceExt;
use uuid::Uuid;

pub struct Fx {
    pub env: TestEnv,
    pub redis: redis::aio::MultiplexedConnection,
    pub tokens: Arc<TokenKeys>,
    pub state: QueryState,
    pub app: Router,
}

/// A fixed instant plus `secs` seconds, so answers are predictable.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + Duration::seconds(secs)
}

pub fn uid(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x1000_0000 + n))
}

pub fn rid(n: u128) -> RoomId {
    RoomId(Uuid::from_u128(0x2000_0000 + n))
}

pub fn profile(id: UserId, name: &str) -> ProfileView {
    ProfileView {
        user_id: id,
        username: name.to_owned(),
        display_name: format!("{name} display"),
        created_at: at(0),
    }
}

pub fn message(room: RoomId, seq: u64, author: UserId) -> MessageView {
    MessageView {
        message_id: MessageId(Uuid::from_u128(
            ((room.0.as_u128() & 0xffff) << 32) + seq as u128,
        )),
        room_id: room,
        seq,
        author_id: author,
        body: format!("message {seq} 안녕하세요"),
        reply_to: (seq > 1 && seq % 7 == 0).then(|| MessageId(Uuid::from_u128(seq as u128 - 1))),
        created_at: at(seq as i64),
        edited_at: (seq % 5 == 0).then(|| at(seq as i64 + 30)),
        deleted: false,
    }
}

impl Fx {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let tokens = Arc::new(TokenKeys::new(
            b"test-secret-test-secret-test-sec",
            Duration::hours(1),
        ));
        let state = QueryState::connect(QueryConfig::new(
            env.redis_url.clone(),
            env.read_database_url.clone(),
            env.namespace.clone(),
            tokens.clone(),
        ))
        .await
        .expect("query state");
        let redis = redis::Client::open(env.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("redis (is it up? run scripts/services)");
        let app = query::router(state.clone());
        Self {
            env,
            redis,
            tokens,
            state,
            app,
        }
    }

    /// A router over other state (a broken dependency, say).
    pub fn with_state(&self, state: QueryState) -> Router {
        query::router(state)
    }

    pub fn keys(&self, generation: i64) -> RedisKeys {
        RedisKeys::new(&self.env.namespace, generation)
    }

    /// A token for `user`, who is taken to be registered: most tests write
    /// only the read models they look at, not the caller's profile, so the
    /// user goes straight into the node's cache of known users (`auth.rs`
    /// tests the check itself with [`Fx::get_with_token`]).
    pub fn token(&self, user: UserId) -> String {
        self.state.known_users().insert(user);
        self.tokens.issue(user, Utc::now()).unwrap().0
    }

    pub async fn set_pointer(&mut self, generation: i64) {
        let _: () = self
            .redis
            .set(
                RedisKeys::generation_pointer(&self.env.namespace),
                generation,
            )
            .await
            .unwrap();
    }

    pub async fn set_checkpoint(&mut self, generation: i64, position: i64) {
        let key = self.keys(generation).checkpoint();
        let _: () = self.redis.set(key, position).await.unwrap();
    }

    pub async fn put_user(&mut self, generation: i64, p: &ProfileView) {
        let k = self.keys(generation);
        let _: () = redis::pipe()
            .set(k.user(p.user_id), serde_json::to_string(p).unwrap())
            .set(k.username(&p.username), p.user_id.to_string())
            .query_async(&mut self.redis)
            .await
            .unwrap();
    }

    pub async fn put_friend(
        &mut self,
        generation: i64,
        owner: UserId,
        other: UserId,
        state: FriendState,
        since: i64,
    ) {
        let entry = FriendEntryView {
            state,
            since: at(since),
        };
        let key = self.keys(generation).friends(owner);
        let _: () = self
            .redis
            .hset(
                key,
                other.to_string(),
                serde_json::to_string(&entry).unwrap(),
            )
            .await
            .unwrap();
    }

    /// A room with members (the first is the owner) and no messages.
    pub async fn put_room(
        &mut self,
        generation: i64,
        room: RoomId,
        name: &str,
        members: &[UserId],
        created: i64,
    ) {
        let k = self.keys(generation);
        let view = RoomView {
            room_id: room,
            name: name.to_owned(),
            owner_id: members[0],
            direct: false,
            created_at: at(created),
            last_seq: 0,
            last_message: None,
            last_activity_at: at(created),
        };
        let mut pipe = redis::pipe();
        pipe.set(k.room(room), serde_json::to_string(&view).unwrap());
        for (i, m) in members.iter().enumerate() {
            let member = MemberView {
                user_id: *m,
                role: if i == 0 { Role::Owner } else { Role::Member },
                joined_at: at(created + i as i64),
            };
            pipe.hset(
                k.members(room),
                m.to_string(),
                serde_json::to_string(&member).unwrap(),
            )
            .zadd(
                k.rooms_of(*m),
                room.to_string(),
                at(created).timestamp_millis(),
            );
        }
        let _: () = pipe.query_async(&mut self.redis).await.unwrap();
    }

    /// Post messages into the Redis projection as the projector would: the
    /// timeline (trimmed), live and own seqs, the room view and room lists.
    pub async fn post(&mut self, generation: i64, msgs: &[MessageView]) {
        let k = self.keys(generation);
        for m in msgs {
            let room_key = k.room(m.room_id);
            let raw: String = self.redis.get(&room_key).await.unwrap();
            let mut view: RoomView = serde_json::from_str(&raw).unwrap();
            view.last_seq = m.seq;
            view.last_message = Some(LastMessageView {
                message_id: m.message_id,
                seq: m.seq,
                author_id: m.author_id,
                body_preview: preview(&m.body),
                created_at: m.created_at,
            });
            view.last_activity_at = m.created_at;
            let members: Vec<String> = self.redis.hkeys(k.members(m.room_id)).await.unwrap();
            let mut pipe = redis::pipe();
            pipe.set(&room_key, serde_json::to_string(&view).unwrap())
                .zadd(
                    k.timeline(m.room_id),
                    serde_json::to_string(m).unwrap(),
                    m.seq,
                )
                .zremrangebyrank(k.timeline(m.room_id), 0, -(TIMELINE_LEN as isize) - 1)
                .zadd(k.live_seqs(m.room_id), m.seq, m.seq)
                .zadd(k.own_seqs(m.room_id, m.author_id), m.seq, m.seq)
                .hset(k.read_markers(m.room_id), m.author_id.to_string(), m.seq);
            for member in members {
                pipe.zadd(
                    k.rooms_of(member.parse().unwrap()),
                    m.room_id.to_string(),
                    m.created_at.timestamp_millis(),
                );
            }
            let _: () = pipe.query_async(&mut self.redis).await.unwrap();
        }
    }

    /// Mark a message deleted in the Redis projection.
    pub async fn delete(&mut self, generation: i64, m: &MessageView) {
        let k = self.keys(generation);
        let mut gone = m.clone();
        gone.deleted = true;
        gone.body.clear();
        let removed: usize = self
            .redis
            .zrembyscore(k.timeline(m.room_id), m.seq, m.seq)
            .await
            .unwrap();
        let mut pipe = redis::pipe();
        if removed > 0 {
            pipe.zadd(
                k.timeline(m.room_id),
                serde_json::to_string(&gone).unwrap(),
                m.seq,
            );
        }
        let _: () = pipe
            .zrem(k.live_seqs(m.room_id), m.seq)
            .zrem(k.own_seqs(m.room_id, m.author_id), m.seq)
            .query_async(&mut self.redis)
            .await
            .unwrap();
    }

    pub async fn set_read_marker(&mut self, generation: i64, room: RoomId, user: UserId, seq: u64) {
        let key = self.keys(generation).read_markers(room);
        let _: () = self.redis.hset(key, user.to_string(), seq).await.unwrap();
    }

    /// Create the history table of a generation, as the projector does.
    pub async fn create_history(&self, generation: i64) {
        sqlx::query(&format!(
            "CREATE TABLE {} (room_id uuid NOT NULL, seq bigint NOT NULL, message_id uuid NOT NULL,
               author_id uuid NOT NULL, body text NOT NULL, reply_to uuid, created_at timestamptz NOT NULL,
               edited_at timestamptz, deleted bool NOT NULL DEFAULT false, PRIMARY KEY (room_id, seq))",
            messages_table(generation)
        ))
        .execute(&self.env.read_pool)
        .await
        .unwrap();
    }

    pub async fn insert_history(&self, generation: i64, msgs: &[MessageView]) {
        for m in msgs {
            sqlx::query(&format!(
                "INSERT INTO {} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                 ON CONFLICT (room_id, seq) DO UPDATE SET body = EXCLUDED.body, deleted = EXCLUDED.deleted",
                messages_table(generation)
            ))
            .bind(m.room_id.0)
            .bind(m.seq as i64)
            .bind(m.message_id.0)
            .bind(m.author_id.0)
            // Deleted rows keep whatever body the projector left; the query
            // side must show "" anyway.
            .bind(if m.deleted { "stale" } else { m.body.as_str() })
            .bind(m.reply_to.map(|r| r.0))
            .bind(m.created_at)
            .bind(m.edited_at)
            .bind(m.deleted)
            .execute(&self.env.read_pool)
            .await
            .unwrap();
        }
    }

    pub async fn set_history(&self, generation: i64, position: i64) {
        sqlx::query(
            "INSERT INTO projection_checkpoints (projection, generation, position) VALUES ('history', $1, $2)
             ON CONFLICT (projection, generation) DO UPDATE SET position = EXCLUDED.position",
        )
        .bind(generation)
        .bind(position)
        .execute(&self.env.read_pool)
        .await
        .unwrap();
    }

    pub async fn set_history_pointer(&self, generation: i64) {
        sqlx::query(
            "INSERT INTO projection_generations (projection, generation) VALUES ('history', $1)
             ON CONFLICT (projection) DO UPDATE SET generation = EXCLUDED.generation",
        )
        .bind(generation)
        .execute(&self.env.read_pool)
        .await
        .unwrap();
    }

    /// GET `path` as `user` with extra headers: status, headers, JSON body.
    pub async fn get(&self, path: &str, user: Option<UserId>, headers: &[(&str, &str)]) -> Reply {
        Self::get_on(&self.app, self, path, user, headers).await
    }

    pub async fn get_on(
        app: &Router,
        fx: &Fx,
        path: &str,
        user: Option<UserId>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let token = user.map(|u| fx.token(u));
        Self::request(app, path, token.as_deref(), headers).await
    }

    /// GET `path` with a bearer `token` as it is.
    pub async fn get_with_token(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Reply {
        Self::request(&self.app, path, Some(token), headers).await
    }

    async fn request(
        app: &Router,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Remove this test's Redis keys.
    pub async fn cleanup(mut self) {
        let keys: Vec<String> = self
            .redis
            .keys(format!("{}:*", self.env.namespace))
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = self.redis.del(keys).await.unwrap();
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn position(&self) -> i64 {
        self.headers
            .get("x-position")
            .unwrap_or_else(|| panic!("no x-position in {self:?}"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        &self.body
    }
}
