//! Domain errors. Each variant is something a client can cause, and carries the
//! stable `code` of API.md; the HTTP layer maps codes to statuses in one table.

use thiserror::Error;

/// A rule of the domain refused a command or a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("username must be 3-32 characters of a-z, 0-9, '_' and '.'")]
    InvalidUsername,
    /// Answered as `invalid_username`, with its own detail.
    #[error("this username is reserved")]
    ReservedUsername,
    #[error("display name must be 1-64 characters, at least one of them visible")]
    InvalidDisplayName,
    #[error("password must be 8-256 characters")]
    WeakPassword,
    #[error("username is taken")]
    UsernameTaken,
    #[error("user not found")]
    UserNotFound,
    #[error("user already exists")]
    UserAlreadyExists,
    #[error("already friends")]
    AlreadyFriends,
    #[error("cannot befriend yourself")]
    CannotBefriendSelf,
    #[error("friend request not found")]
    FriendRequestNotFound,
    #[error("no friendship or request with this user")]
    FriendNotFound,
    #[error("room name must be 1-100 characters, at least one of them visible")]
    InvalidRoomName,
    #[error("too many members")]
    TooManyMembers,
    #[error("room not found")]
    RoomNotFound,
    #[error("room already exists")]
    RoomAlreadyExists,
    #[error("only the room owner may do this")]
    NotRoomOwner,
    #[error("user is already a member")]
    AlreadyMember,
    #[error("member not found")]
    MemberNotFound,
    #[error("direct rooms have exactly their two members and no name")]
    DirectRoomFixed,
    #[error("message body must be 1-4000 characters after trimming, at least one of them visible")]
    InvalidMessageBody,
    #[error("only the author may edit a message")]
    NotMessageAuthor,
    #[error("message not found")]
    MessageNotFound,
    #[error("message was deleted")]
    MessageDeleted,
}

impl DomainError {
    /// The stable machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUsername | Self::ReservedUsername => "invalid_username",
            Self::InvalidDisplayName => "invalid_display_name",
            Self::WeakPassword => "weak_password",
            Self::UsernameTaken => "username_taken",
            Self::UserNotFound => "user_not_found",
            Self::UserAlreadyExists => "user_already_exists",
            Self::AlreadyFriends => "already_friends",
            Self::CannotBefriendSelf => "cannot_befriend_self",
            Self::FriendRequestNotFound => "friend_request_not_found",
            Self::FriendNotFound => "friend_not_found",
            Self::InvalidRoomName => "invalid_room_name",
            Self::TooManyMembers => "too_many_members",
            Self::RoomNotFound => "room_not_found",
            Self::RoomAlreadyExists => "room_already_exists",
            Self::NotRoomOwner => "not_room_owner",
            Self::AlreadyMember => "already_member",
            Self::MemberNotFound => "member_not_found",
            Self::DirectRoomFixed => "direct_room_fixed",
            Self::InvalidMessageBody => "invalid_message_body",
            Self::NotMessageAuthor => "not_message_author",
            Self::MessageNotFound => "message_not_found",
            Self::MessageDeleted => "message_deleted",
        }
    }

    /// The HTTP status API.md gives this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidUsername
            | Self::ReservedUsername
            | Self::InvalidDisplayName
            | Self::WeakPassword
            | Self::CannotBefriendSelf
            | Self::InvalidRoomName
            | Self::TooManyMembers
            | Self::DirectRoomFixed
            | Self::InvalidMessageBody => 422,
            Self::UsernameTaken
            | Self::UserAlreadyExists
            | Self::AlreadyFriends
            | Self::RoomAlreadyExists
            | Self::AlreadyMember
            | Self::MessageDeleted => 409,
            Self::NotRoomOwner | Self::NotMessageAuthor => 403,
            Self::UserNotFound
            | Self::FriendRequestNotFound
            | Self::FriendNotFound
            | Self::RoomNotFound
            | Self::MemberNotFound
            | Self::MessageNotFound => 404,
        }
    }
}
