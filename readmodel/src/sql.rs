//! Names in the read database: the `history` projection's tables and the
//! checkpoint and generation-pointer tables shared by the projections stored
//! there.
//!
//! `messages_g{N}` is hash-partitioned by `room_id`; `projection_checkpoints`
//! and `projection_generations` replicate with the read database, so a query
//! against a replica compares against the checkpoint that replica holds.

/// The message-history table of one generation of the `history` projection.
pub fn messages_table(generation: i64) -> String {
    format!("messages_g{generation}")
}

/// How many hash partitions a history table has.
pub const HISTORY_PARTITIONS: u32 = 8;

/// Checkpoints of every projection (the read database's table).
pub const CHECKPOINTS_TABLE: &str = "projection_checkpoints";
/// The generation pointer of every projection (the read database's table).
pub const GENERATIONS_TABLE: &str = "projection_generations";

/// The statements creating history table `table` with its partitions, and
/// granting `reader` (the query role) read access, in order. Each is
/// idempotent (`IF NOT EXISTS`, grants).
pub fn history_table_ddl(table: &str, reader: &str) -> Vec<String> {
    let mut stmts = vec![format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            room_id    uuid        NOT NULL,
            seq        bigint      NOT NULL,
            message_id uuid        NOT NULL,
            author_id  uuid        NOT NULL,
            body       text        NOT NULL,
            reply_to   uuid,
            created_at timestamptz NOT NULL,
            edited_at  timestamptz,
            deleted    boolean     NOT NULL DEFAULT false,
            PRIMARY KEY (room_id, seq)
         ) PARTITION BY HASH (room_id)"
    )];
    // Issue 15: what a message carries beside its text. Added to tables made
    // before it too (rows posted then carry none of either).
    stmts.push(format!(
        "ALTER TABLE {table}
           ADD COLUMN IF NOT EXISTS attachments jsonb  NOT NULL DEFAULT '[]',
           ADD COLUMN IF NOT EXISTS mentions    uuid[] NOT NULL DEFAULT '{{}}'"
    ));
    for i in 0..HISTORY_PARTITIONS {
        stmts.push(format!(
            "CREATE TABLE IF NOT EXISTS {table}_p{i} PARTITION OF {table}
             FOR VALUES WITH (MODULUS {HISTORY_PARTITIONS}, REMAINDER {i})"
        ));
    }
    stmts.push(format!("GRANT SELECT ON {table} TO {reader}"));
    for i in 0..HISTORY_PARTITIONS {
        stmts.push(format!("GRANT SELECT ON {table}_p{i} TO {reader}"));
    }
    stmts
}

#[path = "sql_meetups.rs"]
mod meetups;
pub use meetups::{calendar_feeds_table, meetup_attendees_table, meetups_table, meetups_table_ddl};

#[path = "sql_notifications.rs"]
mod notifications;
pub use notifications::{
    notification_reads_table, notifications_table, notifications_table_ddl, notify_blocks_table,
    notify_members_table, notify_mutes_table,
};
