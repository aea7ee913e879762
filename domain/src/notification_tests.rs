//! Who gets notified, and the three rules as properties: never the actor,
//! never a muter, never a blocker.

use super::*;
use crate::event::{
    FriendRequestAccepted, FriendRequestShadowed, FriendRequested, MemberAdded, MessagePosted,
    ReactionAdded, RoomCreated,
};
use crate::ids::InviteId;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use uuid::Uuid;

const ROOM: RoomId = RoomId(Uuid::from_u128(100));

fn u(n: u8) -> UserId {
    UserId(Uuid::from_u128(1 + u128::from(n % 6)))
}
fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}
fn posted(author: UserId, mentions: Vec<UserId>, reply: bool) -> DomainEvent {
    DomainEvent::Room(RoomEvent::MessagePosted(MessagePosted {
        room_id: ROOM,
        message_id: MessageId(Uuid::from_u128(9)),
        seq: 3,
        author_id: author,
        body: "@민지 확인 부탁".into(),
        reply_to: reply.then(|| MessageId(Uuid::from_u128(8))),
        attachments: vec![],
        mentions,
        at: at(),
    }))
}
fn members() -> HashSet<UserId> {
    (0..6).map(u).collect()
}
fn recipients(
    event: &DomainEvent,
    target: Option<UserId>,
    muted: &[UserId],
    blocks: &[(UserId, UserId)],
) -> Vec<(UserId, NotificationKind)> {
    let (members, muted, blocks) = (
        members(),
        muted.iter().copied().collect(),
        blocks.iter().copied().collect(),
    );
    let ctx = NotificationContext {
        target_author: target,
        room_members: &members,
        muted: &muted,
        blocks: &blocks,
        meetup: None,
    };
    notifications(event, &ctx)
        .into_iter()
        .map(|n| (n.recipient, n.kind))
        .collect()
}

#[test]
fn mentions_and_replies_one_each_mention_first() {
    use NotificationKind as K;
    let e = posted(u(0), vec![u(1), u(2), u(0)], true);
    assert_eq!(
        recipients(&e, Some(u(1)), &[], &[]),
        vec![(u(1), K::Mention), (u(2), K::Mention)]
    );
    assert_eq!(
        recipients(&e, Some(u(3)), &[], &[]),
        vec![(u(1), K::Mention), (u(2), K::Mention), (u(3), K::Reply)]
    );
    // Replying to oneself notifies nobody.
    assert_eq!(
        recipients(&posted(u(0), vec![], true), Some(u(0)), &[], &[]),
        vec![]
    );
}

#[test]
fn reactions_friends_and_rooms() {
    use NotificationKind as K;
    let reaction = DomainEvent::Room(RoomEvent::ReactionAdded(ReactionAdded {
        room_id: ROOM,
        message_id: MessageId(Uuid::from_u128(9)),
        seq: 3,
        user_id: u(1),
        emoji: "👍".into(),
        at: at(),
    }));
    assert_eq!(
        recipients(&reaction, Some(u(2)), &[], &[]),
        vec![(u(2), K::Reaction)]
    );
    let req = DomainEvent::Friendship(FriendshipEvent::Requested(FriendRequested {
        from: u(1),
        to: u(2),
        at: at(),
    }));
    assert_eq!(
        recipients(&req, None, &[], &[]),
        vec![(u(2), K::FriendRequest)]
    );
    let shadow = DomainEvent::Friendship(FriendshipEvent::Shadowed(FriendRequestShadowed {
        from: u(1),
        to: u(2),
        at: at(),
    }));
    assert_eq!(recipients(&shadow, None, &[], &[]), vec![]);
    let acc = DomainEvent::Friendship(FriendshipEvent::Accepted(FriendRequestAccepted {
        by: u(2),
        requester: u(1),
        at: at(),
    }));
    assert_eq!(
        recipients(&acc, None, &[], &[]),
        vec![(u(1), K::FriendAccepted)]
    );
    let created = |direct| {
        DomainEvent::Room(RoomEvent::Created(RoomCreated {
            room_id: ROOM,
            name: String::new(),
            owner_id: u(0),
            direct,
            members: vec![u(0), u(1)],
            at: at(),
        }))
    };
    assert_eq!(
        recipients(&created(false), None, &[], &[]),
        vec![(u(1), K::AddedToRoom)]
    );
    assert_eq!(recipients(&created(true), None, &[], &[]), vec![]);
    let added = |via_invite| {
        DomainEvent::Room(RoomEvent::MemberAdded(MemberAdded {
            room_id: ROOM,
            user_id: u(3),
            by: u(0),
            via_invite,
            at: at(),
        }))
    };
    assert_eq!(
        recipients(&added(None), None, &[], &[]),
        vec![(u(3), K::AddedToRoom)]
    );
    assert_eq!(
        recipients(&added(Some(InviteId(Uuid::from_u128(5)))), None, &[], &[]),
        vec![]
    );
    // Friend requests and acceptances are not of a room: mutes do not apply,
    // blocks do.
    assert_eq!(
        recipients(&req, None, &[u(2)], &[]),
        vec![(u(2), K::FriendRequest)]
    );
    assert_eq!(recipients(&req, None, &[], &[(u(2), u(1))]), vec![]);
}

#[test]
fn muted_rooms_blocked_actors_and_non_members_get_nothing() {
    let e = posted(u(0), vec![u(1), u(2), u(3)], false);
    let got = recipients(&e, None, &[u(1)], &[(u(2), u(0))]);
    assert_eq!(got, vec![(u(3), NotificationKind::Mention)]);
    // Blocked the other way round: the blocker still acts, and the blocked
    // person's notification is theirs to get.
    assert_eq!(recipients(&e, None, &[], &[(u(0), u(3))]).len(), 3);
}

fn any_event() -> impl Strategy<Value = DomainEvent> {
    let x = 0u8..6;
    prop_oneof![
        (
            x.clone(),
            proptest::collection::vec(x.clone(), 0..6),
            any::<bool>()
        )
            .prop_map(|(a, m, r)| posted(u(a), m.into_iter().map(u).collect(), r)),
        (x.clone(), x.clone()).prop_map(|(a, b)| DomainEvent::Friendship(
            FriendshipEvent::Requested(FriendRequested {
                from: u(a),
                to: u(b),
                at: at()
            })
        )),
        (x.clone(), x.clone()).prop_map(|(a, b)| DomainEvent::Friendship(
            FriendshipEvent::Accepted(FriendRequestAccepted {
                by: u(a),
                requester: u(b),
                at: at()
            })
        )),
        (x.clone(), x.clone()).prop_map(|(a, b)| DomainEvent::Room(RoomEvent::MemberAdded(
            MemberAdded {
                room_id: ROOM,
                user_id: u(b),
                by: u(a),
                via_invite: None,
                at: at()
            }
        ))),
        (x.clone(), proptest::collection::vec(x.clone(), 0..6)).prop_map(|(a, m)| {
            DomainEvent::Room(RoomEvent::Created(RoomCreated {
                room_id: ROOM,
                name: "방".into(),
                owner_id: u(a),
                direct: false,
                members: m.into_iter().map(u).collect(),
                at: at(),
            }))
        }),
        (x.clone(), x).prop_map(|(a, _)| DomainEvent::Room(RoomEvent::ReactionAdded(
            ReactionAdded {
                room_id: ROOM,
                message_id: MessageId(Uuid::from_u128(9)),
                seq: 1,
                user_id: u(a),
                emoji: "👍".into(),
                at: at(),
            }
        ))),
    ]
}

proptest! {
    /// Never the actor, never someone who muted the room (for room events),
    /// never someone who blocked the actor; at most one per recipient.
    #[test]
    fn never_the_actor_a_muter_or_a_blocker(
        event in any_event(),
        target in proptest::option::of(0u8..6),
        muted in proptest::collection::vec(0u8..6, 0..4),
        blocks in proptest::collection::vec((0u8..6, 0u8..6), 0..8),
    ) {
        let muted: HashSet<UserId> = muted.into_iter().map(u).collect();
        let blocks: HashSet<(UserId, UserId)> = blocks.into_iter().map(|(a, b)| (u(a), u(b))).collect();
        let members = members();
        let ctx = NotificationContext { target_author: target.map(u), room_members: &members, muted: &muted, blocks: &blocks, meetup: None };
        let out = notifications(&event, &ctx);
        let mut seen = HashSet::new();
        for n in &out {
            prop_assert_ne!(n.recipient, n.actor);
            prop_assert!(n.room_id.is_none() || !muted.contains(&n.recipient));
            prop_assert!(!blocks.contains(&(n.recipient, n.actor)));
            prop_assert!(seen.insert(n.recipient));
        }
    }
}

mod meetups {
    use super::*;
    use crate::event::{
        AttendeeInvited, MeetupCancelled, MeetupChanged, MeetupDetails, MeetupField, MeetupPlanned,
        MeetupReminderDue,
    };
    use crate::ids::MeetupId;

    const MEETUP: MeetupId = MeetupId(Uuid::from_u128(200));

    fn details() -> MeetupDetails {
        MeetupDetails {
            title: "저녁".into(),
            starts_at: at(),
            ends_at: None,
            place: None,
            description: None,
            remind_before_minutes: 30,
        }
    }

    /// Given a meet-up organized by u(0) with `attendees`, when `event`
    /// happens, then these are notified (with `muted` members of its room
    /// and `blocks`).
    fn then(
        event: MeetupEvent,
        attendees: &[UserId],
        muted: &[UserId],
        blocks: &[(UserId, UserId)],
    ) -> Vec<(UserId, NotificationKind, UserId)> {
        let (members, muted, blocks): (HashSet<_>, HashSet<_>, HashSet<_>) = (
            HashSet::new(),
            muted.iter().copied().collect(),
            blocks.iter().copied().collect(),
        );
        let ctx = NotificationContext {
            target_author: None,
            room_members: &members,
            muted: &muted,
            blocks: &blocks,
            meetup: Some(MeetupContext {
                room_id: ROOM,
                organizer: u(0),
                attendees,
            }),
        };
        notifications(&DomainEvent::Meetup(event), &ctx)
            .into_iter()
            .inspect(|n| assert_eq!(n.room_id, Some(ROOM)))
            .map(|n| (n.recipient, n.kind, n.actor))
            .collect()
    }

    #[test]
    fn invitations_changes_and_cancellations_reach_attendees_but_the_actor() {
        use NotificationKind as K;
        let planned = MeetupEvent::Planned(MeetupPlanned {
            meetup_id: MEETUP,
            room_id: ROOM,
            organizer: u(0),
            details: details(),
            invitees: vec![u(1), u(2)],
            at: at(),
        });
        assert_eq!(
            then(planned, &[u(0), u(1), u(2)], &[], &[]),
            vec![
                (u(1), K::MeetupInvited, u(0)),
                (u(2), K::MeetupInvited, u(0))
            ]
        );
        let invited = MeetupEvent::AttendeeInvited(AttendeeInvited {
            meetup_id: MEETUP,
            user_id: u(3),
            by: u(1),
            at: at(),
        });
        let all = [u(0), u(1), u(2), u(3)];
        assert_eq!(
            then(invited, &all, &[], &[]),
            vec![(u(3), K::MeetupInvited, u(1))]
        );
        let changed = MeetupEvent::Changed(MeetupChanged {
            meetup_id: MEETUP,
            details: details(),
            changed: vec![MeetupField::Place],
            sequence: 1,
            by: u(0),
            at: at(),
        });
        // u(2) muted the meet-up's room, u(3) blocked the organizer.
        assert_eq!(
            then(changed, &all, &[u(2)], &[(u(3), u(0))]),
            vec![(u(1), K::MeetupChanged, u(0))]
        );
        let cancelled = MeetupEvent::Cancelled(MeetupCancelled {
            meetup_id: MEETUP,
            sequence: 2,
            by: u(0),
            at: at(),
        });
        assert_eq!(
            then(cancelled, &all, &[], &[]),
            vec![
                (u(1), K::MeetupCancelled, u(0)),
                (u(2), K::MeetupCancelled, u(0)),
                (u(3), K::MeetupCancelled, u(0))
            ]
        );
    }

    #[test]
    fn a_reminder_reaches_its_attendee_whatever_else_holds() {
        let due = |user| {
            MeetupEvent::ReminderDue(MeetupReminderDue {
                meetup_id: MEETUP,
                user_id: user,
                starts_at: at(),
                due_at: at(),
                fired_at: at(),
                late_by_ms: 0,
            })
        };
        let all = [u(0), u(1)];
        // The organizer too, and through a mute or a block: nobody acted.
        for user in all {
            assert_eq!(
                then(due(user), &all, &all, &[(user, u(0))]),
                vec![(user, NotificationKind::MeetupReminder, u(0))]
            );
        }
    }

    #[test]
    fn joining_a_meetups_room_is_told_as_the_invitation_only() {
        let added = DomainEvent::Room(RoomEvent::MemberAdded(MemberAdded {
            room_id: ROOM,
            user_id: u(3),
            by: u(1),
            via_invite: None,
            at: at(),
        }));
        let (members, none, blocks) = (members(), HashSet::new(), HashSet::new());
        let attendees = [u(0), u(3)];
        let ctx = |attendees| NotificationContext {
            target_author: None,
            room_members: &members,
            muted: &none,
            blocks: &blocks,
            meetup: Some(MeetupContext {
                room_id: ROOM,
                organizer: u(0),
                attendees,
            }),
        };
        assert!(notifications(&added, &ctx(&attendees)).is_empty());
        // Added to the room by hand without attending: an ordinary addition.
        assert_eq!(
            notifications(&added, &ctx(&[u(0)]))[0].kind,
            NotificationKind::AddedToRoom
        );
    }
}
