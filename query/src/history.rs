//! Reads of the `history` projection: `messages_g{N}` in the read database,
//! through the query role's pool (which may point at a streaming replica).
//!
//! One SQL statement reads the generation pointer, that generation's
//! checkpoint and the page of messages, so all three come from one snapshot
//! of whichever server answers. This matters on a replica: the checkpoint the
//! primary holds says nothing about the rows a lagging replica returns, the
//! checkpoint replicated with those rows does. The statement names the table
//! of the generation last seen; when the pointer it reads names another, the
//! page is discarded and read again from the new table, so answers never mix
//! generations.

use crate::failure::{dependency, unavailable, Fail};
use crate::state::QueryState;
use crate::wait::{Backoff, Bound};
use crate::window::Window;
use chrono::{DateTime, Utc};
use domain::views::{AttachmentView, MessageView};
use domain::{MessageId, RoomId, UserId};
use readmodel::sql::{messages_table, CHECKPOINTS_TABLE, GENERATIONS_TABLE};
use readmodel::ProjectionName;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// The pointer and checkpoint of the history projection, as one row `c`.
pub(crate) fn head_sql() -> String {
    format!(
        "WITH g AS (
           SELECT COALESCE((SELECT generation FROM {GENERATIONS_TABLE} WHERE projection = $1), 1) AS generation
         ), c AS (
           SELECT g.generation,
                  COALESCE((SELECT position FROM {CHECKPOINTS_TABLE} p
                            WHERE p.projection = $1 AND p.generation = g.generation), 0) AS position
           FROM g
         )"
    )
}

/// The statement reading one page of `window` from generation `generation`.
/// Rows are fetched only when the checkpoint reaches `$6`, so a lagging
/// replica costs a tiny answer, not a page.
fn page_sql(generation: i64, window: &Window) -> String {
    let order = if window.ascending { "ASC" } else { "DESC" };
    format!(
        "{head}
         SELECT c.generation, c.position,
                m.message_id, m.seq, m.author_id, m.body, m.reply_to, m.created_at, m.edited_at, m.deleted,
                m.attachments, m.mentions
         FROM c LEFT JOIN LATERAL (
           SELECT message_id, seq, author_id, body, reply_to, created_at, edited_at, deleted,
                  attachments, mentions
           FROM {table}
           WHERE room_id = $2 AND seq > $3 AND seq < $4
           ORDER BY seq {order}
           LIMIT $5
         ) m ON c.position >= $6
         ORDER BY m.seq {order}",
        head = head_sql(),
        table = messages_table(generation),
    )
}

/// One page of history: the messages in window order (at most `limit + 1`,
/// the extra one telling whether there is more) and the checkpoint they reflect.
pub(crate) struct HistoryPage {
    pub messages: Vec<MessageView>,
    pub position: i64,
}

/// Read one page of `room`'s history, waiting (within `bound`) until the
/// history projection has applied `bound.position`.
pub(crate) async fn read_page(
    state: &QueryState,
    room: RoomId,
    window: &Window,
    bound: Bound,
) -> Result<HistoryPage, Fail> {
    let pool = state.pool();
    let at = bound.position;
    let (rows, position) =
        read_consistent(state, bound, "history read", messages_table, |generation| {
            let sql = page_sql(generation, window);
            async move {
                sqlx::query(&sql)
                    .bind(ProjectionName::History.as_str())
                    .bind(room.0)
                    .bind(window.after)
                    .bind(window.before)
                    .bind(window.limit as i64 + 1)
                    .bind(at)
                    .fetch_all(pool)
                    .await
            }
        })
        .await?;
    let messages = rows
        .iter()
        .filter_map(|row| decode_row(room, row).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| dependency("history row", e))?;
    Ok(HistoryPage { messages, position })
}

/// Run `query` (the rows of one generation of the history projection's
/// tables, the first two columns of the first row being the generation
/// pointer and the checkpoint, as [`head_sql`] gives them) until it answers
/// at the current generation with a checkpoint at or past `bound.position`:
/// a generation that was switched or dropped under the query is learned and
/// read again, a checkpoint behind is waited for (within `bound`). `what`
/// names the read in errors; `table_of` names the generation's table.
pub(crate) async fn read_consistent<F, Fut>(
    state: &QueryState,
    bound: Bound,
    what: &'static str,
    table_of: fn(i64) -> String,
    query: F,
) -> Result<(Vec<PgRow>, i64), Fail>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<PgRow>, sqlx::Error>>,
{
    let mut restarts = 0;
    let mut backoff = Backoff::until(bound.deadline);
    loop {
        let generation = state.history_generation();
        let rows = match query(generation).await {
            Ok(rows) => rows,
            // The table of the generation we knew is gone (or not made yet):
            // learn the current generation and try once more.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
                let (current, _) = read_head(state).await?;
                restarts += 1;
                if current == generation || restarts > 5 {
                    return Err(
                        unavailable(what, format!("table {} missing", table_of(current))).into(),
                    );
                }
                state.set_history_generation(current);
                continue;
            }
            Err(e) => return Err(dependency(what, e).into()),
        };
        let Some(first) = rows.first() else {
            return Err(api::ApiError::internal(what, "no head row").into());
        };
        let current: i64 = first.try_get(0).map_err(|e| dependency(what, e))?;
        let position: i64 = first.try_get(1).map_err(|e| dependency(what, e))?;
        if current != generation {
            restarts += 1;
            if restarts > 5 {
                return Err(unavailable(what, "generation pointer keeps moving").into());
            }
            state.set_history_generation(current);
            continue;
        }
        if position < bound.position {
            if !backoff.sleep().await {
                return Err(api::position::lagging(bound.position, position).into());
            }
            continue;
        }
        return Ok((rows, position));
    }
}

/// The message `seq` of `room` (a page of at most one), within `bound`.
pub(crate) async fn read_one(
    state: &QueryState,
    room: RoomId,
    seq: u64,
    bound: Bound,
) -> Result<HistoryPage, Fail> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX - 1);
    let window = Window {
        after: seq - 1,
        before: seq + 1,
        ascending: true,
        limit: 1,
    };
    read_page(state, room, &window, bound).await
}

/// The current generation and its checkpoint.
pub(crate) async fn read_head(state: &QueryState) -> Result<(i64, i64), Fail> {
    let sql = format!("{} SELECT generation, position FROM c", head_sql());
    sqlx::query_as::<_, (i64, i64)>(&sql)
        .bind(ProjectionName::History.as_str())
        .fetch_one(state.pool())
        .await
        .map_err(|e| dependency("history head", e).into())
}

/// One message of a page row; `None` for the head-only row of an empty page.
fn decode_row(
    room: RoomId,
    row: &sqlx::postgres::PgRow,
) -> Result<Option<MessageView>, sqlx::Error> {
    let Some(message_id) = row.try_get::<Option<Uuid>, _>(2)? else {
        return Ok(None);
    };
    let seq: i64 = row.try_get::<Option<i64>, _>(3)?.unwrap_or_default();
    let deleted: bool = row.try_get::<Option<bool>, _>(9)?.unwrap_or_default();
    Ok(Some(MessageView {
        message_id: MessageId(message_id),
        room_id: room,
        seq: seq.max(0) as u64,
        author_id: UserId(row.try_get::<Option<Uuid>, _>(4)?.unwrap_or_default()),
        // A deleted message shows an empty body whatever the row holds.
        body: if deleted {
            String::new()
        } else {
            row.try_get::<Option<String>, _>(5)?.unwrap_or_default()
        },
        reply_to: row.try_get::<Option<Uuid>, _>(6)?.map(MessageId),
        created_at: row
            .try_get::<Option<DateTime<Utc>>, _>(7)?
            .unwrap_or_default(),
        edited_at: row.try_get::<Option<DateTime<Utc>>, _>(8)?,
        deleted,
        attachments: row
            .try_get::<Option<sqlx::types::Json<Vec<AttachmentView>>>, _>(10)?
            .map(|j| j.0)
            .unwrap_or_default(),
        mentions: row
            .try_get::<Option<Vec<Uuid>>, _>(11)?
            .unwrap_or_default()
            .into_iter()
            .map(UserId)
            .collect(),
    }))
}
