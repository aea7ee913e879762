//! A room's message history.
//!
//! Recent pages come from the Redis timeline (the last `TIMELINE_LEN`
//! messages of each room, in the same transaction as the membership check);
//! anything older comes from the history table. Both give the same answer:
//! the timeline is used only when it provably holds every message the table
//! query would return (see [`from_timeline`]), otherwise the table is read.

use crate::dto::{MessageResponse, MessagesResponse, Problem};
use crate::failure::Fail;
use crate::history;
use crate::messenger::{decorate, Decorated};
use crate::routes::{room_id, ConsistencyHeaders};
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::QueryState;
use crate::wait::Bound;
use crate::window::{optional, Window};
use api::{ApiError, ApiPath, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::Json;
use domain::views::MessageView;
use domain::{RoomId, UserId};
use readmodel::{hidden, people, rooms, timeline};
use serde::Deserialize;
use utoipa::IntoParams;

/// `?before=&after=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesParams {
    /// Only messages with `seq` below this, newest first.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u64>)]
    before: Option<String>,
    /// Only messages with `seq` above this, oldest first.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u64>)]
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// How many more timeline messages a page reads than it shows, so that up
/// to this many messages the caller hid in the window still leave a full
/// page; a caller who hid more in one window is served from the table.
const HIDE_SLACK: usize = 32;

/// What one transaction reads for a history page: membership, the room's
/// last seq, the timeline's extent and its part of the window, and the seqs
/// the caller hid in the window.
struct TimelineRead {
    member: bool,
    last_seq: i64,
    /// Lowest and highest seq in the timeline, and how many it holds.
    extent: Option<(i64, i64)>,
    len: i64,
    /// Up to `limit + 1 + HIDE_SLACK` timeline messages inside the window, in window order.
    page: Vec<MessageView>,
    /// Users the caller blocked: their messages are left out of the page.
    blocked: Vec<UserId>,
    /// What the caller hid inside the window, ascending.
    hidden: Vec<u64>,
}

async fn read_timeline(
    snap: &mut Snapshot<'_>,
    room: RoomId,
    me: UserId,
    window: &Window,
) -> Result<TimelineRead, Interrupt> {
    let (min, max) = window.score_bounds();
    let range = timeline::Range {
        min,
        max,
        ascending: window.ascending,
        count: window.limit + 1 + HIDE_SLACK,
    };
    let mut values = snap
        .exec(|keys, pipe| {
            rooms::queue_is_member(pipe, keys, room, me);
            rooms::queue_get(pipe, keys, room);
            timeline::queue_slice(pipe, keys, room, &range);
            people::queue_blocks(pipe, keys, me);
            hidden::queue_range(pipe, keys, room, me, &range.min, &range.max);
        })
        .await?;
    let member = rooms::take_is_member(&mut values)?;
    let view = rooms::take(&mut values)?;
    let slice = timeline::take_slice(&mut values, member)?;
    let blocked = people::take_blocks(&mut values)?
        .into_iter()
        .map(|b| b.user_id)
        .collect();
    let hidden = hidden::take(&mut values)?;
    Ok(TimelineRead {
        blocked,
        member: member && view.is_some(),
        last_seq: view.map_or(0, |v| v.last_seq.min(i64::MAX as u64) as i64),
        extent: slice.extent,
        len: slice.len,
        page: slice.page,
        hidden,
    })
}

/// The page from the timeline, when the timeline holds exactly what the
/// history table would return for the window.
///
/// Seqs are gapless, so the table holds every seq `1..=last_seq`. The
/// timeline is trusted only when it is contiguous and ends at `last_seq`
/// (it holds exactly `lo..=last_seq`). Then the table's first `limit + 1`
/// seqs of the window, in window order, are all in the timeline when the
/// window starts inside it; or, newest first, when the timeline alone
/// already filled `limit + 1` of them.
fn from_timeline(read: TimelineRead, window: &Window) -> Option<Vec<MessageView>> {
    let Some((lo, hi)) = window.range(read.last_seq) else {
        return Some(Vec::new());
    };
    let (t_lo, t_hi) = read.extent?;
    let contiguous = t_hi == read.last_seq && read.len == t_hi - t_lo + 1;
    if !contiguous || hi > t_hi {
        return None;
    }
    let covered = lo >= t_lo || (!window.ascending && read.page.len() > window.limit);
    covered.then_some(read.page)
}

/// Drop what the caller hid, and keep up to `limit + 1` messages.
fn visible(mut page: Vec<MessageView>, hidden: &[u64], limit: usize) -> Vec<MessageView> {
    page.retain(|m| hidden.binary_search(&m.seq).is_err());
    page.truncate(limit + 1);
    page
}

/// Turn up to `limit + 1` messages, with each one's reactions (as the
/// caller sees them) and `unread_by`, into the answer.
///
/// Messages of users the caller blocked are left out after `has_more` is
/// decided, so a page may hold fewer than `limit`.
fn answer(page: Vec<Decorated>, limit: usize, blocked: &[UserId]) -> MessagesResponse {
    let has_more = page.len() > limit;
    MessagesResponse {
        messages: page
            .into_iter()
            .take(limit)
            .filter(|d| !blocked.contains(&d.view.author_id))
            .map(|d| {
                let deleted_user = d.deleted_user;
                MessageResponse {
                    deleted_user,
                    ..MessageResponse::of(d.view, d.reactions, d.unread_by)
                }
            })
            .collect(),
        has_more,
    }
}

/// A page of a room's messages.
#[utoipa::path(get, path = "/v1/rooms/{room_id}/messages", tag = "messages",
    params(("room_id" = uuid::Uuid, Path, description = "the room"), MessagesParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page of messages; deleted ones keep their seq with an empty body", body = MessagesResponse,
         headers(("X-Position" = i64, description = "position the answer reflects"))),
        (status = 400, description = "invalid_request: a malformed number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "room_not_found: no such room, or the caller is not a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_limit", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn messages(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(params): ApiQuery<MessagesParams>,
    min: MinPosition,
) -> Result<(Position, Json<MessagesResponse>), Fail> {
    let room = room_id(&raw)?;
    let window = Window::parse(
        params.before.as_deref(),
        params.after.as_deref(),
        params.limit.as_deref(),
    )?;
    let mut snap = Snapshot::begin(&state, Bound::of(min));
    let mut read = consistent!(snap, read_timeline(&mut snap, room, me, &window));
    let redis_position = snap.position();
    if !read.member {
        return Err(Fail::at(ApiError::room_not_found(), redis_position));
    }
    let blocked = std::mem::take(&mut read.blocked);
    // The window as wide as it must be for `limit + 1` messages not hidden.
    let hidden = std::mem::take(&mut read.hidden);
    let wide = Window {
        limit: window.limit + hidden.len(),
        ..window.clone()
    };
    read.page.truncate(wide.limit + 1);
    let (page, position) = match (hidden.len() <= HIDE_SLACK)
        .then(|| from_timeline(read, &wide))
        .flatten()
    {
        Some(page) => {
            metrics::counter!("cotalk_query_history_pages_total", "source" => "timeline")
                .increment(1);
            (page, redis_position)
        }
        None => {
            metrics::counter!("cotalk_query_history_pages_total", "source" => "table").increment(1);
            let page = history::read_page(&state, room, &wide, snap.bound()).await?;
            (page.messages, redis_position.min(page.position))
        }
    };
    let page = visible(page, &hidden, window.limit);
    let page = consistent!(snap, decorate(&mut snap, room, me, &page));
    Ok((
        Position(position.min(snap.position())),
        Json(answer(page, window.limit, &blocked)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn msg(seq: i64) -> MessageView {
        MessageView {
            message_id: domain::MessageId(Uuid::from_u128(seq as u128)),
            room_id: RoomId(Uuid::nil()),
            seq: seq as u64,
            author_id: UserId(Uuid::nil()),
            body: format!("m{seq}"),
            reply_to: None,
            created_at: Utc::now(),
            edited_at: None,
            deleted: false,
            attachments: Vec::new(),
            mentions: Vec::new(),
        }
    }

    /// The timeline `t_lo..=last` of a room, read for `window`.
    fn read(t_lo: i64, last: i64, window: &Window) -> TimelineRead {
        let (lo, hi) = window.range(last).unwrap_or((1, 0));
        let mut seqs: Vec<i64> = (lo.max(t_lo)..=hi).collect();
        if !window.ascending {
            seqs.reverse();
        }
        seqs.truncate(window.limit + 1);
        TimelineRead {
            member: true,
            last_seq: last,
            extent: (t_lo <= last).then_some((t_lo, last)),
            len: (last - t_lo + 1).max(0),
            page: seqs.into_iter().map(msg).collect(),
            blocked: Vec::new(),
            hidden: Vec::new(),
        }
    }

    fn w(before: Option<&str>, after: Option<&str>, limit: &str) -> Window {
        Window::parse(before, after, Some(limit)).unwrap()
    }

    #[test]
    fn timeline_serves_only_windows_it_fully_holds() {
        // Timeline holds 101..=300.
        let newest = w(None, None, "50");
        assert!(from_timeline(read(101, 300, &newest), &newest).is_some());
        let deep = w(Some("120"), None, "50");
        assert!(from_timeline(read(101, 300, &deep), &deep).is_none());
        let just = w(Some("152"), None, "50");
        assert!(from_timeline(read(101, 300, &just), &just).is_some());
        let asc_old = w(None, Some("50"), "10");
        assert!(from_timeline(read(101, 300, &asc_old), &asc_old).is_none());
        let asc_new = w(None, Some("100"), "10");
        assert!(from_timeline(read(101, 300, &asc_new), &asc_new).is_some());
        let empty = w(None, Some("300"), "10");
        assert_eq!(
            from_timeline(read(101, 300, &empty), &empty),
            Some(Vec::new())
        );
        // A gap (a message missing from the timeline) sends it to the table.
        let mut gap = read(101, 300, &newest);
        gap.len -= 1;
        assert!(from_timeline(gap, &newest).is_none());
    }
}
