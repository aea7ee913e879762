//! Given / when / then tests and invariants of the room's message rules:
//! attachments, mentions, the delete window, reactions, hiding, notices and
//! the unread "1".

use super::tests::{
    add, at, create, delete, given, msg, post, read, remove, when, BORA, CHUL, OWNER,
};
use super::*;
use crate::event::{MessageDeleted, NoticeCleared};
use chrono::TimeDelta;
use proptest::prelude::*;
use uuid::Uuid;
use RoomCommand as C;

fn file(n: u128) -> AttachmentId {
    AttachmentId(Uuid::from_u128(5000 + n))
}
fn attachment(n: u128) -> Attachment {
    Attachment {
        attachment_id: file(n),
        content_type: "image/png".into(),
        size: 1024,
        sha256: "0f".repeat(32),
        name: Some(format!("사진{n}.png")),
        width: Some(640),
        height: Some(480),
    }
}
fn upload(actor: UserId, n: u128) -> C {
    C::Upload {
        actor,
        attachment: attachment(n),
        at: at(),
    }
}
fn post_with(actor: UserId, n: u128, body: Option<&str>, files: &[u128], mentions: &[UserId]) -> C {
    C::Post {
        actor,
        message_id: msg(n),
        body: body.map(|b| MessageBody::parse(b).unwrap()),
        reply_to: None,
        attachments: files.iter().map(|f| file(*f)).collect(),
        mentions: mentions.to_vec(),
        at: at(),
    }
}
fn discard(n: u128, hours_later: i64) -> C {
    C::DiscardUpload {
        attachment_id: file(n),
        orphan_after: TimeDelta::hours(24),
        at: at() + TimeDelta::hours(hours_later),
    }
}
fn emoji(s: &str) -> ReactionEmoji {
    ReactionEmoji::parse(s).unwrap()
}
fn react(actor: UserId, n: u128, e: &str) -> C {
    C::React {
        actor,
        message_id: msg(n),
        emoji: emoji(e),
        at: at(),
    }
}
fn unreact(actor: UserId, n: u128, e: &str) -> C {
    C::Unreact {
        actor,
        message_id: msg(n),
        emoji: emoji(e),
        at: at(),
    }
}
fn hide(actor: UserId, n: u128) -> C {
    C::Hide {
        actor,
        message_id: msg(n),
        at: at(),
    }
}
fn set_notice(actor: UserId, n: u128) -> C {
    C::SetNotice {
        actor,
        message_id: msg(n),
        at: at(),
    }
}
fn clear_notice(actor: UserId) -> C {
    C::ClearNotice { actor, at: at() }
}
fn delete_after(actor: UserId, n: u128, secs: i64) -> C {
    C::Delete {
        actor,
        message_id: msg(n),
        window: DeleteWindow::default(),
        at: at() + TimeDelta::seconds(secs),
    }
}

// ---- attachments and mentions -------------------------------------------------

#[test]
fn a_post_sends_the_authors_pending_uploads_with_their_metadata() {
    let base = [create(&[BORA]), upload(BORA, 1), upload(BORA, 2)];
    let events = when(&base, post_with(BORA, 1, None, &[2, 1], &[])).unwrap();
    match &events[..] {
        [RoomEvent::MessagePosted(p)] => {
            assert_eq!(p.body, "");
            assert_eq!(p.attachments, vec![attachment(2), attachment(1)]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let s = given(&base).evolve_all(&events);
    assert_eq!(s.uploads[&file(1)].state, UploadState::Sent(msg(1)));
}

#[test]
fn unknown_foreign_sent_or_discarded_attachments_are_invalid() {
    let base = [create(&[BORA]), upload(BORA, 1)];
    let invalid = Err(DomainError::InvalidAttachment);
    // never uploaded here (another room's upload is unknown to this room)
    assert_eq!(when(&base, post_with(BORA, 1, None, &[9], &[])), invalid);
    // another member's upload
    assert_eq!(when(&base, post_with(OWNER, 1, None, &[1], &[])), invalid);
    // twice in one message
    assert_eq!(when(&base, post_with(BORA, 1, None, &[1, 1], &[])), invalid);
    // already sent
    let sent = [
        create(&[BORA]),
        upload(BORA, 1),
        post_with(BORA, 1, None, &[1], &[]),
    ];
    assert_eq!(
        when(&sent, post_with(BORA, 2, Some("또"), &[1], &[])),
        invalid
    );
    // discarded as an orphan
    let gone = [create(&[BORA]), upload(BORA, 1), discard(1, 25)];
    assert_eq!(when(&gone, post_with(BORA, 1, None, &[1], &[])), invalid);
    // nothing changed: the upload can still be sent
    assert!(when(&base, post_with(BORA, 1, Some("사진"), &[1], &[])).is_ok());
}

#[test]
fn a_message_needs_text_or_attachments_and_at_most_ten_attachments() {
    assert_eq!(
        when(&[create(&[])], post_with(OWNER, 1, None, &[], &[])),
        Err(DomainError::InvalidMessageBody)
    );
    let mut base = vec![create(&[])];
    base.extend((0..11).map(|n| upload(OWNER, n)));
    let ten: Vec<u128> = (0..10).collect();
    let eleven: Vec<u128> = (0..11).collect();
    assert!(when(&base, post_with(OWNER, 1, None, &ten, &[])).is_ok());
    let too_many = when(&base, post_with(OWNER, 1, None, &eleven, &[]));
    assert_eq!(too_many, Err(DomainError::TooManyAttachments));
    assert_eq!(DomainError::TooManyAttachments.code(), "invalid_attachment");
}

#[test]
fn uploads_are_for_members_and_orphans_are_discarded_once_after_the_ttl() {
    assert_eq!(
        when(&[create(&[])], upload(BORA, 1)),
        Err(DomainError::RoomNotFound)
    );
    let base = [create(&[BORA]), upload(BORA, 1)];
    assert_eq!(
        when(&base, discard(1, 23)),
        Err(DomainError::InvalidAttachment)
    );
    assert!(matches!(
        &when(&base, discard(1, 24)).unwrap()[..],
        [RoomEvent::AttachmentDiscarded(_)]
    ));
    assert_eq!(
        when(
            &[create(&[BORA]), upload(BORA, 1), discard(1, 30)],
            discard(1, 31)
        ),
        Ok(vec![])
    );
    let sent = [
        create(&[BORA]),
        upload(BORA, 1),
        post_with(BORA, 1, None, &[1], &[]),
    ];
    assert_eq!(
        when(&sent, discard(1, 48)),
        Err(DomainError::InvalidAttachment)
    );
    assert_eq!(
        when(&base, discard(7, 48)),
        Err(DomainError::InvalidAttachment)
    );
}

#[test]
fn mentions_are_current_members_deduplicated_and_at_most_fifty() {
    let base = [create(&[BORA, CHUL]), remove(OWNER, CHUL)];
    match &when(
        &base,
        post_with(OWNER, 1, Some("@보라"), &[], &[BORA, BORA, OWNER]),
    )
    .unwrap()[..]
    {
        [RoomEvent::MessagePosted(p)] => assert_eq!(p.mentions, vec![BORA, OWNER]),
        other => panic!("unexpected {other:?}"),
    }
    let left = when(&base, post_with(OWNER, 1, Some("@철수"), &[], &[CHUL]));
    assert_eq!(left, Err(DomainError::InvalidMention));
    let stranger = UserId(Uuid::from_u128(77));
    let never = when(&base, post_with(OWNER, 1, Some("@누구"), &[], &[stranger]));
    assert_eq!(never, Err(DomainError::InvalidMention));
    let fifty_one = vec![BORA; 51];
    let too_many = when(&base, post_with(OWNER, 1, Some("@"), &[], &fifty_one));
    assert_eq!(too_many, Err(DomainError::TooManyMentions));
    assert_eq!(DomainError::TooManyMentions.code(), "invalid_mention");
    assert!(when(&base, post_with(OWNER, 1, Some("@"), &[], &vec![BORA; 50])).is_ok());
}

// ---- delete window ----------------------------------------------------------

#[test]
fn the_author_deletes_within_the_window_and_the_owner_at_any_time() {
    let base = [create(&[BORA, CHUL]), post(BORA, 1), post(OWNER, 2)];
    assert!(when(&base, delete_after(BORA, 1, 86_400)).is_ok());
    assert_eq!(
        when(&base, delete_after(BORA, 1, 86_401)),
        Err(DomainError::DeleteWindowPassed)
    );
    assert_eq!(DomainError::DeleteWindowPassed.status(), 403);
    assert!(when(&base, delete_after(OWNER, 1, 86_400 * 365)).is_ok());
    assert!(when(&base, delete_after(OWNER, 2, 86_400 * 365)).is_ok());
    assert_eq!(
        when(&base, delete_after(CHUL, 1, 10)),
        Err(DomainError::NotMessageAuthor)
    );
    // The window is the command's, not a constant.
    let short = C::Delete {
        actor: BORA,
        message_id: msg(1),
        window: DeleteWindow::from_secs(60),
        at: at() + TimeDelta::seconds(61),
    };
    assert_eq!(when(&base, short), Err(DomainError::DeleteWindowPassed));
    // A retry after the window changes nothing and is no error.
    let deleted = [create(&[BORA]), post(BORA, 1), delete(BORA, 1)];
    assert_eq!(when(&deleted, delete_after(BORA, 1, 90_000)), Ok(vec![]));
}

#[test]
fn an_owner_who_left_has_no_say_and_the_new_owner_moderates() {
    let s = given(&[create(&[BORA, CHUL]), post(CHUL, 1), remove(OWNER, OWNER)]);
    assert_eq!(s.role(BORA), Some(RoomRole::Owner));
    assert_eq!(s.role(OWNER), None);
    assert!(s.decide(&delete_after(BORA, 1, 90_000)).is_ok());
}

// ---- reactions --------------------------------------------------------------

#[test]
fn a_reaction_is_added_once_per_user_emoji_and_message() {
    let base = [create(&[BORA]), post(OWNER, 1)];
    match &when(&base, react(BORA, 1, "👍")).unwrap()[..] {
        [RoomEvent::ReactionAdded(r)] => {
            assert_eq!((r.user_id, r.emoji.as_str(), r.seq), (BORA, "👍", 1));
        }
        other => panic!("unexpected {other:?}"),
    }
    let reacted = [create(&[BORA]), post(OWNER, 1), react(BORA, 1, "❤️")];
    // `❤` and `❤️` are one reaction.
    assert_eq!(when(&reacted, react(BORA, 1, "❤")), Ok(vec![]));
    assert!(when(&reacted, react(OWNER, 1, "❤️")).is_ok());
    assert!(when(&reacted, react(BORA, 1, "😂")).is_ok());
}

#[test]
fn reactions_need_a_live_message_and_removal_needs_the_reaction() {
    let base = [create(&[BORA]), post(OWNER, 1), react(BORA, 1, "👍")];
    assert_eq!(
        when(&base, react(BORA, 9, "👍")),
        Err(DomainError::MessageNotFound)
    );
    assert_eq!(
        when(&base, unreact(OWNER, 1, "👍")),
        Err(DomainError::ReactionNotFound)
    );
    assert_eq!(
        when(&base, unreact(BORA, 1, "😂")),
        Err(DomainError::ReactionNotFound)
    );
    assert!(matches!(
        &when(&base, unreact(BORA, 1, "👍")).unwrap()[..],
        [RoomEvent::ReactionRemoved(_)]
    ));
    let deleted = [
        create(&[BORA]),
        post(OWNER, 1),
        react(BORA, 1, "👍"),
        delete(OWNER, 1),
    ];
    assert_eq!(
        when(&deleted, react(BORA, 1, "😂")),
        Err(DomainError::MessageDeleted)
    );
    assert_eq!(
        when(&deleted, unreact(BORA, 1, "👍")),
        Err(DomainError::MessageDeleted)
    );
    assert_eq!(
        when(&[create(&[BORA]), post(OWNER, 1)], react(CHUL, 1, "👍")),
        Err(DomainError::RoomNotFound)
    );
}

// ---- hide -------------------------------------------------------------------

#[test]
fn hiding_is_for_the_hider_only_and_idempotent() {
    let base = [create(&[BORA]), post(OWNER, 1)];
    match &when(&base, hide(BORA, 1)).unwrap()[..] {
        [RoomEvent::MessageHidden(h)] => assert_eq!((h.user_id, h.seq), (BORA, 1)),
        other => panic!("unexpected {other:?}"),
    }
    let hidden = given(&[create(&[BORA]), post(OWNER, 1), hide(BORA, 1)]);
    assert_eq!(hidden.decide(&hide(BORA, 1)), Ok(vec![]));
    assert!(hidden.decide(&hide(OWNER, 1)).is_ok());
    assert_eq!(
        when(&base, hide(BORA, 2)),
        Err(DomainError::MessageNotFound)
    );
    assert_eq!(when(&base, hide(CHUL, 1)), Err(DomainError::RoomNotFound));
    // A message deleted for everyone can still be removed from one's own view.
    let deleted = [create(&[BORA]), post(OWNER, 1), delete(OWNER, 1)];
    assert!(when(&deleted, hide(BORA, 1)).is_ok());
}

// ---- notice -----------------------------------------------------------------

#[test]
fn any_member_sets_the_notice_and_the_newest_wins() {
    let base = [create(&[BORA]), post(OWNER, 1), post(OWNER, 2)];
    assert!(matches!(
        &when(&base, set_notice(BORA, 1)).unwrap()[..],
        [RoomEvent::NoticeSet(n)] if n.set_by == BORA && n.seq == 1
    ));
    let s = given(&[
        create(&[BORA]),
        post(OWNER, 1),
        post(OWNER, 2),
        set_notice(BORA, 1),
        set_notice(OWNER, 2),
    ]);
    assert_eq!(s.notice, Some(msg(2)));
    assert_eq!(s.decide(&set_notice(BORA, 2)), Ok(vec![]));
    assert_eq!(
        when(&base, set_notice(BORA, 9)),
        Err(DomainError::MessageNotFound)
    );
    let deleted = [create(&[BORA]), post(OWNER, 1), delete(OWNER, 1)];
    assert_eq!(
        when(&deleted, set_notice(BORA, 1)),
        Err(DomainError::MessageDeleted)
    );
}

#[test]
fn clearing_needs_a_notice_and_deleting_its_message_clears_it() {
    let base = [create(&[BORA]), post(OWNER, 1)];
    assert_eq!(
        when(&base, clear_notice(BORA)),
        Err(DomainError::NoticeNotFound)
    );
    let noticed = [
        create(&[BORA]),
        post(OWNER, 1),
        post(BORA, 2),
        set_notice(BORA, 1),
    ];
    assert!(matches!(
        &when(&noticed, clear_notice(BORA)).unwrap()[..],
        [RoomEvent::NoticeCleared(c)] if c.message_id == msg(1)
    ));
    let events = when(&noticed, delete(OWNER, 1)).unwrap();
    assert!(matches!(
        &events[..],
        [RoomEvent::MessageDeleted(MessageDeleted { message_id: d, .. }), RoomEvent::NoticeCleared(NoticeCleared { message_id: c, by, .. })]
            if *d == msg(1) && *c == msg(1) && *by == OWNER
    ));
    assert_eq!(given(&noticed).evolve_all(&events).notice, None);
    // Deleting another message leaves the notice alone.
    assert_eq!(when(&noticed, delete(BORA, 2)).unwrap().len(), 1);
}

// ---- the unread "1" ---------------------------------------------------------

#[test]
fn unread_by_counts_members_who_saw_it_posted_and_counts_down() {
    let then = |s: Room, c: C| {
        let events = s.decide(&c).unwrap();
        s.evolve_all(&events)
    };
    let s = given(&[
        create(&[BORA]),
        post(OWNER, 1),
        add(OWNER, CHUL),
        post(OWNER, 2),
    ]);
    assert_eq!(s.members[&CHUL].joined_seq, 2);
    assert_eq!(s.unread_by(msg(1)), Some(1)); // BORA; CHUL joined later
    assert_eq!(s.unread_by(msg(2)), Some(2)); // BORA and CHUL
    let s = then(s, read(CHUL, 2));
    assert_eq!(s.unread_by(msg(2)), Some(1));
    let s = then(s, remove(BORA, BORA));
    assert_eq!(
        (s.unread_by(msg(1)), s.unread_by(msg(2))),
        (Some(0), Some(0))
    );
    // Back again: the old messages do not wait for the new membership.
    let s = then(s, add(OWNER, BORA));
    assert_eq!(s.members[&BORA].joined_seq, 3);
    assert_eq!(s.unread_by(msg(2)), Some(0));
    assert_eq!(s.unread_by(msg(9)), None);
}

// ---- invariants --------------------------------------------------------------

fn member(n: u8) -> UserId {
    [OWNER, BORA, CHUL][usize::from(n % 3)]
}
const EMOJI: [&str; 3] = ["👍", "❤️", "😂"];

fn any_command() -> impl Strategy<Value = C> {
    let u = 0u8..3;
    let m = 0u128..5;
    let e = 0usize..3;
    prop_oneof![
        (u.clone(), m.clone()).prop_map(|(a, n)| post(member(a), n)),
        (u.clone(), m.clone()).prop_map(|(a, n)| delete(member(a), n)),
        (u.clone(), m.clone(), e.clone()).prop_map(|(a, n, e)| react(member(a), n, EMOJI[e])),
        (u.clone(), m.clone(), e).prop_map(|(a, n, e)| unreact(member(a), n, EMOJI[e])),
        (u.clone(), m.clone()).prop_map(|(a, n)| hide(member(a), n)),
        (u.clone(), m).prop_map(|(a, n)| set_notice(member(a), n)),
        u.clone().prop_map(|a| clear_notice(member(a))),
        (u.clone(), u.clone()).prop_map(|(a, b)| remove(member(a), member(b))),
        (u.clone(), u).prop_map(|(a, b)| add(member(a), member(b))),
    ]
}

proptest! {
    /// Folding the reaction events as a projection would (+1 / −1 per
    /// message and emoji) never goes negative and always equals the number of
    /// distinct users the state holds; the notice, if any, is a live message;
    /// a hidden set never shrinks.
    #[test]
    fn reactions_notice_and_hidden_sets_hold(commands in proptest::collection::vec(any_command(), 1..80)) {
        let mut state = given(&[create(&[BORA, CHUL])]);
        let mut counts: HashMap<(MessageId, String), i64> = HashMap::new();
        for c in &commands {
            let before = state.clone();
            let Ok(events) = state.decide(c) else { continue };
            for e in &events {
                match e {
                    RoomEvent::ReactionAdded(r) => *counts.entry((r.message_id, r.emoji.clone())).or_default() += 1,
                    RoomEvent::ReactionRemoved(r) => *counts.entry((r.message_id, r.emoji.clone())).or_default() -= 1,
                    _ => {}
                }
            }
            state = state.evolve_all(&events);
            for ((message, emoji), n) in &counts {
                prop_assert!(*n >= 0);
                let users = state.reactions.get(message).and_then(|r| r.get(emoji)).map_or(0, |u| u.len());
                prop_assert_eq!(*n as usize, users);
            }
            if let Some(notice) = state.notice {
                prop_assert!(!state.messages[&notice].deleted);
            }
            let notice_events = events.iter().filter(|e| matches!(e, RoomEvent::NoticeSet(_) | RoomEvent::NoticeCleared(_))).count();
            prop_assert!(notice_events <= 1);
            for (user, hidden) in &before.hidden {
                prop_assert!(hidden.is_subset(&state.hidden[user]));
            }
        }
    }

    /// An author's delete is decided by the clock of the command alone:
    /// accepted up to the window's end, refused after it.
    #[test]
    fn the_delete_window_is_a_sharp_edge(window in 0u32..200_000, late in -5i64..5) {
        let s = given(&[create(&[BORA]), post(BORA, 1)]);
        let c = C::Delete {
            actor: BORA,
            message_id: msg(1),
            window: DeleteWindow::from_secs(window),
            at: at() + TimeDelta::seconds(i64::from(window) + late),
        };
        let outcome = s.decide(&c);
        if late <= 0 {
            prop_assert!(outcome.is_ok());
        } else {
            prop_assert_eq!(outcome, Err(DomainError::DeleteWindowPassed));
        }
    }
}
