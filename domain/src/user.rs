//! The user aggregate: registration and display-name changes.

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::event::{DisplayNameChanged, StreamType, UserEvent, UserRegistered};
use crate::ids::UserId;
use crate::values::{DisplayName, Username};
use chrono::{DateTime, Utc};

/// What the user stream knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// Set once registered.
    pub profile: Option<Profile>,
}

/// A registered user's current profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
}

/// Commands on a user.
#[derive(Clone, Debug)]
pub enum UserCommand {
    /// Sign up (the handler reserves the username in the same commit).
    /// Reserved usernames ([`Username::is_reserved`]) are refused here, for
    /// new accounts only: stored registrations with such a name (from before
    /// the rule) still decode and evolve.
    Register {
        user_id: UserId,
        username: Username,
        display_name: DisplayName,
        at: DateTime<Utc>,
    },
    /// Change the display name (a no-op when unchanged).
    ChangeDisplayName {
        display_name: DisplayName,
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
            (
                UserCommand::Register {
                    user_id,
                    username,
                    display_name,
                    at,
                },
                None,
            ) => Ok(vec![UserEvent::Registered(UserRegistered {
                user_id: *user_id,
                username: username.to_string(),
                display_name: display_name.to_string(),
                at: *at,
            })]),
            (UserCommand::ChangeDisplayName { .. }, None) => Err(DomainError::UserNotFound),
            (UserCommand::ChangeDisplayName { display_name, at }, Some(p)) => {
                if p.display_name == display_name.as_str() {
                    return Ok(vec![]);
                }
                Ok(vec![UserEvent::DisplayNameChanged(DisplayNameChanged {
                    user_id: p.user_id,
                    display_name: display_name.to_string(),
                    at: *at,
                })])
            }
        }
    }

    fn evolve(mut self, event: &UserEvent) -> Self {
        match event {
            UserEvent::Registered(e) => {
                self.profile = Some(Profile {
                    user_id: e.user_id,
                    username: e.username.clone(),
                    display_name: e.display_name.clone(),
                });
            }
            UserEvent::DisplayNameChanged(e) => {
                if let Some(p) = &mut self.profile {
                    p.display_name = e.display_name.clone();
                }
            }
        }
        self
    }
}

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
            display_name: DisplayName::parse("김민수").unwrap(),
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
        assert_eq!(s.profile.as_ref().unwrap().display_name, "김민수");
        assert_eq!(s.decide(&register()), Err(DomainError::UserAlreadyExists));
    }

    #[test]
    fn reserved_usernames_cannot_register_but_old_ones_still_evolve() {
        let register_as = |name: &str| UserCommand::Register {
            user_id: UserId(Uuid::from_u128(2)),
            username: Username::parse(name).unwrap(),
            display_name: DisplayName::parse("Admin").unwrap(),
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
            username: "admin".into(),
            display_name: "Old Admin".into(),
            at: at(),
        });
        let s = User::default().evolve(&stored);
        assert_eq!(s.profile.as_ref().unwrap().username, "admin");
        let rename = UserCommand::ChangeDisplayName {
            display_name: DisplayName::parse("Still Here").unwrap(),
            at: at(),
        };
        assert_eq!(s.decide(&rename).unwrap().len(), 1);
    }

    #[test]
    fn rename_changes_only_when_different() {
        let s = given(&[register()]);
        let same = UserCommand::ChangeDisplayName {
            display_name: DisplayName::parse("김민수").unwrap(),
            at: at(),
        };
        assert_eq!(s.decide(&same), Ok(vec![]));
        let other = UserCommand::ChangeDisplayName {
            display_name: DisplayName::parse("Minsu").unwrap(),
            at: at(),
        };
        assert_eq!(s.decide(&other).unwrap().len(), 1);
        assert_eq!(
            User::default().decide(&other),
            Err(DomainError::UserNotFound)
        );
    }
}
