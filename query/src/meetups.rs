//! Reads of the meet-ups read model (`meetups_g{N}`, `meetup_attendees_g{N}`,
//! written by the `history` projection under its checkpoint). As in
//! [`crate::history`], one statement reads the generation pointer, that
//! generation's checkpoint and the rows, so they come from one snapshot, and
//! rows are read only once the checkpoint reaches the caller's bound.

use crate::failure::{dependency, unavailable, Fail};
use crate::history::{head_sql, read_consistent, read_head};
use crate::state::QueryState;
use crate::wait::Bound;
use chrono::{DateTime, Utc};
use contract::meetups::{AttendeeResponse, MeetupResponse};
use domain::{MeetupId, RoomId, UserId};
use readmodel::sql::{calendar_feeds_table, meetup_attendees_table, meetups_table};
use readmodel::ProjectionName;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// The most meet-ups one list answers (API.md: `GET /v1/me/meetups`).
pub(crate) const MAX_MEETUPS: i64 = 500;

/// Which meet-ups of the caller to read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filter {
    /// Only this one.
    pub meetup: Option<MeetupId>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
}

/// One meet-up as read, with what the calendar feed needs besides the answer.
#[derive(Debug, Clone)]
pub(crate) struct MeetupRow {
    pub meetup: MeetupResponse,
    /// iCalendar's `SEQUENCE`.
    pub sequence: i32,
    pub planned_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn sql(generation: i64) -> String {
    let m = meetups_table(generation);
    let a = meetup_attendees_table(generation);
    let order = "(a.user_id = x.organizer_id) DESC, a.user_id";
    format!(
        "{head}
         SELECT c.generation, c.position,
                r.meetup_id, r.room_id, r.organizer_id, r.title, r.starts_at, r.ends_at, r.place,
                r.description, r.remind_before_minutes, r.cancelled, r.sequence, r.planned_at,
                r.updated_at, r.users, r.answers
         FROM c LEFT JOIN LATERAL (
           SELECT x.*,
                  ARRAY(SELECT a.user_id FROM {a} a WHERE a.meetup_id = x.meetup_id ORDER BY {order}) AS users,
                  ARRAY(SELECT coalesce(a.rsvp, 'pending') FROM {a} a WHERE a.meetup_id = x.meetup_id ORDER BY {order}) AS answers
           FROM {m} x
           WHERE x.meetup_id IN (SELECT meetup_id FROM {a} WHERE user_id = $2)
             AND ($3::uuid IS NULL OR x.meetup_id = $3)
             AND ($4::timestamptz IS NULL OR x.starts_at >= $4)
             AND ($5::timestamptz IS NULL OR x.starts_at < $5)
           ORDER BY x.starts_at, x.meetup_id
           LIMIT $6
         ) r ON c.position >= $7
         ORDER BY r.starts_at, r.meetup_id",
        head = head_sql(),
    )
}

/// The caller's meet-ups matching `filter`, ordered by start, and the
/// checkpoint they reflect; waits (within `bound`) for the checkpoint.
pub(crate) async fn read(
    state: &QueryState,
    me: UserId,
    filter: Filter,
    bound: Bound,
) -> Result<(Vec<MeetupRow>, i64), Fail> {
    let pool = state.pool();
    let at = bound.position;
    let (rows, position) =
        read_consistent(state, bound, "meetups read", meetups_table, |generation| {
            let sql = sql(generation);
            async move {
                sqlx::query(&sql)
                    .bind(ProjectionName::History.as_str())
                    .bind(me.0)
                    .bind(filter.meetup.map(|m| m.0))
                    .bind(filter.from)
                    .bind(filter.to)
                    .bind(MAX_MEETUPS)
                    .bind(at)
                    .fetch_all(pool)
                    .await
            }
        })
        .await?;
    let meetups = rows
        .iter()
        .filter_map(|row| decode(row).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| dependency("meetups row", e))?;
    Ok((meetups, position))
}

/// One meet-up of a row; `None` for the head-only row of an empty answer.
fn decode(row: &PgRow) -> Result<Option<MeetupRow>, sqlx::Error> {
    let Some(meetup_id) = row.try_get::<Option<Uuid>, _>(2)? else {
        return Ok(None);
    };
    let users: Vec<Uuid> = row.try_get::<Option<Vec<Uuid>>, _>(15)?.unwrap_or_default();
    let answers: Vec<String> = row
        .try_get::<Option<Vec<String>>, _>(16)?
        .unwrap_or_default();
    let attendees = users
        .into_iter()
        .zip(answers)
        .map(|(u, rsvp)| AttendeeResponse {
            user_id: UserId(u),
            rsvp,
        })
        .collect();
    let uuid = |i: usize| -> Result<Uuid, sqlx::Error> {
        Ok(row.try_get::<Option<Uuid>, _>(i)?.unwrap_or_default())
    };
    let at = |i: usize| -> Result<DateTime<Utc>, sqlx::Error> {
        Ok(row
            .try_get::<Option<DateTime<Utc>>, _>(i)?
            .unwrap_or_default())
    };
    let meetup = MeetupResponse {
        meetup_id: MeetupId(meetup_id),
        room_id: RoomId(uuid(3)?),
        organizer_id: UserId(uuid(4)?),
        title: row.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
        starts_at: at(6)?,
        ends_at: row.try_get(7)?,
        place: row.try_get(8)?,
        description: row.try_get(9)?,
        remind_before_minutes: row
            .try_get::<Option<i32>, _>(10)?
            .unwrap_or_default()
            .max(0) as u32,
        cancelled: row.try_get::<Option<bool>, _>(11)?.unwrap_or_default(),
        attendees,
    };
    Ok(Some(MeetupRow {
        meetup,
        sequence: row.try_get::<Option<i32>, _>(12)?.unwrap_or_default(),
        planned_at: at(13)?,
        updated_at: at(14)?,
    }))
}

/// The user whose calendar feed token hashes to `token_hash`, if any.
pub(crate) async fn feed_owner(
    state: &QueryState,
    token_hash: &str,
) -> Result<Option<UserId>, Fail> {
    for _ in 0..2 {
        let generation = state.history_generation();
        let found = sqlx::query_scalar::<_, Uuid>(&format!(
            "SELECT user_id FROM {} WHERE token_hash = $1",
            calendar_feeds_table(generation)
        ))
        .bind(token_hash)
        .fetch_optional(state.pool())
        .await;
        match found {
            Ok(user) => return Ok(user.map(UserId)),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
                let (current, _) = read_head(state).await?;
                state.set_history_generation(current);
            }
            Err(e) => return Err(dependency("calendar feed read", e).into()),
        }
    }
    Err(unavailable("calendar feed read", "generation pointer keeps moving").into())
}
