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
    #[error("the author may delete a message for everyone only within the delete window")]
    DeleteWindowPassed,
    /// Unknown here: never uploaded, uploaded to another room or by someone
    /// else, already sent, or discarded as an orphan.
    #[error("attachment is unknown, belongs elsewhere or was already sent")]
    InvalidAttachment,
    /// Answered as `invalid_attachment`, with its own detail.
    #[error("a message carries at most 10 attachments, each once")]
    TooManyAttachments,
    #[error("only current members of the room can be mentioned")]
    InvalidMention,
    /// Answered as `invalid_mention`, with its own detail.
    #[error("a message mentions at most 50 members")]
    TooManyMentions,
    #[error("a reaction is exactly one emoji")]
    InvalidReaction,
    #[error("reaction not found")]
    ReactionNotFound,
    #[error("the room has no notice")]
    NoticeNotFound,
    // ---- the people phase (issue 16) ----
    #[error("only the room's owner or an admin may do this")]
    NotRoomAdmin,
    #[error("direct rooms have no invite links")]
    DirectRoom,
    /// Unknown, revoked, expired or used up: one answer, so a token cannot
    /// be probed for which of these it is.
    #[error("invite not found")]
    InviteNotFound,
    #[error("wrong invite code")]
    InvalidInviteCode,
    /// An added code (`invalid_invite`): `expires_in_hours` outside 1-720,
    /// `max_uses` 0, or a code that is not 1-32 visible characters.
    #[error("expires_in_hours must be 1-720, max_uses at least 1, a code 1-32 visible characters")]
    InvalidInvite,
    /// An added code (`owner_role_fixed`): the owner cannot give themselves
    /// another role, which would leave the room without an owner.
    #[error("the owner's role changes only by giving ownership to another member")]
    OwnerRoleFixed,
    #[error("cannot block yourself")]
    CannotBlockSelf,
    #[error("this user is not blocked")]
    BlockNotFound,
    /// An added code (`invalid_mute_until`): `until` not after now.
    #[error("a mute's until must be in the future")]
    InvalidMuteUntil,
    /// An added code (`invalid_status_message`).
    #[error("status message must be 0-60 characters, and visible if not empty")]
    InvalidStatusMessage,
    // ---- meet-ups (issue 17); every `invalid_meetup` has its own detail ----
    #[error("meet-up title must be 1-100 characters, at least one of them visible")]
    InvalidMeetupTitle,
    /// Answered as `invalid_meetup`.
    #[error("meet-up place must be at most 200 characters on one line")]
    InvalidMeetupPlace,
    /// Answered as `invalid_meetup`.
    #[error("meet-up description must be at most 4000 characters")]
    InvalidMeetupDescription,
    /// Answered as `invalid_meetup`.
    #[error("remind_before_minutes must be 0-10080")]
    InvalidRemindBefore,
    /// Answered as `invalid_meetup`.
    #[error("a meet-up must end after it starts")]
    MeetupEndsBeforeStart,
    /// Answered as `invalid_meetup`.
    #[error("a meet-up is planned with at most 100 invitees")]
    TooManyInvitees,
    /// Also for a meet-up the caller does not attend.
    #[error("meet-up not found")]
    MeetupNotFound,
    #[error("meet-up already exists")]
    MeetupAlreadyExists,
    #[error("only the meet-up's organizer may do this")]
    NotMeetupOrganizer,
    #[error("user already attends this meet-up")]
    AlreadyAttending,
    #[error("answer must be going, maybe or declined")]
    InvalidRsvp,
    #[error("the meet-up was cancelled")]
    MeetupCancelled,
    // ---- notifications (issue 16) ----
    /// An added code (`notification_not_found`): not the id of one of the
    /// caller's notifications.
    #[error("notification not found")]
    NotificationNotFound,
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
            Self::DeleteWindowPassed => "delete_window_passed",
            Self::InvalidAttachment | Self::TooManyAttachments => "invalid_attachment",
            Self::InvalidMention | Self::TooManyMentions => "invalid_mention",
            Self::InvalidReaction => "invalid_reaction",
            Self::ReactionNotFound => "reaction_not_found",
            Self::NoticeNotFound => "notice_not_found",
            Self::NotRoomAdmin => "not_room_admin",
            Self::DirectRoom => "direct_room",
            Self::InviteNotFound => "invite_not_found",
            Self::InvalidInviteCode => "invalid_invite_code",
            Self::InvalidInvite => "invalid_invite",
            Self::OwnerRoleFixed => "owner_role_fixed",
            Self::CannotBlockSelf => "cannot_block_self",
            Self::BlockNotFound => "block_not_found",
            Self::InvalidMuteUntil => "invalid_mute_until",
            Self::InvalidStatusMessage => "invalid_status_message",
            Self::InvalidMeetupTitle
            | Self::InvalidMeetupPlace
            | Self::InvalidMeetupDescription
            | Self::InvalidRemindBefore
            | Self::MeetupEndsBeforeStart
            | Self::TooManyInvitees => "invalid_meetup",
            Self::MeetupNotFound => "meetup_not_found",
            Self::MeetupAlreadyExists => "meetup_already_exists",
            Self::NotMeetupOrganizer => "not_meetup_organizer",
            Self::AlreadyAttending => "already_attending",
            Self::InvalidRsvp => "invalid_rsvp",
            Self::MeetupCancelled => "meetup_cancelled",
            Self::NotificationNotFound => "notification_not_found",
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
            | Self::InvalidMessageBody
            | Self::InvalidAttachment
            | Self::TooManyAttachments
            | Self::InvalidMention
            | Self::TooManyMentions
            | Self::InvalidReaction
            | Self::DirectRoom
            | Self::InvalidInvite
            | Self::OwnerRoleFixed
            | Self::CannotBlockSelf
            | Self::InvalidMuteUntil
            | Self::InvalidStatusMessage
            | Self::InvalidMeetupTitle
            | Self::InvalidMeetupPlace
            | Self::InvalidMeetupDescription
            | Self::InvalidRemindBefore
            | Self::MeetupEndsBeforeStart
            | Self::TooManyInvitees
            | Self::InvalidRsvp => 422,
            Self::UsernameTaken
            | Self::UserAlreadyExists
            | Self::AlreadyFriends
            | Self::RoomAlreadyExists
            | Self::AlreadyMember
            | Self::MessageDeleted
            | Self::MeetupAlreadyExists
            | Self::AlreadyAttending
            | Self::MeetupCancelled => 409,
            Self::NotRoomOwner
            | Self::NotMessageAuthor
            | Self::DeleteWindowPassed
            | Self::NotRoomAdmin
            | Self::InvalidInviteCode
            | Self::NotMeetupOrganizer => 403,
            Self::UserNotFound
            | Self::FriendRequestNotFound
            | Self::FriendNotFound
            | Self::RoomNotFound
            | Self::MemberNotFound
            | Self::MessageNotFound
            | Self::ReactionNotFound
            | Self::NoticeNotFound
            | Self::InviteNotFound
            | Self::BlockNotFound
            | Self::MeetupNotFound
            | Self::NotificationNotFound => 404,
        }
    }
}
