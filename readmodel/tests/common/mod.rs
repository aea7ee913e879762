//! What the round-trip tests share: a fresh namespace on the real Redis,
//! transactions as the projector writes and query reads them.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use domain::ids::{MessageId, RoomId, UserId};
use domain::views::MessageView;
use readmodel::{generation, RedisConn, RedisKeys, Replies};
use testkit::TestEnv;
use uuid::Uuid;

pub struct Fx {
    _env: TestEnv,
    pub namespace: String,
    pub conn: RedisConn,
    pub keys: RedisKeys,
}

impl Fx {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let conn = redis::Client::open(env.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .map(RedisConn::Multiplexed)
            .expect("redis (is it up? run scripts/services)");
        let keys = RedisKeys::new(&env.namespace, 1);
        Self {
            namespace: env.namespace.clone(),
            _env: env,
            conn,
            keys,
        }
    }

    /// Remove this test's keys.
    pub async fn cleanup(mut self) {
        let prefix = format!("{}:", self.namespace);
        for key in generation::scan_keys(&mut self.conn, &prefix)
            .await
            .unwrap()
        {
            let _: () = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut self.conn)
                .await
                .unwrap();
        }
    }

    /// Run `write` as one transaction, as the projector does.
    pub async fn write(&mut self, write: impl FnOnce(&RedisKeys, &mut redis::Pipeline)) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        write(&self.keys, &mut pipe);
        let _: () = pipe.query_async(&mut self.conn).await.unwrap();
    }

    /// Run the reads `queue` adds, as one transaction, as query does.
    pub async fn read(&mut self, queue: impl FnOnce(&RedisKeys, &mut redis::Pipeline)) -> Replies {
        let mut pipe = redis::pipe();
        pipe.atomic();
        queue(&self.keys, &mut pipe);
        Replies::new(pipe.query_async(&mut self.conn).await.unwrap())
    }
}

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x1000 + n))
}

pub fn room(n: u128) -> RoomId {
    RoomId(Uuid::from_u128(0x2000 + n))
}

pub fn message(room: RoomId, seq: u64) -> MessageView {
    MessageView {
        message_id: MessageId(Uuid::from_u128(0x3000 + seq as u128)),
        room_id: room,
        seq,
        author_id: user(1),
        body: format!("m{seq} \"quoted\" 안녕"),
        reply_to: None,
        created_at: at(seq as i64),
        edited_at: None,
        deleted: false,
        attachments: Vec::new(),
        mentions: Vec::new(),
    }
}
