//! The user aggregate: registration, profile (display name, status message,
//! presence visibility) and the user's private controls: blocks and mutes.
//!
//! Why blocks and mutes live on the user's own stream rather than streams of
//! their own: every rule about them reads only the user's own earlier
//! choices (already blocked, not blocked), only the user changes them, and
//! the user stream is never fanned out to anyone (frames are room events),
//! so they stay private. The state they add is one small set each.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{
    AccountDeleted, DisplayNameChanged, PasswordChanged, PresenceVisibilityChanged, RoomMuted,
    RoomUnmuted, StatusMessageChanged, StreamType, UserBlocked, UserEvent, UserRegistered,
    UserUnblocked,
};
use crate::ids::{RoomId, UserId};
use crate::pii::Personal;
use crate::values::Username;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What the user stream knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// Set once registered; `None` again once the account is deleted.
    pub profile: Option<Profile>,
    /// When the account was deleted (issue 18): nothing can be done as the
    /// user any more, and their username is free after the quarantine.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A registered user's current profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub user_id: UserId,
    /// Sealed (see [`crate::pii`]): the aggregate never needs the text.
    pub username: Personal,
    pub display_name: Personal,
    /// Empty: none.
    pub status_message: Personal,
    /// Whether friends see presence (default true).
    pub show_presence: bool,
    /// Users this user blocked.
    pub blocks: BTreeSet<UserId>,
    /// Rooms this user muted, each until a time or for ever (`None`).
    pub mutes: BTreeMap<RoomId, Option<DateTime<Utc>>>,
    /// Notifications created at or below this position are read.
    pub notifications_read: i64,
}

impl Profile {
    /// Whether this user blocked `other`.
    pub fn blocks(&self, other: UserId) -> bool {
        self.blocks.contains(&other)
    }

    /// Whether `room` is muted at `at`.
    pub fn muted(&self, room: RoomId, at: DateTime<Utc>) -> bool {
        self.mutes
            .get(&room)
            .is_some_and(|until| until.is_none_or(|u| at < u))
    }
}

/// Commands on a user.
#[derive(Clone, Debug)]
pub enum UserCommand {
    /// Sign up (the handler reserves the username in the same commit).
    /// Reserved usernames ([`Username::is_reserved`]) are refused here, for
    /// new accounts only: stored registrations with such a name (from before
    /// the rule) still decode and evolve. The handler has validated the
    /// display name and sealed both fields under the new user's data key;
    /// `username` is the plain name, for the reserved-name rule only.
    Register {
        user_id: UserId,
        username: Username,
        sealed_username: Personal,
        display_name: Personal,
        at: DateTime<Utc>,
    },
    /// Change the display name (validated and sealed by the handler; a
    /// no-op when unchanged, which sealing preserves: equal texts seal
    /// equal under one key).
    ChangeDisplayName {
        display_name: Personal,
        at: DateTime<Utc>,
    },
    /// Set or clear the status message (a no-op when unchanged).
    ChangeStatusMessage {
        status_message: Personal,
        at: DateTime<Utc>,
    },
    /// Show or hide presence from friends (a no-op when unchanged).
    SetPresenceVisibility {
        show_presence: bool,
        at: DateTime<Utc>,
    },
    /// Give the calendar feed a new token (`token_hash`: hex SHA-256 of
    /// it, made by the handler); every earlier token stops working.
    RotateCalendarFeed {
        token_hash: String,
        at: DateTime<Utc>,
    },
    /// Block `other` (the handler has checked they exist, and appends
    /// [`crate::friendship::Friendship::end_by_block`]'s events in the same
    /// commit). Blocking again is a no-op.
    Block { other: UserId, at: DateTime<Utc> },
    /// Unblock `other` (`block_not_found` if not blocked).
    Unblock { other: UserId, at: DateTime<Utc> },
    /// Mute a room (the handler has checked membership) until a time, or
    /// for ever; muting again replaces `until`.
    Mute {
        room_id: RoomId,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// Unmute a room (not muted: a no-op).
    Unmute { room_id: RoomId, at: DateTime<Utc> },
    /// Record a password change (the handler has checked the current
    /// password and writes the new hash in the same commit).
    ChangePassword { at: DateTime<Utc> },
    /// Delete the account (the handler has checked the password, and
    /// deletes the data key and the credentials in the same commit).
    DeleteAccount { at: DateTime<Utc> },
    /// Mark the notifications up to `up_to` read (`notification_not_found`
    /// unless it is the id of one of this user's; already read: a no-op).
    MarkNotificationsRead {
        up_to: crate::notification::NotificationId,
        at: DateTime<Utc>,
    },
}

impl Aggregate for User {
    const STREAM_TYPE: StreamType = StreamType::User;
    type Command = UserCommand;
    type Event = UserEvent;

    fn decide(&self, command: &UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        match (command, &self.profile) {
            (UserCommand::Register { .. }, Some(_)) => Err(DomainError::UserAlreadyExists),
            (UserCommand::Register { username, .. }, None) if username.is_reserved() => {
                Err(DomainError::ReservedUsername)
            }
            (UserCommand::Register { .. }, None) if self.deleted_at.is_some() => {
                Err(DomainError::UserAlreadyExists)
            }
            (
                UserCommand::Register {
                    user_id,
                    sealed_username,
                    display_name,
                    at,
                    ..
                },
                None,
            ) => Ok(vec![UserEvent::Registered(UserRegistered {
                user_id: *user_id,
                username: sealed_username.clone(),
                display_name: display_name.clone(),
                at: *at,
            })]),
            (_, None) => Err(DomainError::UserNotFound),
            (_, Some(p)) => p.decide_people(command),
        }
    }

    fn evolve(mut self, event: &UserEvent) -> Self {
        match event {
            UserEvent::Registered(e) => {
                self.profile = Some(Profile {
                    user_id: e.user_id,
                    username: e.username.clone(),
                    display_name: e.display_name.clone(),
                    status_message: Personal::empty(),
                    show_presence: true,
                    blocks: BTreeSet::new(),
                    mutes: BTreeMap::new(),
                    notifications_read: 0,
                });
            }
            UserEvent::AccountDeleted(e) => {
                self.profile = None;
                self.deleted_at = Some(e.at);
            }
            other => {
                if let Some(p) = &mut self.profile {
                    p.evolve(other);
                }
            }
        }
        self
    }
}

impl Profile {
    /// Decide a command on a registered user (every one but `Register`).
    fn decide_people(&self, command: &UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        let user_id = self.user_id;
        let event = match command {
            UserCommand::Register { .. } => return Err(DomainError::UserAlreadyExists),
            UserCommand::ChangeDisplayName { display_name, at } => {
                if self.display_name == *display_name {
                    return Ok(vec![]);
                }
                UserEvent::DisplayNameChanged(DisplayNameChanged {
                    user_id,
                    display_name: display_name.clone(),
                    at: *at,
                })
            }
            UserCommand::ChangeStatusMessage { status_message, at } => {
                if self.status_message == *status_message {
                    return Ok(vec![]);
                }
                UserEvent::StatusMessageChanged(StatusMessageChanged {
                    user_id,
                    status_message: status_message.clone(),
                    at: *at,
                })
            }
            UserCommand::SetPresenceVisibility { show_presence, at } => {
                if self.show_presence == *show_presence {
                    return Ok(vec![]);
                }
                UserEvent::PresenceVisibilityChanged(PresenceVisibilityChanged {
                    user_id,
                    show_presence: *show_presence,
                    at: *at,
                })
            }
            UserCommand::RotateCalendarFeed { token_hash, at } => {
                UserEvent::CalendarFeedRotated(crate::event::CalendarFeedRotated {
                    user_id,
                    token_hash: token_hash.clone(),
                    at: *at,
                })
            }
            UserCommand::Block { other, at } => {
                if *other == user_id {
                    return Err(DomainError::CannotBlockSelf);
                }
                if self.blocks(*other) {
                    return Ok(vec![]);
                }
                UserEvent::Blocked(UserBlocked {
                    user_id,
                    blocked: *other,
                    at: *at,
                })
            }
            UserCommand::Unblock { other, at } => {
                if !self.blocks(*other) {
                    return Err(DomainError::BlockNotFound);
                }
                UserEvent::Unblocked(UserUnblocked {
                    user_id,
                    blocked: *other,
                    at: *at,
                })
            }
            UserCommand::Mute { room_id, until, at } => {
                if until.is_some_and(|u| u <= *at) {
                    return Err(DomainError::InvalidMuteUntil);
                }
                if self.mutes.get(room_id) == Some(until) {
                    return Ok(vec![]);
                }
                UserEvent::RoomMuted(RoomMuted {
                    user_id,
                    room_id: *room_id,
                    until: *until,
                    at: *at,
                })
            }
            UserCommand::Unmute { room_id, at } => {
                if !self.mutes.contains_key(room_id) {
                    return Ok(vec![]);
                }
                UserEvent::RoomUnmuted(RoomUnmuted {
                    user_id,
                    room_id: *room_id,
                    at: *at,
                })
            }
            UserCommand::ChangePassword { at } => {
                UserEvent::PasswordChanged(PasswordChanged { user_id, at: *at })
            }
            UserCommand::DeleteAccount { at } => {
                UserEvent::AccountDeleted(AccountDeleted { user_id, at: *at })
            }
            UserCommand::MarkNotificationsRead { up_to, at } => {
                let position = up_to
                    .position_for(user_id)
                    .ok_or(DomainError::NotificationNotFound)?;
                if position <= self.notifications_read {
                    return Ok(vec![]);
                }
                UserEvent::NotificationsRead(crate::event::NotificationsRead {
                    user_id,
                    up_to: *up_to,
                    position,
                    at: *at,
                })
            }
        };
        Ok(vec![event])
    }

    fn evolve(&mut self, event: &UserEvent) {
        match event {
            UserEvent::Registered(_) | UserEvent::CalendarFeedRotated(_) => {}
            UserEvent::DisplayNameChanged(e) => self.display_name = e.display_name.clone(),
            UserEvent::StatusMessageChanged(e) => self.status_message = e.status_message.clone(),
            UserEvent::PresenceVisibilityChanged(e) => self.show_presence = e.show_presence,
            UserEvent::Blocked(e) => {
                self.blocks.insert(e.blocked);
            }
            UserEvent::Unblocked(e) => {
                self.blocks.remove(&e.blocked);
            }
            UserEvent::RoomMuted(e) => {
                self.mutes.insert(e.room_id, e.until);
            }
            UserEvent::RoomUnmuted(e) => {
                self.mutes.remove(&e.room_id);
            }
            UserEvent::NotificationsRead(e) => {
                self.notifications_read = self.notifications_read.max(e.position);
            }
            // Credentials are not aggregate state; a deletion is handled
            // by `User::evolve`.
            UserEvent::PasswordChanged(_) | UserEvent::AccountDeleted(_) => {}
        }
    }
}

#[cfg(test)]
#[path = "user_people_tests.rs"]
mod people_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }
    fn register() -> UserCommand {
        UserCommand::Register {
            user_id: UserId(Uuid::from_u128(1)),
            username: Username::parse("minsu").unwrap(),
            sealed_username: Personal::Plain("minsu".into()),
            display_name: Personal::Plain("김민수".into()),
            at: at(),
        }
    }
    fn given(commands: &[UserCommand]) -> User {
        commands.iter().fold(User::default(), |s, c| {
            let events = s.decide(c).unwrap();
            s.evolve_all(&events)
        })
    }

    #[test]
    fn register_once() {
        let s = given(&[register()]);
        assert_eq!(
            s.profile.as_ref().unwrap().display_name,
            Personal::Plain("김민수".into())
        );
        assert_eq!(s.decide(&register()), Err(DomainError::UserAlreadyExists));
    }

    #[test]
    fn reserved_usernames_cannot_register_but_old_ones_still_evolve() {
        let register_as = |name: &str| UserCommand::Register {
            user_id: UserId(Uuid::from_u128(2)),
            username: Username::parse(name).unwrap(),
            sealed_username: Personal::Plain(name.into()),
            display_name: Personal::Plain("Admin".into()),
            at: at(),
        };
        for name in ["admin", "cotalk.support", "s_y_s_t_e_m"] {
            assert_eq!(
                User::default().decide(&register_as(name)),
                Err(DomainError::ReservedUsername),
                "{name}"
            );
        }
        // Given a registration stored before the rule, the account works.
        let stored = UserEvent::Registered(UserRegistered {
            user_id: UserId(Uuid::from_u128(3)),
            username: Personal::Plain("admin".into()),
            display_name: Personal::Plain("Old Admin".into()),
            at: at(),
        });
        let s = User::default().evolve(&stored);
        assert_eq!(
            s.profile.as_ref().unwrap().username,
            Personal::Plain("admin".into())
        );
        let rename = UserCommand::ChangeDisplayName {
            display_name: Personal::Plain("Still Here".into()),
            at: at(),
        };
        assert_eq!(s.decide(&rename).unwrap().len(), 1);
    }

    #[test]
    fn rename_changes_only_when_different() {
        let s = given(&[register()]);
        let same = UserCommand::ChangeDisplayName {
            display_name: Personal::Plain("김민수".into()),
            at: at(),
        };
        assert_eq!(s.decide(&same), Ok(vec![]));
        let other = UserCommand::ChangeDisplayName {
            display_name: Personal::Plain("Minsu".into()),
            at: at(),
        };
        assert_eq!(s.decide(&other).unwrap().len(), 1);
        assert_eq!(
            User::default().decide(&other),
            Err(DomainError::UserNotFound)
        );
    }
}
