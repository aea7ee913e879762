//! Writes read models with the projector's own writers (`readmodel`), so
//! the query routes can be tested without running the projector, and
//! drives the router in-process.

use api::TokenKeys;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::views::{
    FriendEntryView, FriendState, LastMessageView, MemberView, MessageView, ProfileView, Role,
    RoomView,
};
use domain::{MessageId, RoomId, UserId};
use query::{QueryConfig, QueryState};
use readmodel::sql::{history_table_ddl, messages_table, CHECKPOINTS_TABLE, GENERATIONS_TABLE};
use readmodel::{friends, generation, profiles, rooms, timeline, unread, RedisKeys, Replies};
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
        status_message: String::new(),
        show_presence: true,
        deleted_user: false,
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
        attachments: Vec::new(),
        mentions: Vec::new(),
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

    /// Run the writes `pipe` holds.
    async fn run(&mut self, pipe: &redis::Pipeline) {
        let _: () = pipe.query_async(&mut self.redis).await.unwrap();
    }

    /// Run the reads `pipe` holds.
    async fn read(&mut self, pipe: &redis::Pipeline) -> Replies {
        Replies::new(pipe.query_async(&mut self.redis).await.unwrap())
    }

    pub async fn set_pointer(&mut self, generation: i64) {
        generation::set_current(&mut self.redis, &self.env.namespace, generation)
            .await
            .unwrap();
    }

    pub async fn set_checkpoint(&mut self, generation: i64, position: i64) {
        let mut pipe = redis::pipe();
        generation::set_checkpoint(&mut pipe, &self.keys(generation), position);
        self.run(&pipe).await;
    }

    pub async fn put_user(&mut self, generation: i64, p: &ProfileView) {
        let k = self.keys(generation);
        let mut pipe = redis::pipe();
        profiles::put(&mut pipe, &k, p);
        profiles::put_username(&mut pipe, &k, &p.username, p.user_id);
        self.run(&pipe).await;
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
        let mut pipe = redis::pipe();
        friends::write(
            &mut pipe,
            &self.keys(generation),
            owner,
            [(other, Some(&entry))],
        );
        self.run(&pipe).await;
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
        let views: Vec<MemberView> = members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberView {
                user_id: *m,
                role: if i == 0 { Role::Owner } else { Role::Member },
                joined_at: at(created + i as i64),
            })
            .collect();
        let mut pipe = redis::pipe();
        rooms::put(&mut pipe, &k, &view);
        rooms::write_members(
            &mut pipe,
            &k,
            room,
            views.iter().map(|m| (m.user_id, Some(m))),
        );
        for m in members {
            rooms::write_list(
                &mut pipe,
                &k,
                *m,
                [(room, Some(at(created).timestamp_millis()))],
            );
        }
        self.run(&pipe).await;
    }

    /// Post messages into the Redis projection as the projector would: the
    /// timeline (trimmed), live and own seqs, the room view and room lists.
    pub async fn post(&mut self, generation: i64, msgs: &[MessageView]) {
        let k = self.keys(generation);
        for m in msgs {
            let mut pipe = redis::pipe();
            rooms::queue_get(&mut pipe, &k, m.room_id);
            rooms::queue_members(&mut pipe, &k, m.room_id);
            let mut replies = self.read(&pipe).await;
            let mut view: RoomView = rooms::take(&mut replies).unwrap().unwrap();
            let members = rooms::take_members(&mut replies).unwrap();
            view.last_seq = m.seq;
            view.last_message = Some(LastMessageView::of(m));
            view.last_activity_at = m.created_at;
            let mut pipe = redis::pipe();
            rooms::put(&mut pipe, &k, &view);
            timeline::write(
                &mut pipe,
                &k,
                m.room_id,
                &[(m.seq, m)],
                Some((m.seq, m.seq)),
            );
            unread::write_live(&mut pipe, &k, m.room_id, [(m.seq, true)]);
            unread::write_own(&mut pipe, &k, m.room_id, m.author_id, [(m.seq, true)]);
            unread::write_markers(&mut pipe, &k, m.room_id, [(m.author_id, Some(m.seq))]);
            for member in members.keys() {
                let score = m.created_at.timestamp_millis();
                rooms::write_list(&mut pipe, &k, *member, [(m.room_id, Some(score))]);
            }
            self.run(&pipe).await;
        }
    }

    /// Mark a message deleted in the Redis projection.
    pub async fn delete(&mut self, generation: i64, m: &MessageView) {
        let k = self.keys(generation);
        let mut gone = m.clone();
        gone.deleted = true;
        gone.body.clear();
        let mut pipe = redis::pipe();
        timeline::queue_at(&mut pipe, &k, m.room_id, m.seq);
        let stored = timeline::take_at(&mut self.read(&pipe).await).unwrap();
        let mut pipe = redis::pipe();
        if stored.is_some() {
            timeline::write(&mut pipe, &k, m.room_id, &[(m.seq, &gone)], None);
        }
        unread::write_live(&mut pipe, &k, m.room_id, [(m.seq, false)]);
        unread::write_own(&mut pipe, &k, m.room_id, m.author_id, [(m.seq, false)]);
        self.run(&pipe).await;
    }

    pub async fn set_read_marker(&mut self, generation: i64, room: RoomId, user: UserId, seq: u64) {
        let mut pipe = redis::pipe();
        unread::write_markers(&mut pipe, &self.keys(generation), room, [(user, Some(seq))]);
        self.run(&pipe).await;
    }

    /// Create the history table of a generation, as the projector does.
    pub async fn create_history(&self, generation: i64) {
        for stmt in history_table_ddl(&messages_table(generation), migrations::QUERY_ROLE) {
            sqlx::query(&stmt)
                .execute(&self.env.read_pool)
                .await
                .unwrap();
        }
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
        sqlx::query(&format!(
            "INSERT INTO {CHECKPOINTS_TABLE} (projection, generation, position) VALUES ('history', $1, $2)
             ON CONFLICT (projection, generation) DO UPDATE SET position = EXCLUDED.position",
        ))
        .bind(generation)
        .bind(position)
        .execute(&self.env.read_pool)
        .await
        .unwrap();
    }

    pub async fn set_history_pointer(&self, generation: i64) {
        sqlx::query(&format!(
            "INSERT INTO {GENERATIONS_TABLE} (projection, generation) VALUES ('history', $1)
             ON CONFLICT (projection) DO UPDATE SET generation = EXCLUDED.generation",
        ))
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
