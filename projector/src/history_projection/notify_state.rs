//! The notification projection's state for one batch: loaded from the
//! generation's tables, updated in memory event by event, and its changes
//! written back with the feed.

use super::{holds, read_position, Created, Needs};
use crate::error::Result;
use chrono::{DateTime, Utc};
use domain::event::{DomainEvent, MeetupEvent, RoomEvent, StoredEvent, UserEvent};
use domain::{MeetupId, MessageId, RoomId, UserId};
use readmodel::sql::{
    meetup_attendees_table, meetups_table, messages_table, notification_reads_table,
    notifications_table, notify_blocks_table, notify_members_table, notify_mutes_table,
};
use sqlx::{Postgres, Row, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// The tables of one generation the feed is written from and to.
pub(in crate::history_projection) struct NotifyTables {
    feed: String,
    reads: String,
    members: String,
    mutes: String,
    blocks: String,
    messages: String,
    meetups: String,
    attendees: String,
}

/// A meet-up as notifications need it.
pub(super) struct MeetupState {
    pub room_id: RoomId,
    pub organizer: UserId,
    /// Everyone attending, in the order they came.
    pub attendees: Vec<UserId>,
}

/// The state at the position of the event being applied.
#[derive(Default)]
pub(super) struct State {
    members: HashMap<RoomId, HashSet<UserId>>,
    /// Rooms whose members changed in the batch, with the members loaded.
    members_before: HashMap<RoomId, HashSet<UserId>>,
    mutes: HashMap<RoomId, HashMap<UserId, Option<DateTime<Utc>>>>,
    /// Mute changes to write: `None` unmuted.
    mute_writes: BTreeMap<(RoomId, UserId), Option<Option<DateTime<Utc>>>>,
    blocks: HashSet<(UserId, UserId)>,
    /// Block changes to write: `true` blocked.
    block_writes: BTreeMap<(UserId, UserId), bool>,
    by_seq: HashMap<(RoomId, u64), UserId>,
    by_id: HashMap<(RoomId, MessageId), UserId>,
    meetups: HashMap<MeetupId, MeetupState>,
    meetup_rooms: HashMap<RoomId, MeetupId>,
    reads: BTreeMap<UserId, i64>,
}

impl State {
    pub(super) fn members(&self, room: RoomId) -> Option<&HashSet<UserId>> {
        self.members.get(&room)
    }

    /// Members of `room` who muted it, as of `at`.
    pub(super) fn muted(&self, room: RoomId, at: DateTime<Utc>) -> HashSet<UserId> {
        self.mutes.get(&room).map_or_else(HashSet::new, |m| {
            m.iter()
                .filter(|(_, until)| holds(**until, at))
                .map(|(u, _)| *u)
                .collect()
        })
    }

    pub(super) fn blocks(&self) -> &HashSet<(UserId, UserId)> {
        &self.blocks
    }

    pub(super) fn author_by_seq(&self, room: RoomId, seq: u64) -> Option<UserId> {
        self.by_seq.get(&(room, seq)).copied()
    }

    pub(super) fn author_by_id(&self, room: RoomId, message: MessageId) -> Option<UserId> {
        self.by_id.get(&(room, message)).copied()
    }

    pub(super) fn meetup(&self, id: MeetupId) -> Option<&MeetupState> {
        self.meetups.get(&id)
    }

    pub(super) fn meetup_of_room(&self, room: RoomId) -> Option<&MeetupState> {
        self.meetup_rooms
            .get(&room)
            .and_then(|m| self.meetups.get(m))
    }

    fn members_mut(&mut self, room: RoomId) -> &mut HashSet<UserId> {
        if !self.members_before.contains_key(&room) {
            let now = self.members.get(&room).cloned().unwrap_or_default();
            self.members_before.insert(room, now);
        }
        self.members.entry(room).or_default()
    }

    /// What an event changes that its own notifications must already see:
    /// new members, a new meet-up, a new attendee.
    pub(super) fn before(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::Room(RoomEvent::Created(c)) => {
                self.members_mut(c.room_id)
                    .extend(c.members.iter().copied());
            }
            DomainEvent::Room(RoomEvent::MemberAdded(a)) => {
                self.members_mut(a.room_id).insert(a.user_id);
            }
            DomainEvent::Meetup(MeetupEvent::Planned(p)) => {
                let mut attendees = vec![p.organizer];
                attendees.extend(p.invitees.iter().copied());
                self.meetup_rooms.insert(p.room_id, p.meetup_id);
                self.meetups.insert(
                    p.meetup_id,
                    MeetupState {
                        room_id: p.room_id,
                        organizer: p.organizer,
                        attendees,
                    },
                );
            }
            DomainEvent::Meetup(MeetupEvent::AttendeeInvited(a)) => {
                if let Some(m) = self.meetups.get_mut(&a.meetup_id) {
                    if !m.attendees.contains(&a.user_id) {
                        m.attendees.push(a.user_id);
                    }
                }
            }
            _ => {}
        }
    }

    /// The rest of what an event changes, once its notifications are made.
    pub(super) fn after(&mut self, e: &StoredEvent) {
        if let Some((user, position)) = read_position(&e.event) {
            let r = self.reads.entry(user).or_default();
            *r = (*r).max(position);
        }
        match &e.event {
            DomainEvent::Room(RoomEvent::MemberLeft(x)) => {
                self.members_mut(x.room_id).remove(&x.user_id);
            }
            DomainEvent::Room(RoomEvent::MemberKicked(x)) => {
                self.members_mut(x.room_id).remove(&x.user_id);
            }
            DomainEvent::Room(RoomEvent::MessagePosted(p)) => {
                self.by_seq.insert((p.room_id, p.seq), p.author_id);
                self.by_id.insert((p.room_id, p.message_id), p.author_id);
            }
            DomainEvent::User(UserEvent::RoomMuted(m)) => {
                self.mutes
                    .entry(m.room_id)
                    .or_default()
                    .insert(m.user_id, m.until);
                self.mute_writes
                    .insert((m.room_id, m.user_id), Some(m.until));
            }
            DomainEvent::User(UserEvent::RoomUnmuted(m)) => {
                if let Some(r) = self.mutes.get_mut(&m.room_id) {
                    r.remove(&m.user_id);
                }
                self.mute_writes.insert((m.room_id, m.user_id), None);
            }
            DomainEvent::User(UserEvent::Blocked(b)) => {
                self.blocks.insert((b.user_id, b.blocked));
                self.block_writes.insert((b.user_id, b.blocked), true);
            }
            DomainEvent::User(UserEvent::Unblocked(b)) => {
                self.blocks.remove(&(b.user_id, b.blocked));
                self.block_writes.insert((b.user_id, b.blocked), false);
            }
            _ => {}
        }
    }
}

fn ids<T>(set: impl IntoIterator<Item = T>, f: impl Fn(T) -> Uuid) -> Vec<Uuid> {
    set.into_iter().map(f).collect()
}

impl NotifyTables {
    /// The tables of `generation`.
    pub(in crate::history_projection) fn of(generation: i64) -> Self {
        Self {
            feed: notifications_table(generation),
            reads: notification_reads_table(generation),
            members: notify_members_table(generation),
            mutes: notify_mutes_table(generation),
            blocks: notify_blocks_table(generation),
            messages: messages_table(generation),
            meetups: meetups_table(generation),
            attendees: meetup_attendees_table(generation),
        }
    }

    /// The state `needs` asks for, as of the batch's start.
    pub(super) async fn load(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        needs: &Needs,
    ) -> Result<State> {
        let mut s = State::default();
        let rooms = ids(needs.rooms.iter(), |r| r.0);
        if !rooms.is_empty() {
            let sql = format!(
                "SELECT room_id, user_id FROM {} WHERE room_id = ANY($1)",
                self.members
            );
            for row in sqlx::query(&sql).bind(&rooms).fetch_all(&mut **tx).await? {
                s.members
                    .entry(RoomId(row.try_get(0)?))
                    .or_default()
                    .insert(UserId(row.try_get(1)?));
            }
            let sql = format!(
                "SELECT room_id, user_id, until FROM {} WHERE room_id = ANY($1)",
                self.mutes
            );
            for row in sqlx::query(&sql).bind(&rooms).fetch_all(&mut **tx).await? {
                s.mutes
                    .entry(RoomId(row.try_get(0)?))
                    .or_default()
                    .insert(UserId(row.try_get(1)?), row.try_get(2)?);
            }
        }
        let actors = ids(needs.actors.iter(), |u| u.0);
        if !actors.is_empty() {
            let sql = format!(
                "SELECT blocker, blocked FROM {} WHERE blocked = ANY($1)",
                self.blocks
            );
            for row in sqlx::query(&sql).bind(&actors).fetch_all(&mut **tx).await? {
                s.blocks
                    .insert((UserId(row.try_get(0)?), UserId(row.try_get(1)?)));
            }
        }
        self.load_authors(tx, needs, &mut s).await?;
        self.load_meetups(tx, needs, &rooms, &mut s).await?;
        Ok(s)
    }

    async fn load_authors(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        needs: &Needs,
        s: &mut State,
    ) -> Result<()> {
        if !needs.by_seq.is_empty() {
            let rooms = ids(needs.by_seq.iter(), |(r, _)| r.0);
            let seqs: Vec<i64> = needs.by_seq.iter().map(|(_, q)| *q as i64).collect();
            let sql = format!(
                "SELECT m.room_id, m.seq, m.author_id FROM {} m
                   JOIN UNNEST($1::uuid[], $2::bigint[]) AS u(room_id, seq)
                     ON m.room_id = u.room_id AND m.seq = u.seq",
                self.messages
            );
            let rows = sqlx::query(&sql)
                .bind(&rooms)
                .bind(&seqs)
                .fetch_all(&mut **tx)
                .await?;
            for row in rows {
                let seq: i64 = row.try_get(1)?;
                s.by_seq.insert(
                    (RoomId(row.try_get(0)?), seq as u64),
                    UserId(row.try_get(2)?),
                );
            }
        }
        if !needs.by_id.is_empty() {
            let rooms = ids(needs.by_id.iter(), |(r, _)| r.0);
            let messages = ids(needs.by_id.iter(), |(_, m)| m.0);
            let sql = format!(
                "SELECT m.room_id, m.message_id, m.author_id FROM {} m
                   JOIN UNNEST($1::uuid[], $2::uuid[]) AS u(room_id, message_id)
                     ON m.room_id = u.room_id AND m.message_id = u.message_id",
                self.messages
            );
            let rows = sqlx::query(&sql)
                .bind(&rooms)
                .bind(&messages)
                .fetch_all(&mut **tx)
                .await?;
            for row in rows {
                s.by_id.insert(
                    (RoomId(row.try_get(0)?), MessageId(row.try_get(1)?)),
                    UserId(row.try_get(2)?),
                );
            }
        }
        Ok(())
    }

    async fn load_meetups(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        needs: &Needs,
        rooms: &[Uuid],
        s: &mut State,
    ) -> Result<()> {
        let meetups = ids(needs.meetups.iter(), |m| m.0);
        if meetups.is_empty() && rooms.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT meetup_id, room_id, organizer_id FROM {}
              WHERE meetup_id = ANY($1) OR room_id = ANY($2)",
            self.meetups
        );
        let rows = sqlx::query(&sql)
            .bind(&meetups)
            .bind(rooms)
            .fetch_all(&mut **tx)
            .await?;
        let mut found = Vec::new();
        for row in rows {
            let id = MeetupId(row.try_get(0)?);
            let room = RoomId(row.try_get(1)?);
            found.push(id.0);
            s.meetup_rooms.insert(room, id);
            s.meetups.insert(
                id,
                MeetupState {
                    room_id: room,
                    organizer: UserId(row.try_get(2)?),
                    attendees: Vec::new(),
                },
            );
        }
        if found.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT meetup_id, user_id FROM {} WHERE meetup_id = ANY($1)
              ORDER BY meetup_id, user_id",
            self.attendees
        );
        for row in sqlx::query(&sql).bind(&found).fetch_all(&mut **tx).await? {
            if let Some(m) = s.meetups.get_mut(&MeetupId(row.try_get(0)?)) {
                m.attendees.push(UserId(row.try_get(1)?));
            }
        }
        Ok(())
    }

    /// Write the batch's notifications and the state's changes.
    pub(super) async fn write(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        s: &State,
        created: &[Created],
    ) -> Result<()> {
        if !created.is_empty() {
            let n = &created;
            let sql = format!(
                "INSERT INTO {} (user_id, position, kind, room_id, message_id, actor_id, at)
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::uuid[],
                                      $5::uuid[], $6::uuid[], $7::timestamptz[])
                 ON CONFLICT DO NOTHING",
                self.feed
            );
            let v = |c: &Created| c.frame.notification.clone();
            sqlx::query(&sql)
                .bind(n.iter().map(|c| c.user.0).collect::<Vec<_>>())
                .bind(n.iter().map(|c| c.frame.position).collect::<Vec<_>>())
                .bind(n.iter().map(|c| v(c).kind.as_str()).collect::<Vec<_>>())
                .bind(
                    n.iter()
                        .map(|c| v(c).room_id.map(|r| r.0))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    n.iter()
                        .map(|c| v(c).message_id.map(|m| m.0))
                        .collect::<Vec<_>>(),
                )
                .bind(n.iter().map(|c| v(c).actor_id.0).collect::<Vec<_>>())
                .bind(n.iter().map(|c| v(c).at).collect::<Vec<_>>())
                .execute(&mut **tx)
                .await?;
        }
        if !s.reads.is_empty() {
            let sql = format!(
                "INSERT INTO {t} (user_id, position)
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[])
                 ON CONFLICT (user_id) DO UPDATE
                   SET position = GREATEST({t}.position, EXCLUDED.position)",
                t = self.reads
            );
            sqlx::query(&sql)
                .bind(ids(s.reads.keys(), |u| u.0))
                .bind(s.reads.values().copied().collect::<Vec<_>>())
                .execute(&mut **tx)
                .await?;
        }
        self.write_members(tx, s).await?;
        self.write_mutes(tx, s).await?;
        self.write_blocks(tx, s).await
    }

    async fn write_members(&self, tx: &mut Transaction<'_, Postgres>, s: &State) -> Result<()> {
        let mut gone: Vec<(Uuid, Uuid)> = Vec::new();
        let mut new: Vec<(Uuid, Uuid)> = Vec::new();
        for (room, before) in &s.members_before {
            let now = s.members.get(room).cloned().unwrap_or_default();
            gone.extend(before.difference(&now).map(|u| (room.0, u.0)));
            new.extend(now.difference(before).map(|u| (room.0, u.0)));
        }
        for (rows, sql) in [
            (
                gone,
                format!(
                    "DELETE FROM {} t USING UNNEST($1::uuid[], $2::uuid[]) AS u(room_id, user_id)
                      WHERE t.room_id = u.room_id AND t.user_id = u.user_id",
                    self.members
                ),
            ),
            (
                new,
                format!(
                    "INSERT INTO {} (room_id, user_id)
                     SELECT * FROM UNNEST($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING",
                    self.members
                ),
            ),
        ] {
            if rows.is_empty() {
                continue;
            }
            let (a, b): (Vec<Uuid>, Vec<Uuid>) = rows.into_iter().unzip();
            sqlx::query(&sql).bind(a).bind(b).execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn write_mutes(&self, tx: &mut Transaction<'_, Postgres>, s: &State) -> Result<()> {
        let upsert = format!(
            "INSERT INTO {} (room_id, user_id, until) VALUES ($1, $2, $3)
             ON CONFLICT (room_id, user_id) DO UPDATE SET until = EXCLUDED.until",
            self.mutes
        );
        let delete = format!(
            "DELETE FROM {} WHERE room_id = $1 AND user_id = $2",
            self.mutes
        );
        for ((room, user), mute) in &s.mute_writes {
            let q = match mute {
                Some(until) => sqlx::query(&upsert).bind(room.0).bind(user.0).bind(*until),
                None => sqlx::query(&delete).bind(room.0).bind(user.0),
            };
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn write_blocks(&self, tx: &mut Transaction<'_, Postgres>, s: &State) -> Result<()> {
        for ((blocker, blocked), on) in &s.block_writes {
            let sql = if *on {
                format!(
                    "INSERT INTO {} (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    self.blocks
                )
            } else {
                format!(
                    "DELETE FROM {} WHERE blocker = $1 AND blocked = $2",
                    self.blocks
                )
            };
            sqlx::query(&sql)
                .bind(blocker.0)
                .bind(blocked.0)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}
