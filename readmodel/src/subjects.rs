//! NATS subjects of live frames: the projector publishes each room's frames
//! on its own subject, query nodes subscribe to all of a namespace's.

use domain::ids::UserId;

/// The subject room frames are published on, every room's on one:
/// `{ns}.frames.rooms`. One message holds an applied batch's frames of all
/// its rooms in position order, so a connection following several rooms
/// gets their frames in position order too, which resuming with
/// `after=<last position>` relies on.
pub fn room_frames(namespace: &str) -> String {
    format!("{namespace}.frames.rooms")
}

/// The subject one user's own frames (notifications) are published on:
/// `{ns}.frames.user.{user}`.
pub fn user_frames(namespace: &str, user: UserId) -> String {
    format!("{namespace}.frames.user.{user}")
}

/// The subject saying which log positions each committed batch of
/// notifications covers (`domain::notification::NotificationsCovered`):
/// `{ns}.frames.notified`.
pub fn notified(namespace: &str) -> String {
    format!("{namespace}.frames.notified")
}

/// Whether `subject` is a [`user_frames`] subject of `namespace`.
pub fn is_user_frames(namespace: &str, subject: &str) -> bool {
    subject
        .strip_prefix(namespace)
        .is_some_and(|rest| rest.starts_with(".frames.user."))
}

/// The servers of `COTALK_NATS_URL`: one URL, or several separated by
/// commas (every node of a NATS cluster as a seed; the client learns the
/// rest from them and moves to another when one dies).
pub fn servers(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Every frame subject of a namespace: `{ns}.frames.>`.
pub fn all_frames(namespace: &str) -> String {
    format!("{namespace}.frames.>")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nats_url_names_one_server_or_several() {
        assert_eq!(super::servers("nats://a:4222"), ["nats://a:4222"]);
        assert_eq!(
            super::servers("nats://a:1, nats://b:2,"),
            ["nats://a:1", "nats://b:2"]
        );
    }

    use super::*;
    use uuid::Uuid;

    #[test]
    fn room_subjects_match_the_wildcard() {
        let s = room_frames("ns1");
        let all = all_frames("ns1");
        assert!(s.starts_with(all.trim_end_matches('>')));
        let u = user_frames("ns1", UserId(Uuid::from_u128(7)));
        assert!(u.starts_with(all.trim_end_matches('>')));
        assert!(is_user_frames("ns1", &u));
        assert!(!is_user_frames("ns1", &s));
        assert!(!is_user_frames("ns2", &u));
        let n = notified("ns1");
        assert!(n.starts_with(all.trim_end_matches('>')));
        assert!(!is_user_frames("ns1", &n));
    }
}
