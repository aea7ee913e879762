//! The bounded command load of a fault test, and the ledger of what the
//! command side acknowledged.
//!
//! Eight users (each driven by exactly one worker, so the order of one user's
//! commands is known), two halls everyone is in, and one side room per
//! worker in which its owner kicks a member, adds one and sees another leave.
//! Workers post, edit and delete their own messages, move read markers,
//! change display names, react to, hide and pin their own messages (and
//! mention the halls' owner, who marks their notifications read once), send
//! a file with one post in eight, plan a meet-up (whose reminder the
//! scheduler fires during the load); every command must succeed (the command
//! side is not what the faults hit), and each acknowledgement is written to
//! the [`Ledger`] the read models are later checked against.

use crate::support::{Server, User};
use contract::commands::{
    AddMemberRequest, CreateRoomRequest, EditMessageRequest, FriendRequest, PostMessageRequest,
    ReadMarkerRequest, SetNoticeRequest, UpdateMeRequest,
};
use contract::meetups::CreateMeetupRequest;
use contract::Positioned;
use domain::{MessageId, RoomId, UserId};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use uuid::Uuid;

#[path = "load_attach.rs"]
mod attach;
#[path = "load_people.rs"]
mod people;

/// Workers driving the load concurrently.
pub const WORKERS: usize = 4;
const WORDS: [&str; 8] = [
    "회의는",
    "자료를",
    "배포",
    "점심에서",
    "deploy",
    "review",
    "일정이",
    "meeting",
];

/// An acknowledged message and what acknowledged edits/deletes made of it.
#[derive(Clone, Debug)]
pub struct PostRec {
    pub message_id: Uuid,
    pub author: Uuid,
    pub body: String,
    pub edited: bool,
    pub deleted: bool,
    /// The attachment sent with it (uploaded just before).
    pub attachment: Option<Uuid>,
}

/// What the command side acknowledged about one room.
#[derive(Clone, Debug, Default)]
pub struct RoomRec {
    pub owner: Uuid,
    pub members: BTreeSet<Uuid>,
    /// Expected read marker of every current member.
    pub markers: BTreeMap<Uuid, u64>,
    pub posts: BTreeMap<u64, PostRec>,
    /// Members with the `admin` role.
    pub admins: BTreeSet<Uuid>,
    /// seq → emoji → who reacted (only to their own messages: one worker each).
    pub reactions: BTreeMap<u64, BTreeMap<String, BTreeSet<Uuid>>>,
    /// Who hid which seqs.
    pub hidden: BTreeMap<Uuid, BTreeSet<u64>>,
    /// Notice changes by position: `Some(seq)` pinned, `None(seq)` its
    /// message deleted (workers race on a hall's notice: the log orders them).
    pub notice_log: BTreeMap<i64, (bool, u64)>,
}

impl RoomRec {
    /// The notice the log's order leaves: the newest pin, unless its
    /// message was deleted after it.
    pub fn notice(&self) -> Option<u64> {
        let mut current = None;
        for (pinned, seq) in self.notice_log.values() {
            if *pinned {
                current = Some(*seq);
            } else if current == Some(*seq) {
                current = None;
            }
        }
        current
    }
}

/// Everything acknowledged, built only from command answers.
#[derive(Debug, Default)]
pub struct Ledger {
    /// user → (username, display name)
    pub users: BTreeMap<Uuid, (String, String)>,
    pub rooms: BTreeMap<Uuid, RoomRec>,
    /// Friend pairs, both directions.
    pub friends: BTreeSet<(Uuid, Uuid)>,
    /// Highest position any command answered.
    pub max_position: i64,
    /// Meet-up reminders owed by acknowledged commands (the scheduler of
    /// the projector child appends them, unacknowledged by any command).
    pub reminders_owed: usize,
    pub commands: usize,
}

impl Ledger {
    fn post(&mut self, room: Uuid, seq: u64, rec: PostRec) {
        let r = self.rooms.get_mut(&room).expect("known room");
        let marker = r.markers.entry(rec.author).or_insert(0);
        *marker = (*marker).max(seq);
        let dup = r.posts.insert(seq, rec);
        assert!(dup.is_none(), "seq {seq} acknowledged twice in room {room}");
    }

    fn remove_member(&mut self, room: Uuid, user: Uuid) {
        let r = self.rooms.get_mut(&room).expect("known room");
        r.members.remove(&user);
        r.markers.remove(&user);
        r.admins.remove(&user);
    }
}

/// The load: users, rooms, the ledger and a count of acknowledgements.
pub struct Load<'a> {
    server: &'a Server,
    pub ledger: Mutex<Ledger>,
    acked: AtomicUsize,
    users: Vec<User>,
    halls: Vec<Uuid>,
    sides: Vec<Uuid>,
    ops: usize,
    seed: u64,
}

impl<'a> Load<'a> {
    /// Register the users, make them friends in pairs, create the rooms.
    pub async fn setup(server: &'a Server, seed: u64, ops_per_worker: usize) -> Load<'a> {
        let mut load = Load {
            server,
            ledger: Mutex::new(Ledger::default()),
            acked: AtomicUsize::new(0),
            users: Vec::new(),
            halls: Vec::new(),
            sides: Vec::new(),
            ops: ops_per_worker,
            seed,
        };
        for i in 0..2 * WORKERS {
            let name = format!("user{i}");
            let u = server.user(&name).await;
            let mut l = load.ledger.lock().unwrap();
            l.users.insert(u.id.0, (name.clone(), name.to_uppercase()));
            l.max_position = l.max_position.max(u.position);
            l.commands += 1;
            drop(l);
            load.users.push(u);
        }
        for i in 0..WORKERS {
            let (a, b) = (load.users[i].clone(), load.users[i + WORKERS].clone());
            let ask = FriendRequest { user_id: b.id };
            load.ack(server.as_user(&a).request_friend(&ask).await);
            load.ack(server.as_user(&b).accept_friend(a.id).await);
            let (a, b): (Uuid, Uuid) = (a.id.0, b.id.0);
            let mut l = load.ledger.lock().unwrap();
            l.friends.insert((a, b));
            l.friends.insert((b, a));
        }
        let everyone: Vec<UserId> = load.users[1..].iter().map(|u| u.id).collect();
        for name in ["hall-a", "hall-b"] {
            let owner = load.users[0].clone();
            let room = load.create_room(&owner, name, &everyone).await;
            load.halls.push(room);
        }
        for w in 0..WORKERS {
            let owner = load.users[w].clone();
            let others = [
                load.users[w + WORKERS].id,
                load.users[(w + 1) % WORKERS + WORKERS].id,
            ];
            let room = load
                .create_room(&owner, &format!("side-{w}"), &others)
                .await;
            load.sides.push(room);
        }
        load
    }

    async fn create_room(&self, owner: &User, name: &str, members: &[UserId]) -> Uuid {
        let create = CreateRoomRequest {
            name: name.to_owned(),
            members: members.to_vec(),
        };
        let created = self.server.as_user(owner).create_room(&create).await;
        let room = self.ack(created).room_id.0;
        let owner: Uuid = owner.id.0;
        let mut rec = RoomRec {
            owner,
            ..Default::default()
        };
        rec.members.insert(owner);
        rec.members.extend(members.iter().map(|m| m.0));
        rec.markers = rec.members.iter().map(|m| (*m, 0)).collect();
        self.ledger.lock().unwrap().rooms.insert(room, rec);
        room
    }

    /// Commands acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Commands [`Load::run`] sends.
    pub fn planned(&self) -> usize {
        WORKERS * self.ops
    }

    /// Require a command's success and record its position.
    #[track_caller]
    fn ack<T>(&self, answer: testkit::client::Result<Positioned<T>>) -> Positioned<T> {
        let a = answer.unwrap_or_else(|e| panic!("command refused: {e}"));
        let p = a.position;
        assert!(p > 0, "command answered without a position: {p}");
        let mut l = self.ledger.lock().unwrap();
        l.max_position = l.max_position.max(p);
        l.commands += 1;
        drop(l);
        self.acked.fetch_add(1, Ordering::SeqCst);
        a
    }

    /// After [`Load::run`]: post `n` more messages into the first hall as
    /// its owner (mentioning the owner, as the load's hall posts do),
    /// recorded in the ledger; for checks that need posts acknowledged after
    /// a known moment.
    pub async fn post_more(&self, n: usize) {
        let (owner, hall) = (&self.users[0], self.halls[0]);
        for i in 0..n {
            let body = format!("later m{i} {}", WORDS[i % WORDS.len()]);
            let mut post = PostMessageRequest::text(body.clone());
            post.mentions = vec![owner.id];
            let as_owner = self.server.as_user(owner);
            let posted = self.ack(as_owner.post_message(RoomId(hall), &post).await);
            let rec = PostRec {
                message_id: posted.message_id.0,
                author: owner.id.0,
                body,
                edited: false,
                deleted: false,
                attachment: None,
            };
            self.ledger.lock().unwrap().post(hall, posted.seq, rec);
        }
    }

    /// Run every worker to completion.
    pub async fn run(&self) {
        futures::future::join_all((0..WORKERS).map(|w| self.worker(w))).await;
    }

    async fn worker(&self, w: usize) {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(w as u64 * 7919));
        let actors = [self.users[w].clone(), self.users[w + WORKERS].clone()];
        let owner = &actors[0];
        let side = self.sides[w];
        // Live messages of each actor: (room, message id, seq).
        let mut mine: [Vec<(Uuid, Uuid, u64)>; 2] = [Vec::new(), Vec::new()];
        // Position of the last hall post of actor 1 (mentions the halls' owner).
        let mut mentioned: Option<i64> = None;
        let mut marked = false;
        for i in 0..self.ops {
            if self.people_step(w, i).await {
                continue;
            }
            if i == self.ops / 3 {
                let kicked = &self.users[w + WORKERS];
                self.remove(owner, side, kicked).await;
                continue;
            }
            if i == self.ops / 2 {
                let added = &self.users[(w + 2) % WORKERS];
                let add = AddMemberRequest { user_id: added.id };
                let as_owner = self.server.as_user(owner);
                self.ack(as_owner.add_member(RoomId(side), &add).await);
                let mut l = self.ledger.lock().unwrap();
                let r = l.rooms.get_mut(&side).unwrap();
                let last = r.posts.keys().max().copied().unwrap_or(0);
                let id: Uuid = added.id.0;
                r.members.insert(id);
                r.markers.insert(id, last);
                continue;
            }
            if i == self.ops / 4 {
                self.plan_meetup(w, owner, &actors[1]).await;
                continue;
            }
            if i == 2 * self.ops / 3 {
                let leaver = &self.users[(w + 1) % WORKERS + WORKERS];
                self.remove(leaver, side, leaver).await;
                continue;
            }
            if w == 0 && !marked && i >= 7 * self.ops / 10 {
                if let Some(at) = mentioned {
                    // The halls' owner (this worker's actor 0) reads their
                    // notifications up to actor 1's last mention of them,
                    // made before any block between the two.
                    marked = true;
                    let up_to = domain::notification::NotificationId::of(at, owner.id);
                    let as_owner = self.server.as_user(owner);
                    self.ack(as_owner.mark_notifications_read(up_to.0).await);
                    continue;
                }
            }
            let a = rng.gen_range(0..2);
            let actor = &actors[a];
            let roll = rng.gen_range(0..100);
            if (43..55).contains(&roll) && !mine[a].is_empty() {
                let k = rng.gen_range(0..mine[a].len());
                self.messenger(actor, mine[a][k], roll, &mut rng).await;
            } else if roll < 15 && !mine[a].is_empty() {
                let k = rng.gen_range(0..mine[a].len());
                let (room, msg, seq) = mine[a][k];
                let body = format!("edited {w}-{i} {}", WORDS.choose(&mut rng).unwrap());
                let edit = EditMessageRequest { body: body.clone() };
                let as_actor = self.server.as_user(actor);
                let (room_id, msg) = (RoomId(room), MessageId(msg));
                self.ack(as_actor.edit_message(room_id, msg, &edit).await);
                let mut l = self.ledger.lock().unwrap();
                let p = l.rooms.get_mut(&room).unwrap().posts.get_mut(&seq).unwrap();
                p.body = body;
                p.edited = true;
            } else if roll < 25 && !mine[a].is_empty() {
                let k = rng.gen_range(0..mine[a].len());
                let (room, msg, seq) = mine[a].swap_remove(k);
                let as_actor = self.server.as_user(actor);
                let (room_id, msg) = (RoomId(room), MessageId(msg));
                let at = self
                    .ack(as_actor.delete_message(room_id, msg).await)
                    .position;
                let mut l = self.ledger.lock().unwrap();
                let r = l.rooms.get_mut(&room).unwrap();
                r.notice_log.insert(at, (false, seq));
                let p = r.posts.get_mut(&seq).unwrap();
                p.body.clear();
                p.deleted = true;
            } else if let Some((hall, last)) =
                (roll < 40).then(|| self.read_target(&mut rng)).flatten()
            {
                let read = ReadMarkerRequest { seq: last };
                let as_actor = self.server.as_user(actor);
                self.ack(as_actor.mark_read(RoomId(hall), &read).await);
                let mut l = self.ledger.lock().unwrap();
                let id: Uuid = actor.id.0;
                let m = l
                    .rooms
                    .get_mut(&hall)
                    .unwrap()
                    .markers
                    .get_mut(&id)
                    .unwrap();
                *m = (*m).max(last);
            } else if roll < 43 {
                let name = format!("{} {i}", actor.id.to_string()[..8].to_uppercase());
                let update = UpdateMeRequest {
                    display_name: Some(name.clone()),
                    ..UpdateMeRequest::default()
                };
                self.ack(self.server.as_user(actor).update_me(&update).await);
                let id: Uuid = actor.id.0;
                self.ledger.lock().unwrap().users.get_mut(&id).unwrap().1 = name;
            } else {
                // Only the owner posts in the side room: its seqs are then
                // known to the worker (the join marker of an added member).
                let room = if a == 0 && rng.gen_bool(0.3) {
                    side
                } else {
                    *self.halls.choose(&mut rng).unwrap()
                };
                let body = format!("w{w} m{i} {}", WORDS.choose(&mut rng).unwrap());
                let mut post = PostMessageRequest::text(body.clone());
                if room != side {
                    // The halls' owner never leaves them.
                    post.mentions = vec![self.users[0].id];
                }
                // One post in eight carries a file.
                let attachment = if rng.gen_ratio(1, 8) {
                    Some(self.attach(actor, room, &mut post).await)
                } else {
                    None
                };
                let as_actor = self.server.as_user(actor);
                // Typing first (issue 16): ephemeral, nothing to check
                // afterwards; faults may refuse it (503), never the post.
                let _ = as_actor.typing(RoomId(room)).await;
                let posted = self.ack(as_actor.post_message(RoomId(room), &post).await);
                if a == 1 && room != side && i < 7 * self.ops / 10 {
                    mentioned = Some(posted.position);
                }
                let (msg, seq) = (posted.message_id.0, posted.seq);
                let author: Uuid = actor.id.0;
                let rec = PostRec {
                    message_id: msg,
                    author,
                    body,
                    edited: false,
                    deleted: false,
                    attachment,
                };
                self.ledger.lock().unwrap().post(room, seq, rec);
                mine[a].push((room, msg, seq));
            }
        }
    }

    /// React to (or take back), hide, or pin one of `actor`'s own live
    /// messages, by `roll` (43–54).
    async fn messenger(
        &self,
        actor: &User,
        (room, msg, seq): (Uuid, Uuid, u64),
        roll: u32,
        rng: &mut StdRng,
    ) {
        let api = self.server.as_user(actor);
        let (room_id, msg) = (RoomId(room), MessageId(msg));
        let me: Uuid = actor.id.0;
        if roll < 50 {
            let emoji = *["👍", "❤️", "😂"].choose(rng).unwrap();
            let had = {
                let l = self.ledger.lock().unwrap();
                l.rooms[&room]
                    .reactions
                    .get(&seq)
                    .and_then(|e| e.get(emoji))
                    .is_some_and(|u| u.contains(&me))
            };
            if had {
                self.ack(api.unreact(room_id, msg, emoji).await);
            } else {
                self.ack(api.react(room_id, msg, emoji).await);
            }
            let mut l = self.ledger.lock().unwrap();
            let by_emoji = l
                .rooms
                .get_mut(&room)
                .unwrap()
                .reactions
                .entry(seq)
                .or_default();
            let users = by_emoji.entry(emoji.to_owned()).or_default();
            if had {
                users.remove(&me);
                if users.is_empty() {
                    by_emoji.remove(emoji);
                }
            } else {
                users.insert(me);
            }
        } else if roll < 52 {
            self.ack(api.hide_message(room_id, msg).await);
            let mut l = self.ledger.lock().unwrap();
            l.rooms
                .get_mut(&room)
                .unwrap()
                .hidden
                .entry(me)
                .or_default()
                .insert(seq);
        } else {
            let pin = SetNoticeRequest { message_id: msg };
            let at = self.ack(api.set_notice(room_id, &pin).await).position;
            let mut l = self.ledger.lock().unwrap();
            l.rooms
                .get_mut(&room)
                .unwrap()
                .notice_log
                .insert(at, (true, seq));
        }
    }

    /// `owner` plans a meet-up with `guest` (a room of the two): its start a
    /// day away and the largest lead time, so the organizer's reminder is
    /// due at once and the scheduler fires it during the load.
    async fn plan_meetup(&self, w: usize, owner: &User, guest: &User) {
        let plan = CreateMeetupRequest {
            title: format!("모임 {w}"),
            starts_at: chrono::Utc::now() + chrono::Duration::days(1),
            ends_at: None,
            place: None,
            description: None,
            invitees: vec![guest.id],
            remind_before_minutes: Some(10_080),
        };
        let created = self.ack(self.server.as_user(owner).create_meetup(&plan).await);
        let room = created.room_id.0;
        let mut rec = RoomRec {
            owner: owner.id.0,
            ..Default::default()
        };
        rec.members.extend([owner.id.0, guest.id.0]);
        rec.markers = rec.members.iter().map(|m| (*m, 0)).collect();
        let mut l = self.ledger.lock().unwrap();
        l.rooms.insert(room, rec);
        l.reminders_owed += 1;
    }

    /// A hall with messages and its last acknowledged seq.
    fn read_target(&self, rng: &mut StdRng) -> Option<(Uuid, u64)> {
        let hall = *self.halls.choose(rng).unwrap();
        let l = self.ledger.lock().unwrap();
        let last = l.rooms[&hall].posts.keys().max().copied()?;
        Some((hall, last))
    }

    /// `actor` removes `user` from `room` (a kick, or a leave when the same).
    async fn remove(&self, actor: &User, room: Uuid, user: &User) {
        let as_actor = self.server.as_user(actor);
        self.ack(as_actor.remove_member(RoomId(room), user.id).await);
        let id: Uuid = user.id.0;
        self.ledger.lock().unwrap().remove_member(room, id);
    }
}
