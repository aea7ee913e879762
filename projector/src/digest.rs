//! Deterministic digests (sha256, hex) of a projection generation's whole
//! contents, used to prove that a projection built live equals one rebuilt
//! from the log. The checkpoint is left out: two generations holding the same
//! data are equal even if one has seen more irrelevant events.

use crate::error::Result;
use futures::TryStreamExt;
use readmodel::generation::scan_keys;
use readmodel::sql::{
    calendar_feeds_table, meetup_attendees_table, meetups_table, messages_table,
    notification_reads_table, notifications_table, notify_blocks_table, notify_members_table,
    notify_mutes_table,
};
use readmodel::{RedisKeys, RedisTarget, Timeouts};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use std::time::Duration;

/// Digest of one generation of the `redis` projection: every key but the
/// checkpoint, with hash fields sorted and sorted-set members with scores.
pub async fn redis_digest(redis_url: &str, namespace: &str, generation: i64) -> Result<String> {
    let timeouts = Timeouts::new(Duration::from_secs(2), Duration::from_secs(30));
    let mut conn = RedisTarget::open(redis_url)?.connect(timeouts).await?;
    let keys = RedisKeys::new(namespace, generation);
    let checkpoint = keys.checkpoint();
    // The sweeper's work queue empties as it deletes bytes: not a view.
    let work_queue = keys.discarded_uploads();
    let names: Vec<String> = scan_keys(&mut conn, keys.prefix())
        .await?
        .into_iter()
        .filter(|k| *k != checkpoint && *k != work_queue)
        .collect();
    let mut hasher = Sha256::new();
    for chunk in names.chunks(200) {
        let mut types = redis::pipe();
        for k in chunk {
            types.cmd("TYPE").arg(k);
        }
        let types: Vec<String> = types.query_async(&mut conn).await?;
        let mut values = redis::pipe();
        for (k, t) in chunk.iter().zip(&types) {
            match t.as_str() {
                "hash" => values.hgetall(k),
                "zset" => values.zrange_withscores(k, 0, -1),
                "set" => values.smembers(k),
                "list" => values.lrange(k, 0, -1),
                _ => values.get(k),
            };
        }
        let values: Vec<redis::Value> = values.query_async(&mut conn).await?;
        for ((k, t), v) in chunk.iter().zip(&types).zip(values) {
            // The key without the generation prefix: two generations with
            // the same contents must have the same digest.
            hasher.update(&k.as_bytes()[keys.prefix().len()..]);
            hasher.update([0]);
            hasher.update(t.as_bytes());
            hasher.update([0]);
            for item in canonical(t, v)? {
                hasher.update(item.as_bytes());
                hasher.update([1]);
            }
            hasher.update([2]);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A value as a list of strings in a fixed order.
fn canonical(kind: &str, v: redis::Value) -> Result<Vec<String>> {
    Ok(match kind {
        "hash" => {
            let mut pairs: Vec<(String, String)> = redis::from_owned_redis_value(v)?;
            pairs.sort();
            pairs.into_iter().flat_map(|(f, x)| [f, x]).collect()
        }
        "zset" => {
            let pairs: Vec<(String, f64)> = redis::from_owned_redis_value(v)?;
            let mut items: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(m, s)| (m, format!("{s}")))
                .collect();
            items.sort();
            items.into_iter().flat_map(|(m, s)| [m, s]).collect()
        }
        "set" => {
            let mut items: Vec<String> = redis::from_owned_redis_value(v)?;
            items.sort();
            items
        }
        "list" => redis::from_owned_redis_value(v)?,
        _ => vec![redis::from_owned_redis_value::<Option<String>>(v)?.unwrap_or_default()],
    })
}

/// Digest of one generation of the `history` projection, row by row in
/// `(room_id, seq)` order, then its meet-up tables, then the notification
/// feed and the state it is computed from.
pub async fn history_digest(pool: &PgPool, generation: i64) -> Result<String> {
    let sql = format!(
        "SELECT room_id::text, seq, message_id::text, author_id::text, body,
                coalesce(reply_to::text, ''),
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),
                coalesce(to_char(edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), ''),
                deleted, attachments::text, mentions::text
           FROM {} ORDER BY room_id, seq",
        messages_table(generation)
    );
    let mut hasher = Sha256::new();
    let mut rows = sqlx::query(&sql).fetch(pool);
    while let Some(row) = rows.try_next().await? {
        for i in 0..11 {
            let field = match i {
                1 => row.try_get::<i64, _>(i)?.to_string(),
                8 => row.try_get::<bool, _>(i)?.to_string(),
                _ => row.try_get::<String, _>(i)?,
            };
            hasher.update(field.as_bytes());
            hasher.update([1]);
        }
        hasher.update([2]);
    }
    meetups_digest(pool, generation, &mut hasher).await?;
    Ok(hex::encode(hasher.finalize()))
}

/// The meet-up tables of the same generation, in key order, every column
/// as text (`<null>` for NULL), added to the history digest.
async fn meetups_digest(pool: &PgPool, generation: i64, hasher: &mut Sha256) -> Result<()> {
    let statements = [
        format!(
            "SELECT concat_ws('|', meetup_id, room_id, organizer_id, title,
                    to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),
                    coalesce(to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '<null>'),
                    coalesce(place, '<null>'), coalesce(description, '<null>'),
                    remind_before_minutes, cancelled, sequence,
                    to_char(planned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),
                    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))
               FROM {} ORDER BY meetup_id",
            meetups_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', meetup_id, user_id, coalesce(rsvp, '<null>'))
               FROM {} ORDER BY meetup_id, user_id",
            meetup_attendees_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', user_id, token_hash) FROM {} ORDER BY user_id",
            calendar_feeds_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', user_id, position, kind, coalesce(room_id::text, '<null>'),
                    coalesce(message_id::text, '<null>'), actor_id,
                    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))
               FROM {} ORDER BY user_id, position",
            notifications_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', user_id, position) FROM {} ORDER BY user_id",
            notification_reads_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', room_id, user_id) FROM {} ORDER BY room_id, user_id",
            notify_members_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', room_id, user_id,
                    coalesce(to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '<null>'))
               FROM {} ORDER BY room_id, user_id",
            notify_mutes_table(generation)
        ),
        format!(
            "SELECT concat_ws('|', blocker, blocked) FROM {} ORDER BY blocker, blocked",
            notify_blocks_table(generation)
        ),
    ];
    for sql in statements {
        let mut rows = sqlx::query_scalar::<_, String>(&sql).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            hasher.update(row.as_bytes());
            hasher.update([2]);
        }
        hasher.update([3]);
    }
    Ok(())
}
