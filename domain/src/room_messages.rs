//! The room's message rules: posting with attachments and mentions, the
//! delete window, uploads and their orphans, reactions, hiding and the
//! notice. Part of the room aggregate ([`super::Room`]); each `decide_*`
//! answers one [`super::RoomCommand`].

use super::{MessageMeta, Room, Upload, UploadState};
use crate::attachment::Attachment;
use crate::attachment::{MAX_ATTACHMENTS, MAX_MENTIONS};
use crate::error::DomainError;
use crate::event::{
    AttachmentDiscarded, AttachmentUploaded, MessageDeleted, MessageHidden, MessagePosted,
    NoticeCleared, NoticeSet, ReactionAdded, ReactionRemoved, RoomEvent,
};
use crate::ids::{AttachmentId, MessageId, UserId};
use crate::reaction::ReactionEmoji;
use crate::values::{DeleteWindow, MessageBody};
use chrono::{DateTime, TimeDelta, Utc};

/// What a post asks for, borrowed from [`super::RoomCommand::Post`].
pub(super) struct Post<'a> {
    pub message_id: MessageId,
    pub body: Option<&'a MessageBody>,
    pub reply_to: Option<MessageId>,
    pub attachments: &'a [AttachmentId],
    pub mentions: &'a [UserId],
}

type Decision = Result<Vec<RoomEvent>, DomainError>;

impl Room {
    pub(super) fn decide_post(&self, actor: UserId, post: Post<'_>, at: DateTime<Utc>) -> Decision {
        let room_id = self.as_member(actor)?;
        if post.body.is_none() && post.attachments.is_empty() {
            return Err(DomainError::InvalidMessageBody);
        }
        if post.attachments.len() > MAX_ATTACHMENTS {
            return Err(DomainError::TooManyAttachments);
        }
        if post.mentions.len() > MAX_MENTIONS {
            return Err(DomainError::TooManyMentions);
        }
        if let Some(parent) = post.reply_to {
            self.message(parent)?;
        }
        if self.messages.contains_key(&post.message_id) {
            // A message id is made fresh for each command; a repeat is a bug upstream.
            return Err(DomainError::MessageNotFound);
        }
        let mut attachments: Vec<Attachment> = Vec::with_capacity(post.attachments.len());
        for id in post.attachments {
            // Another user's upload is as unknown as another room's: ids are
            // not secrets, so only the uploader may send one.
            let attachment = match self.uploads.get(id) {
                Some(Upload {
                    uploaded_by,
                    state: UploadState::Pending(a),
                    ..
                }) if *uploaded_by == actor => a,
                _ => return Err(DomainError::InvalidAttachment),
            };
            // Twice in one message is "already sent" by the first.
            if attachments.iter().any(|a| a.attachment_id == *id) {
                return Err(DomainError::InvalidAttachment);
            }
            attachments.push(attachment.clone());
        }
        let mut mentions: Vec<UserId> = Vec::with_capacity(post.mentions.len());
        for user in post.mentions {
            if !self.is_member(*user) {
                return Err(DomainError::InvalidMention);
            }
            if !mentions.contains(user) {
                mentions.push(*user);
            }
        }
        Ok(vec![RoomEvent::MessagePosted(MessagePosted {
            room_id,
            message_id: post.message_id,
            seq: self.last_seq + 1,
            author_id: actor,
            body: post.body.map(|b| b.to_string()).unwrap_or_default(),
            reply_to: post.reply_to,
            attachments,
            mentions,
            at,
        })])
    }

    /// Whether `actor` may delete `m` for everyone now: a moderator always,
    /// the author within the window, nobody else.
    fn may_delete(
        &self,
        actor: UserId,
        m: &MessageMeta,
        window: DeleteWindow,
        at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.role(actor).is_some_and(|r| r.moderates()) {
            Ok(())
        } else if m.author != actor {
            Err(DomainError::NotMessageAuthor)
        } else if at - m.at > window.duration() {
            Err(DomainError::DeleteWindowPassed)
        } else {
            Ok(())
        }
    }

    pub(super) fn decide_delete(
        &self,
        actor: UserId,
        message_id: MessageId,
        window: DeleteWindow,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        let m = self.message(message_id)?;
        if m.author != actor && !self.role(actor).is_some_and(|r| r.moderates()) {
            return Err(DomainError::NotMessageAuthor);
        }
        if m.deleted {
            // A retry (even after the window) changes nothing.
            return Ok(vec![]);
        }
        self.may_delete(actor, &m, window, at)?;
        let mut events = vec![RoomEvent::MessageDeleted(MessageDeleted {
            room_id,
            message_id,
            seq: m.seq,
            author_id: m.author,
            by: actor,
            at,
        })];
        if self.notice == Some(message_id) {
            events.push(RoomEvent::NoticeCleared(NoticeCleared {
                room_id,
                message_id,
                by: actor,
                at,
            }));
        }
        Ok(events)
    }

    pub(super) fn decide_upload(
        &self,
        actor: UserId,
        attachment: &Attachment,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        if self.uploads.contains_key(&attachment.attachment_id) {
            // Attachment ids are made fresh for each upload; a repeat is a bug upstream.
            return Err(DomainError::InvalidAttachment);
        }
        Ok(vec![RoomEvent::AttachmentUploaded(AttachmentUploaded {
            room_id,
            attachment: attachment.clone(),
            uploaded_by: actor,
            at,
        })])
    }

    pub(super) fn decide_discard(
        &self,
        attachment_id: AttachmentId,
        orphan_after: TimeDelta,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.id()?;
        let upload = self
            .uploads
            .get(&attachment_id)
            .ok_or(DomainError::InvalidAttachment)?;
        match upload.state {
            UploadState::Discarded => Ok(vec![]),
            UploadState::Sent(_) => Err(DomainError::InvalidAttachment),
            UploadState::Pending(_) if at - upload.at < orphan_after => {
                Err(DomainError::InvalidAttachment)
            }
            UploadState::Pending(_) => {
                Ok(vec![RoomEvent::AttachmentDiscarded(AttachmentDiscarded {
                    room_id,
                    attachment_id,
                    at,
                })])
            }
        }
    }

    /// The message a reaction, a hide or a notice is about: it exists, and
    /// unless `deleted_ok`, it is not deleted.
    fn target(&self, message_id: MessageId, deleted_ok: bool) -> Result<MessageMeta, DomainError> {
        let m = self.message(message_id)?;
        if m.deleted && !deleted_ok {
            return Err(DomainError::MessageDeleted);
        }
        Ok(m)
    }

    fn has_reaction(&self, message_id: MessageId, emoji: &ReactionEmoji, user: UserId) -> bool {
        self.reactions
            .get(&message_id)
            .and_then(|by_emoji| by_emoji.get(emoji.as_str()))
            .is_some_and(|users| users.contains(&user))
    }

    pub(super) fn decide_react(
        &self,
        actor: UserId,
        message_id: MessageId,
        emoji: &ReactionEmoji,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        let m = self.target(message_id, false)?;
        if self.has_reaction(message_id, emoji, actor) {
            return Ok(vec![]);
        }
        Ok(vec![RoomEvent::ReactionAdded(ReactionAdded {
            room_id,
            message_id,
            seq: m.seq,
            user_id: actor,
            emoji: emoji.to_string(),
            at,
        })])
    }

    pub(super) fn decide_unreact(
        &self,
        actor: UserId,
        message_id: MessageId,
        emoji: &ReactionEmoji,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        let m = self.target(message_id, false)?;
        if !self.has_reaction(message_id, emoji, actor) {
            return Err(DomainError::ReactionNotFound);
        }
        Ok(vec![RoomEvent::ReactionRemoved(ReactionRemoved {
            room_id,
            message_id,
            seq: m.seq,
            user_id: actor,
            emoji: emoji.to_string(),
            at,
        })])
    }

    pub(super) fn decide_hide(
        &self,
        actor: UserId,
        message_id: MessageId,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        // "Delete for me" of a message deleted for everyone is allowed: it
        // removes the placeholder from the actor's timeline.
        let m = self.target(message_id, true)?;
        if self
            .hidden
            .get(&actor)
            .is_some_and(|h| h.contains(&message_id))
        {
            return Ok(vec![]);
        }
        Ok(vec![RoomEvent::MessageHidden(MessageHidden {
            room_id,
            message_id,
            seq: m.seq,
            user_id: actor,
            at,
        })])
    }

    pub(super) fn decide_set_notice(
        &self,
        actor: UserId,
        message_id: MessageId,
        at: DateTime<Utc>,
    ) -> Decision {
        let room_id = self.as_member(actor)?;
        let m = self.target(message_id, false)?;
        if self.notice == Some(message_id) {
            return Ok(vec![]);
        }
        Ok(vec![RoomEvent::NoticeSet(NoticeSet {
            room_id,
            message_id,
            seq: m.seq,
            set_by: actor,
            at,
        })])
    }

    pub(super) fn decide_clear_notice(&self, actor: UserId, at: DateTime<Utc>) -> Decision {
        let room_id = self.as_member(actor)?;
        let message_id = self.notice.ok_or(DomainError::NoticeNotFound)?;
        Ok(vec![RoomEvent::NoticeCleared(NoticeCleared {
            room_id,
            message_id,
            by: actor,
            at,
        })])
    }

    /// Fold one message event into the state.
    pub(super) fn evolve_message(&mut self, event: &RoomEvent) {
        match event {
            RoomEvent::MessagePosted(e) => {
                self.last_seq = e.seq;
                self.messages.insert(
                    e.message_id,
                    MessageMeta {
                        seq: e.seq,
                        author: e.author_id,
                        at: e.at,
                        deleted: false,
                    },
                );
                self.read_markers.insert(e.author_id, e.seq);
                for a in &e.attachments {
                    if let Some(u) = self.uploads.get_mut(&a.attachment_id) {
                        u.state = UploadState::Sent(e.message_id);
                    }
                }
            }
            RoomEvent::MessageDeleted(e) => {
                if let Some(m) = self.messages.get_mut(&e.message_id) {
                    m.deleted = true;
                }
            }
            RoomEvent::AttachmentUploaded(e) => {
                self.uploads.insert(
                    e.attachment.attachment_id,
                    Upload {
                        uploaded_by: e.uploaded_by,
                        at: e.at,
                        state: UploadState::Pending(e.attachment.clone()),
                    },
                );
            }
            RoomEvent::AttachmentDiscarded(e) => {
                if let Some(u) = self.uploads.get_mut(&e.attachment_id) {
                    u.state = UploadState::Discarded;
                }
            }
            RoomEvent::ReactionAdded(e) => {
                self.reactions
                    .entry(e.message_id)
                    .or_default()
                    .entry(e.emoji.clone())
                    .or_default()
                    .insert(e.user_id);
            }
            RoomEvent::ReactionRemoved(e) => {
                if let Some(by_emoji) = self.reactions.get_mut(&e.message_id) {
                    if let Some(users) = by_emoji.get_mut(&e.emoji) {
                        users.remove(&e.user_id);
                        if users.is_empty() {
                            by_emoji.remove(&e.emoji);
                        }
                    }
                    if by_emoji.is_empty() {
                        self.reactions.remove(&e.message_id);
                    }
                }
            }
            RoomEvent::MessageHidden(e) => {
                self.hidden
                    .entry(e.user_id)
                    .or_default()
                    .insert(e.message_id);
            }
            RoomEvent::NoticeSet(e) => self.notice = Some(e.message_id),
            RoomEvent::NoticeCleared(e) => {
                if self.notice == Some(e.message_id) {
                    self.notice = None;
                }
            }
            // Membership, naming, edits and markers are folded by `Room::evolve`.
            RoomEvent::Created(_)
            | RoomEvent::Renamed(_)
            | RoomEvent::MemberAdded(_)
            | RoomEvent::MemberLeft(_)
            | RoomEvent::MemberKicked(_)
            | RoomEvent::MessageEdited(_)
            | RoomEvent::ReadMarkerMoved(_)
            | RoomEvent::MemberRoleChanged(_)
            | RoomEvent::InviteCreated(_)
            | RoomEvent::InviteRevoked(_) => {}
        }
    }
}
