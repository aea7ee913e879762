//! How each event changes the `redis` read model (applied to an [`Overlay`]).
//!
//! Rules worth knowing:
//! - A room's activity time moves on creation, on a member joining and on a
//!   post; every member's room-list score is that time in milliseconds, so
//!   room lists order by [`RoomView::last_activity_at`].
//! - A member joining starts with the read marker at the room's last `seq`
//!   (they are not greeted by the whole history as unread); creation starts
//!   every member at 0. Leaving or being kicked removes the marker.
//! - Posting moves the author's marker to the post; `ReadMarkerMoved` only
//!   ever moves it forward.
//! - Every room event also becomes a live frame, kept in the room's frame
//!   window (and, for joins and leaves, in the user's) and handed back for
//!   publishing once the batch is applied.
//! - A deleted message keeps its place in the timeline with `deleted: true`
//!   and an empty body, and leaves the unread bookkeeping (`live_seqs`,
//!   `own_seqs`).
//! - An edit or a deletion also rewrites the message's frames still in the
//!   room's frame window to its current body (see `redact`).

use super::overlay::Overlay;
use chrono::{DateTime, Utc};
use domain::event::{
    DomainEvent, FriendshipEvent, RoomEvent, StoredEvent, UserEvent, UsernameEvent,
};
use domain::frame::Frame;
use domain::ids::{RoomId, UserId};
use domain::views::{
    preview, AttachmentView, FriendEntryView, FriendState, LastMessageView, MemberView,
    MessageView, Role, RoomView,
};
use readmodel::attachments::AttachmentEntry;
use tracing::warn;

impl Overlay {
    /// Apply one event (known to be above the checkpoint).
    pub(super) fn apply(&mut self, e: &StoredEvent) {
        let frame = Frame::from_event(e);
        self.apply_event(e);
        if let Some(frame) = frame {
            // After the event: the frame shows the state it leaves.
            let frame = self.fill(frame);
            self.frame(frame);
        }
    }

    fn apply_event(&mut self, e: &StoredEvent) {
        match &e.event {
            // Personal fields: see `apply_pii`.
            DomainEvent::User(UserEvent::Registered(r)) => self.registered(r),
            DomainEvent::User(UserEvent::DisplayNameChanged(c)) => {
                self.display_name_changed(c, e.position)
            }
            DomainEvent::User(UserEvent::StatusMessageChanged(c)) => {
                self.status_message_changed(c, e.position)
            }
            DomainEvent::User(UserEvent::AccountDeleted(d)) => self.account_deleted(d),
            // Since v2 a claim names no username (the registration does).
            DomainEvent::Username(UsernameEvent::Claimed(c)) => {
                if let Some(name) = &c.username {
                    self.usernames.insert(name.clone(), Some(c.user_id));
                }
            }
            DomainEvent::Friendship(f) => self.friendship(f),
            DomainEvent::Room(r) => self.room(r, e.position),
            DomainEvent::User(u) => self.user_people(u, e.position),
            // Frames in the meet-up's room (`meetups`); the history
            // projection keeps meet-ups and calendar feeds in the read
            // database (issue 17).
            DomainEvent::Meetup(m) => self.meetup(m, e),
        }
    }

    /// Keep the frame in its room's window (and, for a join or a leave, in
    /// the window of each user it concerns), for resuming streams.
    /// Frames are serialised when the transaction is built, and only those
    /// that survive the windows' trimming.
    pub(super) fn frame(&mut self, frame: Frame) {
        let k = self.frames.len();
        self.room_frames.entry(frame.room_id).or_default().push(k);
        for user in frame.joined().iter().copied().chain(frame.left()) {
            self.user_frames.entry(user).or_default().push(k);
        }
        self.frames.push(frame);
    }

    fn friendship(&mut self, f: &FriendshipEvent) {
        let mut entry = |owner: UserId, other: UserId, state: FriendState, since: DateTime<Utc>| {
            let v = FriendEntryView { state, since };
            self.friends.insert((owner, other), Some(v));
        };
        match f {
            FriendshipEvent::Requested(r) => {
                entry(r.from, r.to, FriendState::Outgoing, r.at);
                entry(r.to, r.from, FriendState::Incoming, r.at);
            }
            FriendshipEvent::Accepted(a) => {
                entry(a.by, a.requester, FriendState::Friend, a.at);
                entry(a.requester, a.by, FriendState::Friend, a.at);
            }
            FriendshipEvent::Ended(x) => {
                self.friends.insert((x.by, x.other), None);
                self.friends.insert((x.other, x.by), None);
            }
            // Only the sender sees it: it must never reach `to`.
            FriendshipEvent::Shadowed(s) => self.shadowed(s),
        }
    }

    fn room(&mut self, r: &RoomEvent, position: i64) {
        match r {
            RoomEvent::Created(c) => {
                let room = RoomView {
                    room_id: c.room_id,
                    name: c.name.clone(),
                    owner_id: c.owner_id,
                    direct: c.direct,
                    created_at: c.at,
                    last_seq: 0,
                    last_message: None,
                    last_activity_at: c.at,
                };
                self.rooms.insert(c.room_id, Some(room));
                self.dirty_rooms.insert(c.room_id);
                self.members.insert(c.room_id, Default::default());
                for user in &c.members {
                    let role = if *user == c.owner_id {
                        Role::Owner
                    } else {
                        Role::Member
                    };
                    self.join(c.room_id, *user, role, c.at, 0);
                }
                self.touch(c.room_id, c.at);
            }
            RoomEvent::Renamed(c) => {
                if let Some(room) = self.room_mut(c.room_id, position) {
                    room.name = c.name.clone();
                }
            }
            RoomEvent::MemberAdded(c) => {
                let last_seq = self
                    .room_mut(c.room_id, position)
                    .map(|r| r.last_seq)
                    .unwrap_or(0);
                self.join(c.room_id, c.user_id, Role::Member, c.at, last_seq);
                self.touch(c.room_id, c.at);
                self.room_people(r, position);
            }
            RoomEvent::MemberLeft(c) => {
                self.leave(c.room_id, c.user_id);
                if let Some(owner) = c.new_owner {
                    if let Some(room) = self.room_mut(c.room_id, position) {
                        room.owner_id = owner;
                    }
                    if let Some(m) = self
                        .members
                        .get_mut(&c.room_id)
                        .and_then(|m| m.get_mut(&owner))
                    {
                        m.role = Role::Owner;
                        self.dirty_members.insert((c.room_id, owner));
                    }
                }
            }
            RoomEvent::MemberKicked(c) => self.leave(c.room_id, c.user_id),
            RoomEvent::MessagePosted(p) => {
                let view = MessageView {
                    message_id: p.message_id,
                    room_id: p.room_id,
                    seq: p.seq,
                    author_id: p.author_id,
                    body: p.body.clone(),
                    reply_to: p.reply_to,
                    created_at: p.at,
                    edited_at: None,
                    deleted: false,
                    attachments: p.attachments.iter().map(AttachmentView::of).collect(),
                    mentions: p.mentions.clone(),
                };
                let last = LastMessageView::of(&view);
                self.timeline.insert((p.room_id, p.seq), Some(view));
                self.dirty_timeline.insert((p.room_id, p.seq));
                self.posted
                    .entry(p.room_id)
                    .and_modify(|(lo, hi)| {
                        *lo = (*lo).min(p.seq);
                        *hi = (*hi).max(p.seq);
                    })
                    .or_insert((p.seq, p.seq));
                self.live.insert((p.room_id, p.seq), true);
                self.own.insert((p.room_id, p.author_id, p.seq), true);
                self.markers.insert((p.room_id, p.author_id), Some(p.seq));
                self.dirty_markers.insert((p.room_id, p.author_id));
                if let Some(room) = self.room_mut(p.room_id, position) {
                    room.last_seq = room.last_seq.max(p.seq);
                    room.last_message = Some(last);
                }
                self.touch(p.room_id, p.at);
                // Sent: no longer the orphan sweeper's business.
                for a in &p.attachments {
                    self.pending_uploads
                        .insert((p.room_id, a.attachment_id), None);
                }
            }
            RoomEvent::MessageEdited(x) => {
                // An edit never revives a deleted message (the command side
                // refuses it; the read model holds the line too).
                let key = (x.room_id, x.message_id);
                let deleted = self.redactions.get(&key).is_some_and(Option::is_none)
                    || matches!(self.timeline.get(&(x.room_id, x.seq)), Some(Some(v)) if v.deleted);
                if !deleted {
                    self.redactions.insert(key, Some(x.body.clone()));
                }
                self.notice_edited(x.room_id, x.seq, &x.body);
                self.rewrite(x.room_id, x.seq, position, &x.body, |v| {
                    if !v.deleted {
                        v.body = x.body.clone();
                        v.edited_at = Some(x.at);
                    }
                });
            }
            RoomEvent::MessageDeleted(x) => {
                self.redactions.insert((x.room_id, x.message_id), None);
                self.live.insert((x.room_id, x.seq), false);
                self.own.insert((x.room_id, x.author_id, x.seq), false);
                self.rewrite(x.room_id, x.seq, position, "", |v| {
                    v.body.clear();
                    v.deleted = true;
                });
            }
            RoomEvent::ReadMarkerMoved(m) => {
                let slot = self.markers.entry((m.room_id, m.user_id)).or_insert(None);
                if slot.is_none_or(|cur| cur < m.seq) {
                    *slot = Some(m.seq);
                    self.dirty_markers.insert((m.room_id, m.user_id));
                }
            }
            RoomEvent::AttachmentUploaded(u) => {
                let id = u.attachment.attachment_id;
                let entry = AttachmentEntry {
                    room_id: u.room_id,
                    attachment: u.attachment.clone(),
                };
                self.attachments.insert(id, Some(entry));
                let at = u.at.timestamp_millis();
                self.pending_uploads.insert((u.room_id, id), Some(at));
            }
            RoomEvent::AttachmentDiscarded(d) => {
                let key = (d.room_id, d.attachment_id);
                self.attachments.insert(d.attachment_id, None);
                self.pending_uploads.insert(key, None);
                self.discarded_uploads.insert(key, d.at.timestamp_millis());
            }
            RoomEvent::ReactionAdded(_)
            | RoomEvent::ReactionRemoved(_)
            | RoomEvent::MessageHidden(_)
            | RoomEvent::NoticeSet(_)
            | RoomEvent::NoticeCleared(_) => self.messenger(r),
            RoomEvent::MemberRoleChanged(_)
            | RoomEvent::InviteCreated(_)
            | RoomEvent::InviteRevoked(_) => self.room_people(r, position),
        }
    }

    /// The room, marked dirty; `None` (with a warning) if the batch and
    /// Redis both lack it, which a consistent log never causes.
    fn room_mut(&mut self, id: RoomId, position: i64) -> Option<&mut RoomView> {
        match self.rooms.get_mut(&id) {
            Some(Some(room)) => {
                self.dirty_rooms.insert(id);
                Some(room)
            }
            _ => {
                warn!(room_id = %id, position, "event for a room the read model lacks");
                None
            }
        }
    }

    fn join(&mut self, room: RoomId, user: UserId, role: Role, at: DateTime<Utc>, marker: u64) {
        // The first seq posted while this membership lasts (domain::unread).
        self.joined.insert((room, user), Some(marker + 1));
        let view = MemberView {
            user_id: user,
            role,
            joined_at: at,
        };
        self.members.entry(room).or_default().insert(user, view);
        self.dirty_members.insert((room, user));
        self.markers.insert((room, user), Some(marker));
        self.dirty_markers.insert((room, user));
        // In the user's list from now on; `activity` orders it there.
        self.rooms_of
            .insert((user, room), Some(at.timestamp_millis()));
    }

    fn leave(&mut self, room: RoomId, user: UserId) {
        self.joined.insert((room, user), None);
        if let Some(m) = self.members.get_mut(&room) {
            m.remove(&user);
        }
        self.dirty_members.insert((room, user));
        self.markers.insert((room, user), None);
        self.dirty_markers.insert((room, user));
        self.rooms_of.insert((user, room), None);
    }

    /// Move the room's activity to `at`, which orders it in every member's room list.
    fn touch(&mut self, id: RoomId, at: DateTime<Utc>) {
        let at = match self.rooms.get_mut(&id) {
            Some(Some(room)) => {
                room.last_activity_at = room.last_activity_at.max(at);
                self.dirty_rooms.insert(id);
                room.last_activity_at
            }
            _ => at,
        };
        // Written once per batch, one entry per room (see `write`), however
        // many members the room has.
        self.touched.insert(id, at.timestamp_millis());
    }

    /// Change a message in the timeline (if it is still there) and in the
    /// room's last-message preview (if it is the last one).
    fn rewrite(
        &mut self,
        room: RoomId,
        seq: u64,
        position: i64,
        body: &str,
        change: impl FnOnce(&mut MessageView),
    ) {
        if let Some(Some(view)) = self.timeline.get_mut(&(room, seq)) {
            change(view);
            self.dirty_timeline.insert((room, seq));
        }
        if let Some(r) = self.room_mut(room, position) {
            if let Some(last) = r.last_message.as_mut().filter(|l| l.seq == seq) {
                last.body_preview = preview(body);
            }
        }
    }
}
