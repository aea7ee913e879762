//! `GET /v1/search/messages`: full-text search over the messages of the
//! caller's rooms, answered from this process's own search index.
//!
//! **Permissions.** The caller's rooms are read from the `redis` projection
//! (the `rooms_of` set of the current generation, the same membership the
//! room list and history routes use) right before searching, and handed to
//! [`search::MessageSearcher`], which makes them a required clause *inside*
//! the tantivy query. A room the caller left or was removed from is simply
//! not in the set, so its messages are never scored, counted or paged over;
//! a `room_id` filter naming a room the caller is not in finds nothing (200
//! with no hits, the same answer as a room without matches, so existence does
//! not leak); a member who is added back sees the whole history again, since
//! the index keeps every message whatever the membership. The same rooms
//! scope BM25's statistics, so scores and ranks reveal nothing of other rooms
//! either (see [`search::searcher`]).
//!
//! **Operators, hidden, blocked.** `from:` names are resolved to user ids
//! from the same `redis` snapshot as the rooms (an unknown name finds
//! nothing, like `in:` a room the caller is not in); the caller's blocks
//! and the caller's id (for `mentions:me`, `from:me` and the messages they
//! hid) go to the searcher, which applies them inside the query, so a page
//! is never short of hits that exist. `tz` (IANA name, default Asia/Seoul)
//! sets the days of `before:`, `after:` and `on:`; a bad operator or `tz`
//! is 422 `invalid_query` naming it.
//!
//! **Read-your-writes.** The answer depends on two projections: the index
//! (message text) and `redis` (membership). `X-Min-Position` waits, with one
//! shared deadline, until the index's visible commit *and* the `redis`
//! checkpoint have reached it, else 503 `projection_lagging` with
//! `Retry-After`: an index that is still catching up never answers with
//! missing hits as if they did not exist. `X-Position` is the lower of the
//! two positions the answer reflects.
//!
//! **Replicas.** Every process that serves search (`--role query` or `all`)
//! runs its own copy of the `search` projection: its own index directory
//! (`{data_dir}/search/{namespace}/g{generation}-v{schema version}`) fed by its own durable
//! JetStream consumer (named per host and directory), falling back to the
//! event log when the bus lacks events. Query nodes therefore scale out
//! without sharing a disk or a writer lock; each answers from the commits it
//! has made, and `X-Min-Position` hides the small differences between them.
//! A process without an index (`--role command`, `projector`) does not mount
//! this route.
//!
//! Searches run on the blocking pool: a query over many rooms can take
//! milliseconds of CPU.

use crate::dto::{Problem, SearchHitResponse, SearchResponse};
use crate::failure::{unavailable, Fail};
use crate::routes::ConsistencyHeaders;
use crate::snapshot::{consistent, Interrupt, Snapshot};
use crate::state::{QueryState, SearcherWatch};
use crate::wait::{Backoff, Bound};
use crate::window::{limit, optional};
use api::ratelimit::Limits;
use api::{ApiError, ApiQuery, AuthUser, MinPosition, Position};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::{RoomId, UserId};
use search::{MessageSearcher, SearchError, SearchHit, SearchRequest, SortOrder};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::IntoParams;

/// `?q=&room_id=&author_id=&before=&after=&limit=&cursor=&sort=&tz=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// Words, `"quoted phrases"`, `-excluded` words and operators, 1–256
    /// characters; every word, phrase and operator must match. Korean words
    /// match with any particle attached and inside compounds; English words
    /// are stemmed. Operators: `from:USERNAME` (or `from:me`), `in:ROOM_ID`,
    /// `has:file` (any attachment), `has:image`, `has:link`, `mentions:me`,
    /// `before:YYYY-MM-DD`, `after:YYYY-MM-DD`, `on:YYYY-MM-DD` (days of
    /// `tz`); several `from:` or `in:` are alternatives. A query may be
    /// operators only (newest first).
    #[serde(default, deserialize_with = "optional")]
    #[param(required = true, min_length = 1, max_length = 256)]
    q: Option<String>,
    /// Only this room (a room the caller is not a member of finds nothing).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<uuid::Uuid>)]
    room_id: Option<String>,
    /// Only messages by this user.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<uuid::Uuid>)]
    author_id: Option<String>,
    /// Only messages posted strictly before this instant (RFC 3339).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<DateTime<Utc>>)]
    before: Option<String>,
    /// Only messages posted strictly after this instant (RFC 3339).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<DateTime<Utc>>)]
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// `next_cursor` of the previous page, with the same query and sort.
    #[serde(default, deserialize_with = "optional")]
    cursor: Option<String>,
    /// `relevance` (default: BM25, newest first among equals) or `recent`.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, pattern = "^(relevance|recent)$")]
    sort: Option<String>,
    /// The IANA time zone of the days of `before:`, `after:` and `on:`
    /// (default `Asia/Seoul`); an unknown name is 422 `invalid_query`.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, example = "Asia/Seoul")]
    tz: Option<String>,
}

/// A hit of the index as answered.
fn hit(h: SearchHit) -> SearchHitResponse {
    SearchHitResponse {
        message_id: h.message_id.0,
        room_id: h.room_id.0,
        seq: h.seq,
        author_id: h.author_id.0,
        created_at: h.created_at,
        snippet: h.snippet,
        score: h.score,
    }
}

/// A malformed filter value: 400, like every other query parameter.
fn id_param<T: std::str::FromStr>(
    name: &str,
    value: Option<String>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::invalid_request(format!("{name} must be a UUID")))
        })
        .transpose()
}

fn time_param(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid_request(format!("{name} must be an RFC 3339 timestamp"))
                })
        })
        .transpose()
}

impl SearchParams {
    /// The request, without the caller's rooms (read later, as late as possible).
    fn into_request(self) -> Result<SearchRequest, ApiError> {
        let sort = match self.sort.as_deref() {
            None => SortOrder::Relevance,
            Some(s) => SortOrder::parse(s)
                .ok_or_else(|| ApiError::invalid_request("sort must be `relevance` or `recent`"))?,
        };
        Ok(SearchRequest {
            q: self.q.unwrap_or_default(),
            member_rooms: Vec::new(),
            room_id: id_param::<RoomId>("room_id", self.room_id)?,
            author_id: id_param::<UserId>("author_id", self.author_id)?,
            before: time_param("before", self.before)?,
            after: time_param("after", self.after)?,
            limit: limit(self.limit.as_deref())?,
            cursor: self.cursor,
            sort,
            tz: self
                .tz
                .as_deref()
                .map(search::operators::parse_tz)
                .transpose()
                .map_err(search_error)?,
            ..SearchRequest::default()
        })
    }
}

/// A search error as an answer: the query or cursor is the client's fault
/// (422 with the crate's code), anything else is a logged 500.
fn search_error(e: SearchError) -> ApiError {
    if e.is_client_error() {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
    } else {
        ApiError::internal("search", e)
    }
}

fn no_index() -> ApiError {
    unavailable("search", "no search index is open in this process")
}

/// Reject a query or cursor that cannot be used before waiting for or
/// reading anything. With no rooms the searcher parses the query and the
/// cursor and returns at once, without touching the index, so this is cheap
/// enough for the async thread.
fn check(searcher: &MessageSearcher, req: &SearchRequest) -> Result<(), ApiError> {
    let probe = SearchRequest {
        member_rooms: Vec::new(),
        room_id: None,
        ..req.clone()
    };
    searcher.search(&probe).map(drop).map_err(search_error)
}

/// The index of the current generation once its visible commit reaches the
/// bound: polled (an atomic read) with the usual backoff, since a commit
/// sends no notification.
async fn indexed(source: &SearcherWatch, bound: Bound) -> Result<MessageSearcher, Fail> {
    let mut backoff = Backoff::until(bound.deadline);
    loop {
        // Re-read the watch each time: a rebuild may switch generations.
        let current = source.borrow().clone();
        let have = match current {
            Some(s) if s.position() >= bound.position => return Ok(s),
            Some(s) => Some(s.position()),
            None => None,
        };
        if !backoff.sleep().await {
            return Err(match have {
                Some(have) => api::position::lagging(bound.position, have).into(),
                None => no_index().into(),
            });
        }
    }
}

/// What the searcher needs to know of the caller, from one `redis` snapshot.
struct Caller {
    /// The rooms `me` is a member of now.
    rooms: Vec<RoomId>,
    /// The users `me` blocked: their messages are never found.
    blocked: Vec<UserId>,
    /// The owners of the usernames `from:` names (absent: nobody's).
    usernames: HashMap<String, UserId>,
}

/// The caller's rooms and blocks and the owners of `names`, from the
/// `redis` projection.
async fn caller(
    snap: &mut Snapshot<'_>,
    me: UserId,
    names: &[String],
) -> Result<Caller, Interrupt> {
    let mut values = snap
        .exec(|keys, pipe| {
            readmodel::rooms::queue_list(pipe, keys, me);
            readmodel::people::queue_blocks(pipe, keys, me);
            for name in names {
                readmodel::profiles::queue_owner(pipe, keys, name);
            }
        })
        .await?;
    let rooms = readmodel::rooms::take_list(&mut values)?;
    let blocked = readmodel::people::take_blocks(&mut values)?
        .into_iter()
        .map(|b| b.user_id)
        .collect();
    let mut usernames = HashMap::with_capacity(names.len());
    for name in names {
        if let Some(owner) = readmodel::profiles::take_owner(&mut values)? {
            usernames.insert(name.clone(), owner);
        }
    }
    Ok(Caller {
        rooms,
        blocked,
        usernames,
    })
}

/// Search the messages of the caller's rooms.
#[utoipa::path(get, path = "/v1/search/messages", tag = "search",
    params(SearchParams, ConsistencyHeaders),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "one page of hits from the caller's current rooms, by relevance (or time with sort=recent)", body = SearchResponse,
         headers(("X-Position" = i64, description = "position the answer reflects (the lower of the index and membership positions)"))),
        (status = 400, description = "invalid_request: a malformed id, timestamp or sort, an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_query (empty, over 256 characters, unbalanced quote, nothing searchable; an unknown, excluded or malformed operator or an unknown tz, the detail naming it), invalid_cursor, invalid_limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: too many searches by this user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "projection_lagging: the index or membership has not reached X-Min-Position in time; dependency_unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn search(
    State(state): State<QueryState>,
    AuthUser(me): AuthUser,
    limits: Limits,
    ApiQuery(params): ApiQuery<SearchParams>,
    min: MinPosition,
) -> Result<(Position, Json<SearchResponse>), Fail> {
    limits.search(me.0)?;
    let source = state.searcher().ok_or_else(no_index)?.clone();
    let mut req = params.into_request()?;
    let current = source.borrow().clone().ok_or_else(no_index)?;
    check(&current, &req)?;
    let names = search::query::usernames(&req.q).map_err(search_error)?;
    let bound = Bound::of(min);
    let searcher = indexed(&source, bound).await?;
    // Membership last, right before searching: "member now" as late as possible.
    let mut snap = Snapshot::begin(&state, bound);
    let caller = consistent!(snap, caller(&mut snap, me, &names));
    req.member_rooms = caller.rooms;
    req.excluded_authors = caller.blocked;
    req.usernames = caller.usernames;
    req.viewer = Some(me);
    let redis_position = snap.position();
    let page = tokio::task::spawn_blocking(move || searcher.search(&req))
        .await
        .map_err(|e| Fail::at(ApiError::internal("search task", e), redis_position))?
        .map_err(|e| Fail::at(search_error(e), redis_position))?;
    Ok((
        Position(snap.position().min(page.position)),
        Json(SearchResponse {
            hits: page.hits.into_iter().map(hit).collect(),
            next_cursor: page.next_cursor,
        }),
    ))
}
