//! The durable record of a rebuild in progress: "generation G of projection
//! P is being built to replace generation N", in the read database table
//! `projection_rebuilds` (migrations/read/0002_projection_rebuilds.sql).
//!
//! It is written before the first byte of generation G, moved to `switched`
//! right after the generation pointer moved, and deleted only once the old
//! generation is gone. So whatever point a replay is killed at, the next one
//! knows what to do: continue building G from G's own checkpoint, or finish
//! the hand-over of a switch that already happened. Status reports it as the
//! projection's shadow generation.

use crate::error::Result;
use chrono::{DateTime, Utc};
use readmodel::ProjectionName;
use sqlx::PgPool;

/// Where a rebuild is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildPhase {
    /// Generation G is being built from the log; N serves.
    Building,
    /// The pointer names G; N is waiting to be removed.
    Switched,
}

impl RebuildPhase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Switched => "switched",
        }
    }
}

/// One rebuild in progress.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RebuildRecord {
    /// The projection.
    pub projection: String,
    /// The generation being built.
    pub generation: i64,
    /// The generation it replaces.
    pub previous: i64,
    /// Where it is.
    pub phase: RebuildPhase,
    /// Whether it was started with `--shadow`.
    pub shadow: bool,
    /// Who started it (`pid=… host=…`).
    pub holder: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// The rebuild in progress of `projection`, if any.
pub async fn load(
    pool: &PgPool,
    namespace: &str,
    projection: ProjectionName,
) -> Result<Option<RebuildRecord>> {
    type Row = (i64, i64, String, bool, String, DateTime<Utc>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT generation, previous, phase, shadow, holder, started_at
           FROM projection_rebuilds WHERE namespace = $1 AND projection = $2",
    )
    .bind(namespace)
    .bind(projection.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(generation, previous, phase, shadow, holder, started_at)| RebuildRecord {
            projection: projection.as_str().to_owned(),
            generation,
            previous,
            phase: if phase == "switched" {
                RebuildPhase::Switched
            } else {
                RebuildPhase::Building
            },
            shadow,
            holder,
            started_at,
        },
    ))
}

/// Record (or replace) the rebuild of `record.projection`.
pub(crate) async fn save(pool: &PgPool, namespace: &str, record: &RebuildRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO projection_rebuilds
             (namespace, projection, generation, previous, phase, shadow, holder, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (namespace, projection) DO UPDATE
            SET generation = EXCLUDED.generation, previous = EXCLUDED.previous,
                phase = EXCLUDED.phase, shadow = EXCLUDED.shadow, holder = EXCLUDED.holder,
                started_at = EXCLUDED.started_at, updated_at = now()",
    )
    .bind(namespace)
    .bind(&record.projection)
    .bind(record.generation)
    .bind(record.previous)
    .bind(record.phase.as_str())
    .bind(record.shadow)
    .bind(&record.holder)
    .bind(record.started_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The rebuild of `projection` is over.
pub(crate) async fn clear(
    pool: &PgPool,
    namespace: &str,
    projection: ProjectionName,
) -> Result<()> {
    sqlx::query("DELETE FROM projection_rebuilds WHERE namespace = $1 AND projection = $2")
        .bind(namespace)
        .bind(projection.as_str())
        .execute(pool)
        .await?;
    Ok(())
}
