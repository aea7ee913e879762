//! The `history` projection: every message of every room in the read
//! database, table `messages_g{generation}` hash-partitioned by room.
//!
//! Exactly-once effect: a batch is one transaction that first locks this
//! generation's row in `projection_checkpoints` (`SELECT … FOR UPDATE`), skips
//! the events at or below it, writes the messages and moves the checkpoint.
//! Postgres commits all of it or none of it; a second applier waits on the
//! row lock and then sees the new checkpoint.

use crate::error::Result;
use crate::generations::Lifecycle;
use crate::runtime::Projection;
use crate::ProjectorConfig;
use chrono::{DateTime, Utc};
use domain::event::{DomainEvent, RoomEvent, StoredEvent, UserEvent};
use meetups::MeetupTables;
pub use notify::Created;
use notify::NotifyTables;
use readmodel::sql::{
    calendar_feeds_table, history_table_ddl, meetup_attendees_table, meetups_table,
    meetups_table_ddl, messages_table, notification_reads_table, notifications_table,
    notifications_table_ddl, notify_blocks_table, notify_members_table, notify_mutes_table,
    CHECKPOINTS_TABLE, GENERATIONS_TABLE,
};
use readmodel::ProjectionName;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

mod bulk;
mod meetups;
mod notify;

/// One generation of the message history.
pub struct HistoryProjection {
    pool: PgPool,
    generation: i64,
    table: String,
    meetups: MeetupTables,
    notify: NotifyTables,
    /// Where `notification` frames go once a batch is committed (`None`:
    /// nowhere, as in tests and rebuilds).
    frames: Option<crate::FramePublisher>,
}

impl HistoryProjection {
    /// Open generation `generation`, creating its table if missing.
    pub async fn open(pool: PgPool, generation: i64) -> Result<Self> {
        let table = messages_table(generation);
        create_table(&pool, &table).await?;
        run_ddl(&pool, meetups_table_ddl(generation, migrations::QUERY_ROLE)).await?;
        run_ddl(
            &pool,
            notifications_table_ddl(generation, migrations::QUERY_ROLE),
        )
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {CHECKPOINTS_TABLE} (projection, generation, position)
             VALUES ($1, $2, 0) ON CONFLICT DO NOTHING"
        ))
        .bind(ProjectionName::History.as_str())
        .bind(generation)
        .execute(&pool)
        .await?;
        Ok(Self {
            pool,
            generation,
            table,
            meetups: MeetupTables::of(generation),
            notify: NotifyTables::of(generation),
            frames: None,
        })
    }

    /// Publish each notification a live batch creates as a `notification`
    /// frame (nothing at or below the checkpoint it opened at: a replay
    /// never publishes again).
    pub async fn with_publisher(mut self, frames: Option<crate::FramePublisher>) -> Result<Self> {
        if let Some(p) = &frames {
            p.observe_notified(self.checkpoint().await?);
        }
        self.frames = frames;
        Ok(self)
    }

    /// The table this generation writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Lock this generation's checkpoint row for the transaction and read it.
    async fn lock_checkpoint(&self, tx: &mut Transaction<'_, Postgres>) -> Result<i64> {
        let cp: i64 = sqlx::query_scalar(&format!(
            "SELECT position FROM {CHECKPOINTS_TABLE}
              WHERE projection = $1 AND generation = $2 FOR UPDATE"
        ))
        .bind(ProjectionName::History.as_str())
        .bind(self.generation)
        .fetch_one(&mut **tx)
        .await?;
        Ok(cp)
    }

    /// Move the checkpoint to `last` (in the transaction holding its lock).
    async fn move_checkpoint(&self, tx: &mut Transaction<'_, Postgres>, last: i64) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {CHECKPOINTS_TABLE} SET position = $3, updated_at = now()
              WHERE projection = $1 AND generation = $2 AND position < $3"
        ))
        .bind(ProjectionName::History.as_str())
        .bind(self.generation)
        .bind(last)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn apply_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[StoredEvent],
    ) -> Result<Applied> {
        let cp = self.lock_checkpoint(tx).await?;
        let fresh: Vec<&StoredEvent> = events.iter().filter(|e| e.position > cp).collect();
        let Some(last) = fresh.last().map(|e| e.position) else {
            return Ok(Applied {
                before: cp,
                upto: cp,
                created: Vec::new(),
            });
        };
        // First: it reads the state as of the batch's start.
        let created = self.notify.apply(tx, &fresh).await?;
        let mut posts = Posts::default();
        let mut changes = Changes::default();
        for e in &fresh {
            match &e.event {
                DomainEvent::Room(RoomEvent::MessagePosted(p)) => posts.push(p),
                DomainEvent::Room(r) => changes.add(r),
                _ => {}
            }
        }
        for e in &fresh {
            match &e.event {
                DomainEvent::Meetup(m) => self.meetups.apply(tx, m).await?,
                DomainEvent::User(UserEvent::CalendarFeedRotated(f)) => {
                    self.meetups.apply_feed(tx, f).await?
                }
                _ => {}
            }
        }
        if !posts.room.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {} (room_id, seq, message_id, author_id, body, reply_to, created_at,
                                 attachments, mentions)
                 SELECT room_id, seq, message_id, author_id, body, reply_to, created_at,
                        attachments, ARRAY(SELECT jsonb_array_elements_text(mentions)::uuid)
                 FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[],
                             $6::uuid[], $7::timestamptz[], $8::jsonb[], $9::jsonb[])
                      AS u(room_id, seq, message_id, author_id, body, reply_to, created_at,
                           attachments, mentions)
                 ON CONFLICT DO NOTHING",
                self.table
            ))
            .bind(&posts.room)
            .bind(&posts.seq)
            .bind(&posts.message)
            .bind(&posts.author)
            .bind(&posts.body)
            .bind(&posts.reply_to)
            .bind(&posts.at)
            .bind(&posts.attachments)
            .bind(&posts.mentions)
            .execute(&mut **tx)
            .await?;
        }
        changes.write(tx, &self.table).await?;
        self.move_checkpoint(tx, last).await?;
        Ok(Applied {
            before: cp,
            upto: last,
            created,
        })
    }
}

/// Edits and deletes of stored messages in one batch: the final state per
/// message, later events winning; edits are written before deletes.
#[derive(Default)]
struct Changes {
    edits: BTreeMap<(Uuid, i64), (String, DateTime<Utc>)>,
    deletes: BTreeMap<(Uuid, i64), ()>,
}

impl Changes {
    /// Take an edit or a delete (other room events change no message).
    fn add(&mut self, r: &RoomEvent) {
        match r {
            RoomEvent::MessageEdited(x) => {
                self.edits
                    .insert((x.room_id.0, x.seq as i64), (x.body.clone(), x.at));
            }
            RoomEvent::MessageDeleted(x) => {
                self.deletes.insert((x.room_id.0, x.seq as i64), ());
            }
            _ => {}
        }
    }

    async fn write(self, tx: &mut Transaction<'_, Postgres>, table: &str) -> Result<()> {
        if !self.edits.is_empty() {
            let (keys, vals): (Vec<_>, Vec<_>) = self.edits.into_iter().unzip();
            let (rooms, seqs): (Vec<Uuid>, Vec<i64>) = keys.into_iter().unzip();
            let (bodies, ats): (Vec<String>, Vec<DateTime<Utc>>) = vals.into_iter().unzip();
            sqlx::query(&format!(
                "UPDATE {table} m SET body = u.body, edited_at = u.at
                   FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[])
                        AS u(room_id, seq, body, at)
                  WHERE m.room_id = u.room_id AND m.seq = u.seq AND NOT m.deleted"
            ))
            .bind(&rooms)
            .bind(&seqs)
            .bind(&bodies)
            .bind(&ats)
            .execute(&mut **tx)
            .await?;
        }
        if !self.deletes.is_empty() {
            let (rooms, seqs): (Vec<Uuid>, Vec<i64>) = self.deletes.into_keys().unzip();
            sqlx::query(&format!(
                "UPDATE {table} m SET body = '', deleted = true
                   FROM UNNEST($1::uuid[], $2::bigint[]) AS u(room_id, seq)
                  WHERE m.room_id = u.room_id AND m.seq = u.seq"
            ))
            .bind(&rooms)
            .bind(&seqs)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

impl HistoryProjection {
    /// Point queries at this generation, but only once it holds everything
    /// generation `old` does: in one transaction, lock `old`'s checkpoint row
    /// (its applier waits), apply the log to this generation until it is at
    /// least as far, then move the pointer. Readers see the switch and the
    /// checkpoint in one snapshot, so the position they observe never goes
    /// back. Returns this generation's checkpoint at the switch.
    pub async fn switch_from(&self, write_pool: &PgPool, old: i64) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        // `old` first, then this generation (inside `apply_in`): nobody else
        // ever holds both, so the two locks cannot deadlock.
        let old_cp: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT position FROM {CHECKPOINTS_TABLE}
              WHERE projection = $1 AND generation = $2 FOR UPDATE"
        ))
        .bind(ProjectionName::History.as_str())
        .bind(old)
        .fetch_optional(&mut *tx)
        .await?;
        let old_cp = old_cp.unwrap_or(0);
        let mut cp = self.apply_in(&mut tx, &[]).await?.upto;
        while cp < old_cp {
            let page = crate::source::read_after(write_pool, cp, 5_000).await?;
            if page.is_empty() {
                break;
            }
            cp = self.apply_in(&mut tx, &page).await?.upto;
        }
        set_generation(&mut *tx, ProjectionName::History, self.generation).await?;
        tx.commit().await?;
        Ok(cp)
    }
}

#[derive(Default)]
struct Posts {
    room: Vec<Uuid>,
    seq: Vec<i64>,
    message: Vec<Uuid>,
    author: Vec<Uuid>,
    body: Vec<String>,
    reply_to: Vec<Option<Uuid>>,
    at: Vec<DateTime<Utc>>,
    /// JSON list of [`domain::views::AttachmentView`] per message.
    attachments: Vec<serde_json::Value>,
    /// JSON list of user ids per message (an array of arrays cannot be ragged).
    mentions: Vec<serde_json::Value>,
}

impl Posts {
    fn push(&mut self, p: &domain::event::MessagePosted) {
        self.room.push(p.room_id.0);
        self.seq.push(p.seq as i64);
        self.message.push(p.message_id.0);
        self.author.push(p.author_id.0);
        self.body.push(p.body.clone());
        self.reply_to.push(p.reply_to.map(|r| r.0));
        self.at.push(p.at);
        self.attachments.push(attachments_json(p));
        self.mentions.push(serde_json::json!(p.mentions));
    }
}

/// The `attachments` column of a message: its views as JSON.
pub(crate) fn attachments_json(p: &domain::event::MessagePosted) -> serde_json::Value {
    let views: Vec<_> = p
        .attachments
        .iter()
        .map(domain::views::AttachmentView::of)
        .collect();
    serde_json::json!(views)
}

impl Projection for HistoryProjection {
    fn name(&self) -> ProjectionName {
        ProjectionName::History
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn checkpoint(&mut self) -> Result<i64> {
        checkpoint(&self.pool, ProjectionName::History, self.generation).await
    }

    async fn apply_batch(&mut self, events: &[StoredEvent]) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let applied = self.apply_in(&mut tx, events).await?;
        tx.commit().await?;
        if let Some(frames) = &self.frames {
            frames.publish_notifications(applied.before, applied.upto, applied.created);
        }
        Ok(applied.upto)
    }

    async fn flush(&mut self, _force: bool) -> Result<i64> {
        self.checkpoint().await
    }
}

/// What one batch did: the checkpoint before and after it, and the
/// notifications it created.
struct Applied {
    before: i64,
    upto: i64,
    created: Vec<Created>,
}

/// The stored checkpoint of a projection generation in the read database (0 if none).
pub async fn checkpoint(pool: &PgPool, projection: ProjectionName, generation: i64) -> Result<i64> {
    let cp: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT position FROM {CHECKPOINTS_TABLE} WHERE projection = $1 AND generation = $2"
    ))
    .bind(projection.as_str())
    .bind(generation)
    .fetch_optional(pool)
    .await?;
    Ok(cp.unwrap_or(0))
}

/// Create a messages table with its partitions and the query role's grants.
/// Safe to run concurrently with itself: a lost creation race is ignored.
async fn create_table(pool: &PgPool, table: &str) -> Result<()> {
    run_ddl(pool, history_table_ddl(table, migrations::QUERY_ROLE)).await
}

/// Run idempotent DDL statements, tolerating a concurrent creator.
async fn run_ddl(pool: &PgPool, stmts: Vec<String>) -> Result<()> {
    for s in stmts {
        let mut tries = 1;
        loop {
            match sqlx::query(&s).execute(pool).await {
                Ok(_) => break,
                // 42P07 duplicate table / 23505 unique violation on the catalog:
                // another process created it at the same moment.
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("42P07") | Some("23505")) =>
                {
                    break
                }
                // Another process granted on the same table at the same
                // moment (a query node migrating): the next try sees its
                // committed change and goes through.
                Err(sqlx::Error::Database(e))
                    if tries < 10
                        && e.code().as_deref() == Some("XX000")
                        && e.message().contains("concurrently updated") =>
                {
                    tries += 1
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The generation queries read for a read-database projection, set to 1 if absent.
pub async fn current_generation(pool: &PgPool, projection: ProjectionName) -> Result<i64> {
    sqlx::query(&format!(
        "INSERT INTO {GENERATIONS_TABLE} (projection, generation) VALUES ($1, 1)
         ON CONFLICT DO NOTHING"
    ))
    .bind(projection.as_str())
    .execute(pool)
    .await?;
    let g: i64 = sqlx::query_scalar(&format!(
        "SELECT generation FROM {GENERATIONS_TABLE} WHERE projection = $1"
    ))
    .bind(projection.as_str())
    .fetch_one(pool)
    .await?;
    Ok(g)
}

/// Point queries at `generation` of a read-database projection.
pub async fn set_generation(
    pool: impl sqlx::PgExecutor<'_>,
    projection: ProjectionName,
    generation: i64,
) -> Result<()> {
    sqlx::query(
        &format!("INSERT INTO {GENERATIONS_TABLE} (projection, generation) VALUES ($1, $2)
         ON CONFLICT (projection) DO UPDATE SET generation = EXCLUDED.generation, switched_at = now()"),
    )
    .bind(projection.as_str())
    .bind(generation)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drop one generation's table and checkpoint.
pub async fn drop_generation(pool: &PgPool, generation: i64) -> Result<()> {
    sqlx::query(&format!(
        "DROP TABLE IF EXISTS {}",
        messages_table(generation)
    ))
    .execute(pool)
    .await?;
    for table in [
        meetups_table(generation),
        meetup_attendees_table(generation),
        calendar_feeds_table(generation),
        notifications_table(generation),
        notification_reads_table(generation),
        notify_members_table(generation),
        notify_mutes_table(generation),
        notify_blocks_table(generation),
    ] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(pool)
            .await?;
    }
    sqlx::query(&format!(
        "DELETE FROM {CHECKPOINTS_TABLE} WHERE projection = $1 AND generation = $2"
    ))
    .bind(ProjectionName::History.as_str())
    .bind(generation)
    .execute(pool)
    .await?;
    Ok(())
}

impl Lifecycle for HistoryProjection {
    async fn current(config: &ProjectorConfig) -> Result<i64> {
        current_generation(&config.read_pool, ProjectionName::History).await
    }

    async fn switch(config: &ProjectorConfig, generation: i64) -> Result<()> {
        set_generation(&config.read_pool, ProjectionName::History, generation).await
    }

    async fn drop_data(config: &ProjectorConfig, generation: i64) -> Result<()> {
        drop_generation(&config.read_pool, generation).await
    }

    async fn checkpoint_of(config: &ProjectorConfig, generation: i64) -> Result<Option<i64>> {
        let cp: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT position FROM {CHECKPOINTS_TABLE} WHERE projection = $1 AND generation = $2"
        ))
        .bind(ProjectionName::History.as_str())
        .bind(generation)
        .fetch_optional(&config.read_pool)
        .await?;
        Ok(cp)
    }
}
