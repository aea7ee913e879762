//! Reads of the notification feed (`notifications_g{N}` and the read
//! positions, written by the `history` projection under its checkpoint).
//! As in [`crate::meetups`], one statement reads the generation pointer,
//! that generation's checkpoint and the rows, so they come from one
//! snapshot, and rows are read only once the checkpoint reaches the
//! caller's bound. What a user the caller blocks did is left out (the feed
//! keeps it, so unblocking shows it again).

use crate::failure::{dependency, Fail};
use crate::history::{head_sql, read_consistent};
use crate::state::QueryState;
use crate::wait::Bound;
use chrono::{DateTime, Utc};
use contract::notifications::NotificationsResponse;
use domain::notification::{NotificationId, NotificationKind, NotificationView};
use domain::{MessageId, RoomId, UserId};
use readmodel::sql::{notification_reads_table, notifications_table, notify_blocks_table};
use readmodel::ProjectionName;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

fn sql(generation: i64) -> String {
    let feed = notifications_table(generation);
    let reads = notification_reads_table(generation);
    let blocks = notify_blocks_table(generation);
    let visible = format!(
        "n.user_id = $2 AND NOT EXISTS (
           SELECT 1 FROM {blocks} b WHERE b.blocker = $2 AND b.blocked = n.actor_id)"
    );
    format!(
        "{head}
         SELECT c.generation, c.position, rd.read, u.unread,
                r.position, r.kind, r.room_id, r.message_id, r.actor_id, r.at
         FROM c
         CROSS JOIN LATERAL (
           SELECT COALESCE((SELECT position FROM {reads} WHERE user_id = $2), 0) AS read
         ) rd
         LEFT JOIN LATERAL (
           SELECT count(*) AS unread FROM {feed} n WHERE {visible} AND n.position > rd.read
         ) u ON c.position >= $5
         LEFT JOIN LATERAL (
           SELECT n.* FROM {feed} n
           WHERE {visible} AND n.position < $3
           ORDER BY n.position DESC
           LIMIT $4
         ) r ON c.position >= $5
         ORDER BY r.position DESC",
        head = head_sql(),
    )
}

/// One page of `me`'s feed: at most `limit` notifications created before
/// position `before`, newest first, and the checkpoint it reflects; waits
/// (within `bound`) for the checkpoint.
pub(crate) async fn read(
    state: &QueryState,
    me: UserId,
    before: i64,
    limit: usize,
    bound: Bound,
) -> Result<(NotificationsResponse, i64), Fail> {
    let pool = state.pool();
    let at = bound.position;
    // One more than asked: whether there is a next page.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let (rows, position) = read_consistent(
        state,
        bound,
        "notifications read",
        notifications_table,
        |generation| {
            let sql = sql(generation);
            async move {
                sqlx::query(&sql)
                    .bind(ProjectionName::History.as_str())
                    .bind(me.0)
                    .bind(before)
                    .bind(fetch)
                    .bind(at)
                    .fetch_all(pool)
                    .await
            }
        },
    )
    .await?;
    let bad = |e| Fail::from(dependency("notifications row", e));
    let unread_count = match rows.first() {
        Some(row) => row.try_get::<Option<i64>, _>(3).map_err(bad)?.unwrap_or(0),
        None => 0,
    };
    let mut notifications = Vec::with_capacity(limit);
    for row in &rows {
        if let Some(n) = decode(me, row).map_err(bad)? {
            notifications.push(n);
        }
    }
    let next_cursor = if notifications.len() > limit {
        notifications.truncate(limit);
        notifications
            .last()
            .and_then(|n| n.notification_id.position_for(me))
            .map(|p| p.to_string())
    } else {
        None
    };
    let answer = NotificationsResponse {
        notifications,
        unread_count: unread_count.max(0) as u64,
        next_cursor,
    };
    Ok((answer, position))
}

/// One notification of a row; `None` for the head-only row of an empty page.
fn decode(me: UserId, row: &PgRow) -> Result<Option<NotificationView>, sqlx::Error> {
    let Some(position) = row.try_get::<Option<i64>, _>(4)? else {
        return Ok(None);
    };
    let read: i64 = row.try_get(2)?;
    let kind: String = row.try_get::<Option<String>, _>(5)?.unwrap_or_default();
    let Some(kind) = NotificationKind::parse(&kind) else {
        return Err(sqlx::Error::Decode(
            format!("unknown notification kind {kind}").into(),
        ));
    };
    Ok(Some(NotificationView {
        notification_id: NotificationId::of(position, me),
        kind,
        room_id: row.try_get::<Option<Uuid>, _>(6)?.map(RoomId),
        message_id: row.try_get::<Option<Uuid>, _>(7)?.map(MessageId),
        actor_id: UserId(row.try_get::<Option<Uuid>, _>(8)?.unwrap_or_default()),
        at: row
            .try_get::<Option<DateTime<Utc>>, _>(9)?
            .unwrap_or_default(),
        read: position <= read,
    }))
}
