//! The meet-ups read model, written by the `history` projection in the same
//! transaction as the messages (see `readmodel::sql::meetups_table`). Events
//! come in log order and each is one small statement: meet-ups are few next
//! to messages, so batching them is not worth the code.

use crate::error::Result;
use domain::event::CalendarFeedRotated;
use domain::event::{MeetupDetails, MeetupEvent};
use readmodel::sql::{calendar_feeds_table, meetup_attendees_table, meetups_table};
use sqlx::{Postgres, Transaction};

/// The two tables of one generation.
pub(super) struct MeetupTables {
    meetups: String,
    attendees: String,
    feeds: String,
}

impl MeetupTables {
    /// The tables of `generation`.
    pub(super) fn of(generation: i64) -> Self {
        Self {
            meetups: meetups_table(generation),
            attendees: meetup_attendees_table(generation),
            feeds: calendar_feeds_table(generation),
        }
    }

    /// Replace a user's calendar feed token hash.
    pub(super) async fn apply_feed(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        e: &CalendarFeedRotated,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {} (user_id, token_hash) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash",
            self.feeds
        ))
        .bind(e.user_id.0)
        .bind(&e.token_hash)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Apply one meet-up event (the caller holds the checkpoint lock and
    /// skips events at or below it, so each is applied once).
    pub(super) async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &MeetupEvent,
    ) -> Result<()> {
        let (m, a) = (&self.meetups, &self.attendees);
        match event {
            MeetupEvent::Planned(e) => {
                let d = &e.details;
                sqlx::query(&format!(
                    "INSERT INTO {m} (meetup_id, room_id, organizer_id, title, starts_at, ends_at,
                        place, description, remind_before_minutes, planned_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                     ON CONFLICT DO NOTHING"
                ))
                .bind(e.meetup_id.0)
                .bind(e.room_id.0)
                .bind(e.organizer.0)
                .bind(&d.title)
                .bind(d.starts_at)
                .bind(d.ends_at)
                .bind(&d.place)
                .bind(&d.description)
                .bind(minutes(d))
                .bind(e.at)
                .execute(&mut **tx)
                .await?;
                let mut users = vec![e.organizer.0];
                let mut answers = vec![Some("going")];
                for u in &e.invitees {
                    users.push(u.0);
                    answers.push(None);
                }
                sqlx::query(&format!(
                    "INSERT INTO {a} (meetup_id, user_id, rsvp)
                     SELECT $1, * FROM UNNEST($2::uuid[], $3::text[]) ON CONFLICT DO NOTHING"
                ))
                .bind(e.meetup_id.0)
                .bind(&users)
                .bind(&answers)
                .execute(&mut **tx)
                .await?;
            }
            MeetupEvent::Changed(e) => {
                let d = &e.details;
                sqlx::query(&format!(
                    "UPDATE {m} SET title = $2, starts_at = $3, ends_at = $4, place = $5,
                        description = $6, remind_before_minutes = $7, sequence = $8, updated_at = $9
                      WHERE meetup_id = $1"
                ))
                .bind(e.meetup_id.0)
                .bind(&d.title)
                .bind(d.starts_at)
                .bind(d.ends_at)
                .bind(&d.place)
                .bind(&d.description)
                .bind(minutes(d))
                .bind(e.sequence as i32)
                .bind(e.at)
                .execute(&mut **tx)
                .await?;
            }
            MeetupEvent::Cancelled(e) => {
                sqlx::query(&format!(
                    "UPDATE {m} SET cancelled = true, sequence = $2, updated_at = $3
                      WHERE meetup_id = $1"
                ))
                .bind(e.meetup_id.0)
                .bind(e.sequence as i32)
                .bind(e.at)
                .execute(&mut **tx)
                .await?;
            }
            MeetupEvent::AttendeeInvited(e) => {
                sqlx::query(&format!(
                    "INSERT INTO {a} (meetup_id, user_id, rsvp) VALUES ($1, $2, NULL)
                     ON CONFLICT DO NOTHING"
                ))
                .bind(e.meetup_id.0)
                .bind(e.user_id.0)
                .execute(&mut **tx)
                .await?;
            }
            MeetupEvent::RsvpGiven(e) => {
                sqlx::query(&format!(
                    "UPDATE {a} SET rsvp = $3 WHERE meetup_id = $1 AND user_id = $2"
                ))
                .bind(e.meetup_id.0)
                .bind(e.user_id.0)
                .bind(e.answer.as_str())
                .execute(&mut **tx)
                .await?;
            }
            // A fired reminder changes no meet-up; its frame comes from the
            // frames module.
            MeetupEvent::ReminderDue(_) => {}
        }
        Ok(())
    }
}

/// The lead time as the column's type (at most 10080, so it fits).
fn minutes(d: &MeetupDetails) -> i32 {
    i32::try_from(d.remind_before_minutes).unwrap_or(i32::MAX)
}
