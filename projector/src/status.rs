//! `cotalk projections status`: for every projection its generation,
//! checkpoint, lag behind the log head (in events and in seconds of
//! `recorded_at`) and state, and the same for the relay.
//!
//! Read-only: nothing here creates a pointer, a table or a lock (a replay
//! starting at the same moment is not disturbed). Every dependency is asked
//! with a time limit, and a dependency that is down makes the projections
//! stored in it `failed` with the reason, not the command.
//!
//! The search index lives per node (a directory under the data directory):
//! its status is the index in this process's data directory.
//!
//! The relay and the shared projections run under leases (`crate::LEASED`):
//! each says which node's session holds its lease now.

use crate::error::{ProjectorError, Result};
use crate::rebuild::record::{self, RebuildRecord};
use crate::{generations, relay, search_projection, source, ProjectorConfig, Task};
use chrono::{DateTime, Utc};
use readmodel::sql::GENERATIONS_TABLE;
use readmodel::ProjectionName;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// How long one dependency may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Up to this many seconds behind the head, a projection counts as live.
pub const LIVE_SECONDS: f64 = 5.0;

/// The state of a projection (or the relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Within [`LIVE_SECONDS`] of the head.
    Live,
    /// Further behind.
    CatchingUp,
    /// A new generation is being built beside the serving one.
    Rebuilding,
    /// Its checkpoint cannot be read; see the reason.
    Failed,
}

impl State {
    /// As printed: `live`, `catching up`, `rebuilding`, `failed`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::CatchingUp => "catching up",
            Self::Rebuilding => "rebuilding",
            Self::Failed => "failed",
        }
    }
}

/// The log's newest event.
#[derive(Clone, Debug, Serialize)]
pub struct Head {
    /// Its position (0 for an empty log).
    pub position: i64,
    /// When it was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// How far something is behind the head.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lag {
    /// Events between the checkpoint and the head.
    pub events: i64,
    /// `recorded_at` of the head minus that of the checkpoint's event.
    pub seconds: f64,
}

/// A shadow generation being built.
#[derive(Clone, Debug, Serialize)]
pub struct Shadow {
    /// What the rebuild record says.
    #[serde(flatten)]
    pub record: RebuildRecord,
    /// The shadow generation's checkpoint.
    pub checkpoint: Option<i64>,
    /// How far it is behind the head.
    pub lag: Option<Lag>,
    /// Who holds the replay lock now (`None`: no replay is running, the
    /// rebuild resumes when one is started).
    pub running: Option<String>,
}

/// One projection.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectionStatus {
    /// `redis`, `history` or `search`.
    pub name: ProjectionName,
    /// Where it is stored.
    pub store: String,
    /// The generation queries read.
    pub generation: Option<i64>,
    /// That generation's checkpoint.
    pub checkpoint: Option<i64>,
    /// Its lag behind the head.
    pub lag: Option<Lag>,
    /// Its state.
    pub state: State,
    /// Why it failed (or what else to know).
    pub reason: Option<String>,
    /// The rebuild in progress, if any.
    pub rebuild: Option<Shadow>,
    /// Which node runs it, for the leased projections (`redis`, `history`);
    /// absent for `search`, which every query node runs itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseStatus>,
}

/// Which node runs a leased task.
#[derive(Clone, Debug, Serialize)]
pub struct LeaseStatus {
    /// The session holding the lease, as `cotalk-<task>-<pid> at <address>`;
    /// `None` when no node holds it (no projector node runs, or a hand-over
    /// is under way) or it could not be read (see `reason`).
    pub holder: Option<String>,
    /// Why the holder could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The relay to NATS.
#[derive(Clone, Debug, Serialize)]
pub struct RelayStatus {
    /// Position published and acknowledged.
    pub checkpoint: Option<i64>,
    /// Lag behind the head.
    pub lag: Option<Lag>,
    /// Its state (never `rebuilding`).
    pub state: State,
    /// Why it failed.
    pub reason: Option<String>,
    /// Which node runs it.
    pub lease: LeaseStatus,
}

/// Everything `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The namespace.
    pub namespace: String,
    /// The log's head (`None` when the event log cannot be read).
    pub head: Option<Head>,
    /// The relay.
    pub relay: RelayStatus,
    /// Every projection.
    pub projections: Vec<ProjectionStatus>,
}

async fn ask<T>(what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(ASK_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(ProjectorError::Store(format!(
            "{what} did not answer within {ASK_TIMEOUT:?}"
        ))),
    }
}

async fn head(config: &ProjectorConfig) -> Result<Head> {
    let row: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1")
            .fetch_optional(&config.write_pool)
            .await?;
    Ok(match row {
        Some((position, at)) => Head {
            position,
            recorded_at: Some(at),
        },
        None => Head {
            position: 0,
            recorded_at: None,
        },
    })
}

/// The lag of `checkpoint` behind `head`.
async fn lag(config: &ProjectorConfig, head: &Head, checkpoint: i64) -> Result<Lag> {
    if checkpoint >= head.position {
        return Ok(Lag::default());
    }
    let events = source::count_between(&config.write_pool, checkpoint, head.position + 1).await?;
    // The checkpoint's own event, or (at 0) the first one.
    let at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "(SELECT recorded_at FROM events WHERE position <= $1 ORDER BY position DESC LIMIT 1)
         UNION ALL (SELECT recorded_at FROM events ORDER BY position LIMIT 1) LIMIT 1",
    )
    .bind(checkpoint)
    .fetch_optional(&config.write_pool)
    .await?;
    let seconds = match (head.recorded_at, at) {
        (Some(h), Some(c)) => ((h - c).num_milliseconds().max(0)) as f64 / 1000.0,
        _ => 0.0,
    };
    Ok(Lag { events, seconds })
}

fn state_of(lag: &Lag) -> State {
    if lag.seconds <= LIVE_SECONDS {
        State::Live
    } else {
        State::CatchingUp
    }
}

/// The generation queries read, without creating the pointer.
async fn pointer(config: &ProjectorConfig, name: ProjectionName) -> Result<i64> {
    if name == ProjectionName::Redis {
        let timeouts = readmodel::Timeouts::new(Duration::from_secs(2), Duration::from_secs(2));
        let mut conn = readmodel::RedisTarget::open(&config.redis_url)?
            .connect(timeouts)
            .await?;
        return Ok(readmodel::generation::peek_current(&mut conn, &config.namespace).await?);
    }
    let g: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(&format!(
        "SELECT generation FROM {GENERATIONS_TABLE} WHERE projection = $1"
    ))
    .bind(name.as_str())
    .fetch_optional(&config.read_pool)
    .await;
    Ok(g?.unwrap_or(1))
}

fn store_of(config: &ProjectorConfig, name: ProjectionName, generation: Option<i64>) -> String {
    match name {
        ProjectionName::Redis => format!(
            "redis {}:rm:g{}:*",
            config.namespace,
            generation.unwrap_or(1)
        ),
        ProjectionName::Search => search_projection::index_dir(
            &config.data_dir,
            &config.namespace,
            generation.unwrap_or(1),
        )
        .display()
        .to_string(),
        ProjectionName::History => format!(
            "read database {}",
            readmodel::sql::messages_table(generation.unwrap_or(1))
        ),
    }
}

async fn projection(
    config: &ProjectorConfig,
    name: ProjectionName,
    head: Option<&Head>,
) -> ProjectionStatus {
    let mut s = ProjectionStatus {
        name,
        store: store_of(config, name, None),
        generation: None,
        checkpoint: None,
        lag: None,
        state: State::Failed,
        reason: None,
        rebuild: None,
        lease: None,
    };
    if crate::LEASED.contains(&Task::Projection(name)) {
        s.lease = Some(lease(config, Task::Projection(name)).await);
    }
    let generation = match ask(name.as_str(), pointer(config, name)).await {
        Ok(g) => g,
        Err(e) => {
            s.reason = Some(format!("generation pointer unreadable: {e}"));
            return s;
        }
    };
    s.generation = Some(generation);
    s.store = store_of(config, name, Some(generation));
    match ask(
        name.as_str(),
        generations::checkpoint_of(config, name, generation),
    )
    .await
    {
        Ok(Some(cp)) => s.checkpoint = Some(cp),
        Ok(None) if name == ProjectionName::Search => {
            s.reason = Some("no index for this generation in this node's data directory".into());
            return s;
        }
        Ok(None) => s.checkpoint = Some(0),
        Err(e) => {
            s.reason = Some(format!("checkpoint unreadable: {e}"));
            return s;
        }
    }
    let Some(head) = head else {
        s.reason = Some("event log unreadable".into());
        return s;
    };
    match ask("event log", lag(config, head, s.checkpoint.unwrap_or(0))).await {
        Ok(l) => {
            s.state = state_of(&l);
            s.lag = Some(l);
        }
        Err(e) => s.reason = Some(format!("event log unreadable: {e}")),
    }
    match ask(
        "read database",
        record::load(&config.read_pool, &config.namespace, name),
    )
    .await
    {
        Ok(Some(r)) => {
            let checkpoint = ask(
                name.as_str(),
                generations::checkpoint_of(config, name, r.generation),
            )
            .await
            .ok()
            .flatten();
            let lag = match checkpoint {
                Some(cp) => ask("event log", lag(config, head, cp)).await.ok(),
                None => None,
            };
            let running =
                crate::rebuild::replay_holder(&config.write_pool, &config.namespace, name).await;
            if s.state != State::Failed {
                s.state = State::Rebuilding;
            }
            s.rebuild = Some(Shadow {
                record: r,
                checkpoint,
                lag,
                running,
            });
        }
        Ok(None) => {}
        Err(e) => s.reason = Some(format!("rebuild record unreadable: {e}")),
    }
    s
}

async fn relay_status(config: &ProjectorConfig, head: Option<&Head>) -> RelayStatus {
    let mut r = RelayStatus {
        checkpoint: None,
        lag: None,
        state: State::Failed,
        reason: None,
        lease: lease(config, Task::Relay).await,
    };
    match ask(
        "event log",
        relay::load_checkpoint(&config.write_pool, &config.namespace),
    )
    .await
    {
        Ok(cp) => r.checkpoint = Some(cp),
        Err(e) => {
            r.reason = Some(format!("checkpoint unreadable: {e}"));
            return r;
        }
    }
    if let Some(head) = head {
        match ask("event log", lag(config, head, r.checkpoint.unwrap_or(0))).await {
            Ok(l) => {
                r.state = state_of(&l);
                r.lag = Some(l);
            }
            Err(e) => r.reason = Some(format!("event log unreadable: {e}")),
        }
    }
    r
}

/// Who holds the lease of `task`.
async fn lease(config: &ProjectorConfig, task: Task) -> LeaseStatus {
    let key = task.lease_key(&config.namespace);
    let asked = ask("event log", async {
        lease::holder(&config.write_pool, &key)
            .await
            .map_err(ProjectorError::from)
    })
    .await;
    match asked {
        Ok(holder) => LeaseStatus {
            holder: holder.map(|h| h.to_string()),
            reason: None,
        },
        Err(e) => LeaseStatus {
            holder: None,
            reason: Some(format!("lease holder unreadable: {e}")),
        },
    }
}

/// Collect the status of the relay and every projection.
pub async fn collect(config: &ProjectorConfig) -> Status {
    let head = ask("event log", head(config)).await.ok();
    let relay = relay_status(config, head.as_ref()).await;
    let mut projections = Vec::new();
    for name in ProjectionName::ALL {
        projections.push(projection(config, name, head.as_ref()).await);
    }
    Status {
        namespace: config.namespace.clone(),
        head,
        relay,
        projections,
    }
}
