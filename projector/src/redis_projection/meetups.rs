//! Meet-up events in the `redis` read model (issue 17): the meet-up's room
//! is remembered when it is planned, and its changes, cancellation and
//! reminders become live frames in that room (`meetup_changed`,
//! `meetup_cancelled`, `meetup_reminder`), where every attendee is a member.

use super::overlay::Overlay;
use domain::event::{MeetupEvent, StoredEvent};
use domain::frame::Frame;
use tracing::warn;

impl Overlay {
    /// Apply one meet-up event.
    pub(super) fn meetup(&mut self, m: &MeetupEvent, e: &StoredEvent) {
        if let MeetupEvent::Planned(p) = m {
            self.meetup_rooms.insert(p.meetup_id, Some(p.room_id));
            self.dirty_meetup_rooms.insert(p.meetup_id);
            return;
        }
        let Some(Some(room)) = self.meetup_rooms.get(&m.meetup_id()).copied() else {
            warn!(meetup_id = %m.meetup_id(), position = e.position, "event of an unknown meet-up");
            return;
        };
        if let Some(frame) = Frame::of_meetup(e, room) {
            self.frame(frame);
        }
    }
}
