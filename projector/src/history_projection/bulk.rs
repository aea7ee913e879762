//! The bulk path of the `history` projection, for replays.
//!
//! Same effect and the same exactly-once transaction as
//! [`Projection::apply_batch`](crate::Projection::apply_batch) (the
//! checkpoint row locked, events at or below it skipped, data and checkpoint
//! committed together), written for batches of tens of thousands of events:
//!
//! - edits and deletes of messages posted in the same batch are folded into
//!   the new rows in memory, in log order, so those messages are written
//!   once, already in their final state;
//! - new rows go in with `COPY`, which Postgres inserts with buffered
//!   multi-row writes per partition (fewer WAL records and index descents
//!   than `INSERT … SELECT`).
//!
//! `COPY` cannot skip rows that already exist. None can, above the
//! checkpoint, unless another writer stored rows without moving the
//! checkpoint (which no writer does); if one ever does, the unique violation
//! rolls the batch back and it is applied again through the
//! conflict-tolerant `INSERT … ON CONFLICT DO NOTHING` path.

use super::{Changes, HistoryProjection};
use crate::error::{ProjectorError, Result};
use crate::runtime::Projection;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::event::{DomainEvent, MessagePosted, RoomEvent, StoredEvent, UserEvent};
use sqlx::{Postgres, Transaction};
use std::collections::HashMap;
use std::fmt::Write;
use uuid::Uuid;

/// A message row as it will be copied in.
struct Row<'a> {
    post: &'a MessagePosted,
    body: &'a str,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
}

/// A timestamp as Postgres stores it: microseconds, truncated the way the
/// binary protocol encodes a `DateTime` (so both paths store the same value).
fn timestamp(out: &mut String, at: DateTime<Utc>) {
    let micros = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
    out.push_str(&micros.to_rfc3339_opts(SecondsFormat::Micros, true));
}

/// `COPY … FROM STDIN` text format: backslash, tab, newline and carriage
/// return escaped; nothing else is special.
fn text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

impl Row<'_> {
    fn write(&self, out: &mut String) {
        let p = self.post;
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t",
            p.room_id, p.seq, p.message_id, p.author_id
        );
        text(out, self.body);
        out.push('\t');
        match p.reply_to {
            Some(r) => {
                let _ = write!(out, "{r}");
            }
            None => out.push_str("\\N"),
        }
        out.push('\t');
        timestamp(out, p.at);
        out.push('\t');
        match self.edited_at {
            Some(at) => timestamp(out, at),
            None => out.push_str("\\N"),
        }
        out.push_str(if self.deleted { "\tt\t" } else { "\tf\t" });
        text(out, &super::attachments_json(p).to_string());
        out.push_str("\t{");
        for (i, m) in p.mentions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{m}");
        }
        out.push_str("}\n");
    }
}

fn is_unique_violation(e: &ProjectorError) -> bool {
    matches!(e, ProjectorError::Postgres(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505"))
}

impl HistoryProjection {
    /// Apply a large batch (see the module documentation); returns the
    /// durable checkpoint.
    pub async fn apply_bulk(&mut self, events: &[StoredEvent]) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        match self.bulk_in(&mut tx, events).await {
            Ok(cp) => {
                tx.commit().await?;
                Ok(cp)
            }
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                tracing::warn!(table = %self.table, "rows above the checkpoint already stored; applying without copy");
                self.apply_batch(events).await
            }
            Err(e) => Err(e),
        }
    }

    async fn bulk_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[StoredEvent],
    ) -> Result<i64> {
        let cp = self.lock_checkpoint(tx).await?;
        let fresh = &events[events.partition_point(|e| e.position <= cp)..];
        let Some(last) = fresh.last().map(|e| e.position) else {
            return Ok(cp);
        };
        // First (it reads the state as of the batch's start); a replay
        // publishes no frames.
        let fresh_refs: Vec<&StoredEvent> = fresh.iter().collect();
        self.notify.apply(tx, &fresh_refs).await?;
        let mut rows: Vec<Row> = Vec::new();
        let mut index: HashMap<(Uuid, u64), usize> = HashMap::new();
        let mut changes = Changes::default();
        for e in fresh {
            let DomainEvent::Room(r) = &e.event else {
                continue;
            };
            match r {
                RoomEvent::MessagePosted(p) => {
                    index.insert((p.room_id.0, p.seq), rows.len());
                    rows.push(Row {
                        post: p,
                        body: &p.body,
                        edited_at: None,
                        deleted: false,
                    });
                }
                RoomEvent::MessageEdited(x) => match index.get(&(x.room_id.0, x.seq)) {
                    Some(&i) => {
                        // As the UPDATE would: a deleted message stays deleted.
                        if !rows[i].deleted {
                            rows[i].body = &x.body;
                            rows[i].edited_at = Some(x.at);
                        }
                    }
                    None => changes.add(r),
                },
                RoomEvent::MessageDeleted(x) => match index.get(&(x.room_id.0, x.seq)) {
                    Some(&i) => {
                        rows[i].body = "";
                        rows[i].deleted = true;
                    }
                    None => changes.add(r),
                },
                _ => {}
            }
        }
        if !rows.is_empty() {
            let mut data = String::with_capacity(rows.len() * 200);
            for row in &rows {
                row.write(&mut data);
            }
            let mut copy = tx
                .copy_in_raw(&format!(
                    "COPY {} (room_id, seq, message_id, author_id, body, reply_to, created_at, edited_at, deleted, attachments, mentions)
                     FROM STDIN",
                    self.table
                ))
                .await?;
            copy.send(data.into_bytes()).await?;
            copy.finish().await?;
        }
        changes.write(tx, &self.table).await?;
        for e in fresh {
            match &e.event {
                DomainEvent::Meetup(m) => self.meetups.apply(tx, m).await?,
                DomainEvent::User(UserEvent::CalendarFeedRotated(f)) => {
                    self.meetups.apply_feed(tx, f).await?
                }
                _ => {}
            }
        }
        self.move_checkpoint(tx, last).await?;
        Ok(last)
    }
}
