//! The meet-up commands of the chaos load (issue 17): every tenth step
//! (the third of each ten) a worker, in turn, plans a meet-up with the next
//! worker whose organizer's reminder is due at once (a start a day away,
//! the longest lead time), retitles it (the meet-up's room is renamed in the
//! same commit), changes its own answer to `maybe`, and plans a second,
//! distant meet-up and cancels it. Every command has events (never a no-op);
//! each planned first meet-up owes exactly one reminder, which the
//! scheduler (inside the projector process that the suite kills) must fire
//! once whatever happens to it.

use super::{HttpLoad, WORKERS};
use chrono::{TimeDelta, Utc};
use contract::meetups::{ChangeMeetupRequest, CreateMeetupRequest};
use domain::{MeetupId, UserId};
use std::sync::atomic::Ordering;

/// The longest lead time (a week): with a start a day away, due at once.
const DUE_AT_ONCE_MINUTES: i64 = 10_080;

impl HttpLoad {
    /// Worker `w`'s meet-up command at step `i`, if one is planned.
    pub(super) async fn meetup_step(&self, w: usize, i: usize) -> bool {
        if i % 10 != 3 {
            return false;
        }
        let guest = self.actors[(w + 1) % WORKERS].id;
        let current = self.meetups.lock().unwrap()[w];
        match ((i / 10) % 4, current) {
            (0, _) | (_, None) => {
                let plan = plan(
                    format!("모임 {w}-{i}"),
                    guest,
                    TimeDelta::days(1),
                    DUE_AT_ONCE_MINUTES,
                );
                let created = self
                    .command("plan a meet-up", Some(w), |c| {
                        let plan = plan.clone();
                        async move { c.create_meetup(&plan).await }
                    })
                    .await;
                self.meetups.lock().unwrap()[w] = Some(created.meetup_id);
                self.reminders_owed.fetch_add(1, Ordering::SeqCst);
            }
            (1, Some(meetup)) => {
                let change = ChangeMeetupRequest {
                    title: Some(format!("다시 모임 {w}-{i}")),
                    ..ChangeMeetupRequest::default()
                };
                self.command("retitle a meet-up", Some(w), |c| {
                    let change = change.clone();
                    async move { c.change_meetup(meetup, &change).await }
                })
                .await;
            }
            (2, Some(meetup)) => {
                self.command("answer a meet-up", Some(w), |c| async move {
                    c.rsvp(meetup, "maybe").await
                })
                .await;
            }
            _ => {
                // Thirty days away with a half-hour lead: nothing is due, so
                // whether it fires never races the cancellation.
                let plan = plan(
                    format!("취소될 모임 {w}-{i}"),
                    guest,
                    TimeDelta::days(30),
                    30,
                );
                let created = self
                    .command("plan a distant meet-up", Some(w), |c| {
                        let plan = plan.clone();
                        async move { c.create_meetup(&plan).await }
                    })
                    .await;
                let meetup: MeetupId = created.meetup_id;
                self.command("cancel a meet-up", Some(w), |c| async move {
                    c.cancel_meetup(meetup).await
                })
                .await;
            }
        }
        true
    }
}

fn plan(title: String, guest: UserId, starts_in: TimeDelta, remind: i64) -> CreateMeetupRequest {
    CreateMeetupRequest {
        title,
        starts_at: Utc::now() + starts_in,
        ends_at: None,
        place: None,
        description: None,
        invitees: vec![guest],
        remind_before_minutes: Some(remind),
    }
}
