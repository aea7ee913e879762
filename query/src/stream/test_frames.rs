//! Frames for the stream's unit tests: one room's history, written the way
//! the projection serialises it.

use chrono::{DateTime, Utc};
use domain::frame::{Frame, FrameBody};
use domain::{MessageId, RoomId, UserId};
use uuid::Uuid;

/// One fixed time: frames built twice serialise the same.
fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

pub(crate) fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(n))
}

pub(crate) fn room(n: u128) -> RoomId {
    RoomId(Uuid::from_u128(1000 + n))
}

pub(crate) fn message(seq: u64) -> MessageId {
    MessageId(Uuid::from_u128(2000 + u128::from(seq)))
}

/// A frame with its text.
pub(crate) fn framed(position: i64, room: RoomId, body: FrameBody) -> (Frame, String) {
    let frame = Frame {
        position,
        room_id: room,
        body,
    };
    let text = serde_json::to_string(&frame).unwrap();
    (frame, text)
}

pub(crate) fn created(members: &[UserId]) -> FrameBody {
    FrameBody::RoomCreated {
        name: "room".into(),
        owner_id: members[0],
        direct: false,
        members: members.to_vec(),
        at: at(),
    }
}

pub(crate) fn posted(seq: u64, body: &str) -> FrameBody {
    FrameBody::MessagePosted {
        message_id: message(seq),
        seq,
        author_id: user(1),
        body: body.into(),
        reply_to: None,
        at: at(),
        attachments: Vec::new(),
        mentions: Vec::new(),
        reactions: Vec::new(),
        unread_by: 0,
    }
}

pub(crate) fn edited(seq: u64, body: &str) -> FrameBody {
    FrameBody::MessageEdited {
        message_id: message(seq),
        seq,
        author_id: Some(user(1)),
        body: body.into(),
        at: at(),
    }
}

pub(crate) fn deleted(seq: u64) -> FrameBody {
    FrameBody::MessageDeleted {
        message_id: message(seq),
        seq,
        author_id: user(1),
        by: user(1),
        at: at(),
    }
}

pub(crate) fn kicked(who: UserId) -> FrameBody {
    FrameBody::MemberKicked {
        user_id: who,
        by: user(1),
        at: at(),
    }
}

pub(crate) fn left(who: UserId) -> FrameBody {
    FrameBody::MemberLeft {
        user_id: who,
        new_owner: None,
        at: at(),
    }
}

pub(crate) fn joined(who: UserId) -> FrameBody {
    FrameBody::MemberJoined {
        user_id: who,
        by: user(1),
        at: at(),
    }
}

/// One expected row of [`summary`] (`-` for a frame without a body).
pub(crate) fn row(kind: &str, position: i64, body: &str) -> (String, i64, String) {
    (kind.into(), position, body.into())
}

/// `(type, position, body)` of sent frames, to compare with expectations.
pub(crate) fn summary<T: std::ops::Deref<Target = str>>(texts: &[T]) -> Vec<(String, i64, String)> {
    texts
        .iter()
        .map(|t| {
            let v: serde_json::Value = serde_json::from_str(t).unwrap();
            (
                v["type"].as_str().unwrap().to_owned(),
                v["position"].as_i64().unwrap(),
                v["body"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}
