//! The in-memory overlay one batch is applied to.
//!
//! A batch becomes three round trips however many events it holds: the
//! current values it needs are read in one pipeline (under `WATCH` of the
//! checkpoint), every event is applied to this overlay (so later events see
//! what earlier ones did), and the overlay is written back in one
//! `MULTI`/`EXEC` together with the new checkpoint (see `write`).

use crate::error::Result;
use domain::event::{DomainEvent, FriendshipEvent, RoomEvent, StoredEvent, UserEvent};
use domain::frame::Frame;
use domain::ids::{AttachmentId, InviteId, MeetupId, MessageId, RoomId, UserId};
use domain::views::{
    FriendEntryView, MemberView, MessageView, NoticeView, ProfileView, ReactionSet, RoomView,
};
use domain::views_people::{BlockView, InviteView, MuteView};
use readmodel::attachments::AttachmentEntry;
use readmodel::RedisConn;
use readmodel::{
    meetup_rooms, notice, people, profiles, reactions, rooms, timeline, unread, RedisKeys, Replies,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one batch reads, changes and writes.
#[derive(Default)]
pub(super) struct Overlay {
    pub(super) rooms: HashMap<RoomId, Option<RoomView>>,
    pub(super) members: HashMap<RoomId, BTreeMap<UserId, MemberView>>,
    /// For rooms whose members the batch does not change and so does not
    /// read whole (see `needs`): how many members they have, and whether a
    /// poster is one of them. A post's `unread_by` needs no more.
    pub(super) member_counts: HashMap<RoomId, u64>,
    pub(super) is_member: HashMap<(RoomId, UserId), bool>,
    pub(super) profiles: HashMap<UserId, Option<ProfileView>>,
    pub(super) markers: HashMap<(RoomId, UserId), Option<u64>>,
    pub(super) timeline: HashMap<(RoomId, u64), Option<MessageView>>,
    pub(super) dirty_rooms: BTreeSet<RoomId>,
    pub(super) dirty_members: BTreeSet<(RoomId, UserId)>,
    pub(super) dirty_profiles: BTreeSet<UserId>,
    pub(super) dirty_markers: BTreeSet<(RoomId, UserId)>,
    pub(super) dirty_timeline: BTreeSet<(RoomId, u64)>,
    /// Final room-list entry of (user, room): when the user joined
    /// (milliseconds); `None` = removed from the list.
    pub(super) rooms_of: BTreeMap<(UserId, RoomId), Option<i64>>,
    /// Rooms whose activity moved, with the score of their last move
    /// (written to `activity`, which orders every member's room list).
    pub(super) touched: HashMap<RoomId, i64>,
    /// Final owner of each username claimed in the batch; `None` = the
    /// owner deleted their account (issue 18).
    pub(super) usernames: BTreeMap<String, Option<UserId>>,
    /// The data keys of the batch's users with sealed fields (issue 18;
    /// absent: deleted, see `apply_pii`).
    pub(super) pii_keys: HashMap<UserId, eventlog::pii::DataKey>,
    /// Users whose accounts were deleted in the batch.
    pub(super) deleted_users: BTreeSet<UserId>,
    /// Final friend entry of (owner, other); `None` = removed.
    pub(super) friends: BTreeMap<(UserId, UserId), Option<FriendEntryView>>,
    /// Final presence of (room, seq) in the room's live seqs.
    pub(super) live: BTreeMap<(RoomId, u64), bool>,
    /// Final presence of (room, author, seq) in the author's own seqs.
    pub(super) own: BTreeMap<(RoomId, UserId, u64), bool>,
    /// Per room, the lowest and highest `seq` posted in this batch: nothing
    /// older can be stored at those seqs.
    pub(super) posted: HashMap<RoomId, (u64, u64)>,
    /// The batch's live frames, in position order (stored, then published).
    pub(super) frames: Vec<Frame>,
    /// Indexes into `frames` of each room's and user's frames, in order.
    pub(super) room_frames: BTreeMap<RoomId, Vec<usize>>,
    pub(super) user_frames: BTreeMap<UserId, Vec<usize>>,
    /// Messages edited or deleted in the batch, with their final body
    /// (`None` = deleted): their stored frames are rewritten (see `redact`).
    pub(super) redactions: BTreeMap<(RoomId, MessageId), Option<String>>,
    /// Final entry of each attachment touched; `None` = discarded.
    pub(super) attachments: BTreeMap<AttachmentId, Option<AttachmentEntry>>,
    /// Final state of each upload touched: pending since (ms) or not.
    pub(super) pending_uploads: BTreeMap<(RoomId, AttachmentId), Option<i64>>,
    /// Uploads discarded in the batch, with the discard time (ms).
    pub(super) discarded_uploads: BTreeMap<(RoomId, AttachmentId), i64>,
    /// Final block of (blocker, blocked); `None` = unblocked (issue 16).
    pub(super) blocks: BTreeMap<(UserId, UserId), Option<BlockView>>,
    /// Final mute of (user, room); `None` = unmuted.
    pub(super) mutes: BTreeMap<(UserId, RoomId), Option<MuteView>>,
    /// Invites read or changed; `None` = revoked (or never projected).
    pub(super) invites: HashMap<(RoomId, InviteId), Option<InviteView>>,
    pub(super) dirty_invites: BTreeSet<(RoomId, InviteId)>,
    /// Token hash → the invite it opens, for invites created in the batch.
    pub(super) invite_tokens: BTreeMap<String, (RoomId, InviteId)>,
    /// Per user whose name changed in the batch, their search terms before
    /// the batch and after it.
    pub(super) search_terms: BTreeMap<UserId, (Vec<String>, Vec<String>)>,
    /// Who reacted to (room, seq) with what (see `messenger`).
    pub(super) reactions: HashMap<(RoomId, u64), Vec<ReactionSet>>,
    pub(super) dirty_reactions: BTreeSet<(RoomId, u64)>,
    /// Each room's notice; `None` = none.
    pub(super) notices: HashMap<RoomId, Option<NoticeView>>,
    pub(super) dirty_notices: BTreeSet<RoomId>,
    /// Seqs hidden in this batch, per (room, user).
    pub(super) hidden: BTreeMap<(RoomId, UserId), Vec<u64>>,
    /// Final `joined_seq` of (room, member); `None` = left.
    pub(super) joined: BTreeMap<(RoomId, UserId), Option<u64>>,
    /// The room of each meet-up the batch needs or planned (issue 17).
    pub(super) meetup_rooms: HashMap<MeetupId, Option<RoomId>>,
    pub(super) dirty_meetup_rooms: BTreeSet<MeetupId>,
}

/// Which current values a batch needs before applying.
#[derive(Default)]
struct Needs {
    rooms: BTreeSet<RoomId>,
    members: BTreeSet<RoomId>,
    /// (room, poster) of posts: the room's member count and whether the
    /// poster is a member, where the room's members are not read whole.
    counts: BTreeSet<(RoomId, UserId)>,
    profiles: BTreeSet<UserId>,
    markers: BTreeSet<(RoomId, UserId)>,
    timeline: BTreeSet<(RoomId, u64)>,
    invites: BTreeSet<(RoomId, InviteId)>,
    reactions: BTreeSet<(RoomId, u64)>,
    notices: BTreeSet<RoomId>,
    meetups: BTreeSet<MeetupId>,
}

fn needs(events: &[&StoredEvent]) -> Needs {
    let mut n = Needs::default();
    for e in events {
        match &e.event {
            DomainEvent::User(UserEvent::DisplayNameChanged(c)) => {
                n.profiles.insert(c.user_id);
            }
            DomainEvent::Room(r) => match r {
                RoomEvent::Created(_) => {}
                RoomEvent::Renamed(c) => {
                    n.rooms.insert(c.room_id);
                }
                RoomEvent::MemberAdded(c) => {
                    n.rooms.insert(c.room_id);
                    n.members.insert(c.room_id);
                    if let Some(invite) = c.via_invite {
                        n.invites.insert((c.room_id, invite));
                    }
                }
                RoomEvent::MemberLeft(c) => {
                    n.rooms.insert(c.room_id);
                    n.members.insert(c.room_id);
                }
                RoomEvent::MemberKicked(c) => {
                    n.members.insert(c.room_id);
                }
                RoomEvent::MessagePosted(c) => {
                    n.rooms.insert(c.room_id);
                    n.counts.insert((c.room_id, c.author_id));
                }
                RoomEvent::MessageEdited(c) => {
                    n.rooms.insert(c.room_id);
                    n.timeline.insert((c.room_id, c.seq));
                    // The notice shows the message's current text.
                    n.notices.insert(c.room_id);
                }
                RoomEvent::MessageDeleted(c) => {
                    n.rooms.insert(c.room_id);
                    n.timeline.insert((c.room_id, c.seq));
                }
                RoomEvent::ReadMarkerMoved(c) => {
                    n.markers.insert((c.room_id, c.user_id));
                }
                RoomEvent::ReactionAdded(c) => {
                    n.reactions.insert((c.room_id, c.seq));
                }
                RoomEvent::ReactionRemoved(c) => {
                    n.reactions.insert((c.room_id, c.seq));
                }
                RoomEvent::NoticeSet(c) => {
                    n.rooms.insert(c.room_id);
                    n.notices.insert(c.room_id);
                    n.timeline.insert((c.room_id, c.seq));
                }
                RoomEvent::NoticeCleared(c) => {
                    n.notices.insert(c.room_id);
                }
                // A hide only adds to a set; uploads are written whole,
                // nothing read first.
                RoomEvent::MessageHidden(_)
                | RoomEvent::AttachmentUploaded(_)
                | RoomEvent::AttachmentDiscarded(_) => {}
                RoomEvent::MemberRoleChanged(c) => {
                    n.rooms.insert(c.room_id);
                    n.members.insert(c.room_id);
                }
                RoomEvent::InviteCreated(_) | RoomEvent::InviteRevoked(_) => {}
            },
            DomainEvent::User(UserEvent::StatusMessageChanged(c)) => {
                n.profiles.insert(c.user_id);
            }
            DomainEvent::User(UserEvent::AccountDeleted(c)) => {
                n.profiles.insert(c.user_id);
            }
            DomainEvent::User(UserEvent::PresenceVisibilityChanged(c)) => {
                n.profiles.insert(c.user_id);
            }
            DomainEvent::User(UserEvent::Registered(_))
            | DomainEvent::Username(_)
            | DomainEvent::Friendship(FriendshipEvent::Requested(_))
            | DomainEvent::Friendship(FriendshipEvent::Accepted(_))
            | DomainEvent::Friendship(FriendshipEvent::Ended(_)) => {}
            DomainEvent::User(
                UserEvent::Blocked(_)
                | UserEvent::Unblocked(_)
                | UserEvent::RoomMuted(_)
                | UserEvent::RoomUnmuted(_)
                | UserEvent::PasswordChanged(_)
                | UserEvent::CalendarFeedRotated(_)
                | UserEvent::NotificationsRead(_),
            )
            | DomainEvent::Friendship(FriendshipEvent::Shadowed(_)) => {}
            // Its frames go to its room (issue 17); the rest of the meet-up
            // is in the read database, kept by the history projection.
            DomainEvent::Meetup(m) => {
                n.meetups.insert(m.meetup_id());
            }
        }
    }
    n
}

impl Overlay {
    /// Read, in one pipeline, every current value `events` depend on.
    pub(super) async fn load(
        keys: &RedisKeys,
        conn: &mut RedisConn,
        events: &[&StoredEvent],
    ) -> Result<Self> {
        Self::load_onto(Overlay::default(), keys, conn, events).await
    }

    /// [`Overlay::load`] starting from `known`: values it already holds
    /// (the state a previous batch left, see `bulk`) are not read again.
    pub(super) async fn load_onto(
        known: Overlay,
        keys: &RedisKeys,
        conn: &mut RedisConn,
        events: &[&StoredEvent],
    ) -> Result<Self> {
        let mut n = needs(events);
        // A room whose members the batch changes is read whole (its
        // membership events need it), and then counted from that.
        n.counts
            .retain(|(room, _)| !n.members.contains(room) && !known.members.contains_key(room));
        let counted: BTreeSet<RoomId> = n.counts.iter().map(|(room, _)| *room).collect();
        n.rooms.retain(|id| !known.rooms.contains_key(id));
        n.members.retain(|id| !known.members.contains_key(id));
        n.profiles.retain(|id| !known.profiles.contains_key(id));
        n.markers.retain(|k| !known.markers.contains_key(k));
        n.timeline.retain(|k| !known.timeline.contains_key(k));
        n.invites.retain(|k| !known.invites.contains_key(k));
        n.reactions.retain(|k| !known.reactions.contains_key(k));
        n.notices.retain(|k| !known.notices.contains_key(k));
        n.meetups.retain(|k| !known.meetup_rooms.contains_key(k));
        let mut pipe = redis::pipe();
        for id in &n.rooms {
            rooms::queue_get(&mut pipe, keys, *id);
        }
        for id in &n.members {
            rooms::queue_members(&mut pipe, keys, *id);
        }
        for id in &counted {
            rooms::queue_member_count(&mut pipe, keys, *id);
        }
        for (room, user) in &n.counts {
            rooms::queue_is_member(&mut pipe, keys, *room, *user);
        }
        for id in &n.profiles {
            profiles::queue_get(&mut pipe, keys, *id);
        }
        for (room, user) in &n.markers {
            unread::queue_marker(&mut pipe, keys, *room, *user);
        }
        for (room, seq) in &n.timeline {
            timeline::queue_at(&mut pipe, keys, *room, *seq);
        }
        for (room, invite) in &n.invites {
            people::queue_invite(&mut pipe, keys, *room, *invite);
        }
        for (room, seq) in &n.reactions {
            reactions::queue_many(&mut pipe, keys, *room, &[*seq]);
        }
        for room in &n.notices {
            notice::queue_get(&mut pipe, keys, *room);
        }
        for id in &n.meetups {
            meetup_rooms::queue_get(&mut pipe, keys, *id);
        }
        let mut replies = Replies::new(if pipe.is_empty() {
            Vec::new()
        } else {
            pipe.query_async::<Vec<redis::Value>>(conn).await?
        });
        let mut o = known;
        for id in n.rooms {
            o.rooms.insert(id, rooms::take(&mut replies)?);
        }
        for id in n.members {
            o.members.insert(id, rooms::take_members(&mut replies)?);
        }
        for id in counted {
            o.member_counts.insert(id, rooms::take_count(&mut replies)?);
        }
        for k in n.counts {
            o.is_member.insert(k, rooms::take_is_member(&mut replies)?);
        }
        for id in n.profiles {
            o.profiles.insert(id, profiles::take(&mut replies)?);
        }
        for k in n.markers {
            o.markers.insert(k, unread::take_marker(&mut replies)?);
        }
        for k in n.timeline {
            o.timeline.insert(k, timeline::take_at(&mut replies)?);
        }
        for k in n.invites {
            o.invites.insert(k, people::take_invite(&mut replies)?);
        }
        for k in n.reactions {
            let sets = reactions::take_many(&mut replies, 1)?
                .pop()
                .unwrap_or_default();
            o.reactions.insert(k, sets);
        }
        for room in n.notices {
            o.notices.insert(room, notice::take(&mut replies)?);
        }
        for id in n.meetups {
            o.meetup_rooms.insert(id, meetup_rooms::take(&mut replies)?);
        }
        Ok(o)
    }
}
