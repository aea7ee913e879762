//! NATS subjects of live frames: the projector publishes each room's frames
//! on its own subject, query nodes subscribe to all of a namespace's.

use domain::ids::RoomId;

/// The subject the frames of `room` are published on: `{ns}.frames.room.{room}`.
pub fn room_frames(namespace: &str, room: RoomId) -> String {
    format!("{namespace}.frames.room.{room}")
}

/// Every frame subject of a namespace: `{ns}.frames.>`.
pub fn all_frames(namespace: &str) -> String {
    format!("{namespace}.frames.>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn room_subjects_match_the_wildcard() {
        let s = room_frames("ns1", RoomId(Uuid::from_u128(7)));
        let all = all_frames("ns1");
        assert!(s.starts_with(all.trim_end_matches('>')));
    }
}
