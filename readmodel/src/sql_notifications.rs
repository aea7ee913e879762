//! Names in the read database of the notification feed (issue 16): tables
//! per generation of the `history` projection, written in the same
//! transaction as the messages and meet-ups and under the same checkpoint,
//! so one rebuild, one pointer and one digest cover them.
//!
//! Besides the feed and each user's read position, the projection keeps
//! what it needs to decide who is notified, derived from the log like the
//! feed itself (never read from another projection): room members, mutes
//! and blocks. Message authors (for replies and reactions) and meet-up
//! attendees come from the messages and meet-up tables of the same
//! generation.

/// The feed of one generation: one row per (recipient, position of the
/// event that created it). The id is computed from both
/// (`domain::notification::NotificationId::of`), not stored.
pub fn notifications_table(generation: i64) -> String {
    format!("notifications_g{generation}")
}

/// Each user's read position: notifications at or below it are read.
pub fn notification_reads_table(generation: i64) -> String {
    format!("notification_reads_g{generation}")
}

/// Room members as the notification projection knows them.
pub fn notify_members_table(generation: i64) -> String {
    format!("notify_members_g{generation}")
}

/// Muted rooms, each until a time or for ever (`NULL`).
pub fn notify_mutes_table(generation: i64) -> String {
    format!("notify_mutes_g{generation}")
}

/// Blocks: `blocker` blocked `blocked` (the feed hides what they did too).
pub fn notify_blocks_table(generation: i64) -> String {
    format!("notify_blocks_g{generation}")
}

/// The statements creating generation `generation`'s notification tables
/// (and the lookups they need in the messages and meet-up tables, which
/// [`super::history_table_ddl`] and [`super::meetups_table_ddl`] create
/// first) and granting `reader` (the query role) what it reads, in order.
/// Each is idempotent.
pub fn notifications_table_ddl(generation: i64, reader: &str) -> Vec<String> {
    let feed = notifications_table(generation);
    let reads = notification_reads_table(generation);
    let members = notify_members_table(generation);
    let mutes = notify_mutes_table(generation);
    let blocks = notify_blocks_table(generation);
    let messages = super::messages_table(generation);
    let meetups = super::meetups_table(generation);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {feed} (
                user_id    uuid        NOT NULL,
                position   bigint      NOT NULL,
                kind       text        NOT NULL,
                room_id    uuid,
                message_id uuid,
                actor_id   uuid        NOT NULL,
                at         timestamptz NOT NULL,
                PRIMARY KEY (user_id, position)
             )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {reads} (
                user_id  uuid   PRIMARY KEY,
                position bigint NOT NULL
             )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {members} (
                room_id uuid NOT NULL,
                user_id uuid NOT NULL,
                PRIMARY KEY (room_id, user_id)
             )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {mutes} (
                room_id uuid NOT NULL,
                user_id uuid NOT NULL,
                until   timestamptz,
                PRIMARY KEY (room_id, user_id)
             )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {blocks} (
                blocked uuid NOT NULL,
                blocker uuid NOT NULL,
                PRIMARY KEY (blocked, blocker)
             )"
        ),
        format!("CREATE INDEX IF NOT EXISTS {blocks}_blocker ON {blocks} (blocker)"),
        // A reply names the message it answers by id only.
        format!(
            "CREATE INDEX IF NOT EXISTS {messages}_message ON {messages} (room_id, message_id)"
        ),
        format!("CREATE INDEX IF NOT EXISTS {meetups}_room ON {meetups} (room_id)"),
        format!("GRANT SELECT ON {feed} TO {reader}"),
        format!("GRANT SELECT ON {reads} TO {reader}"),
        format!("GRANT SELECT ON {blocks} TO {reader}"),
    ]
}
