//! The projector: everything between the event log and the read models.
//!
//! Postgres is the only truth; NATS, Redis, the read tables and the search
//! index are derived from it and can be thrown away and rebuilt.
//!
//! Modules:
//! - [`relay`]: copies the log, in position order, onto the JetStream stream
//!   `{ns}-events`, and recreates the stream if it is lost.
//! - [`runtime`]: the [`Projection`] trait and the loop that feeds one
//!   projection generation from NATS, falling back to the log when the bus
//!   lacks events or the projection is far behind.
//! - [`redis_projection`]: the `redis` read model (profiles, friends, rooms,
//!   room lists, unread counts, timelines).
//! - [`history_projection`]: the `history` read model (all messages, in the
//!   read database).
//! - [`search_projection`]: the `search` read model (a tantivy index).
//! - [`frames`]: publishing the live frames the `redis` projection applied.
//! - [`digest`]: deterministic digests of a projection's contents.
//! - [`replay`] (for tests): one projection generation brought to the
//!   log's head page by page.
//! - [`rebuild`]: `cotalk projections replay`: bulk rebuilds into a new
//!   generation, the switch, the hand-over, resumption and the replay lock.
//! - [`status`]: `cotalk projections status`: generation, checkpoint, lag and
//!   state of every projection and of the relay.
//! - [`generations`]: which generation queries read; switching and dropping.
//! - [`envelope`]: the JSON form of an event on the bus.
//! - [`bus`]: JetStream names and setup.
//! - [`source`]: reading the event log.
//! - [`error`]: the crate's error type.

mod backoff;
pub mod bus;
pub mod digest;
pub mod envelope;
pub mod error;
pub mod frames;
pub mod generations;
pub mod history_projection;
pub mod published;
pub mod rebuild;
pub mod redis_projection;
pub mod relay;
pub mod replay;
pub mod runtime;
pub mod search_projection;
pub mod source;
pub mod status;

pub use error::{ProjectorError, Result};
pub use frames::FramePublisher;
pub use history_projection::HistoryProjection;
pub use redis_projection::RedisProjection;
pub use relay::{Relay, RelayOptions};
pub use runtime::{Projection, Runtime, RuntimeOptions};
pub use search_projection::{SearchOptions, SearchProjection};

pub use readmodel::ProjectionName;

mod follow;
use sqlx::PgPool;
use std::path::PathBuf;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Everything the projector needs to run.
#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    /// Prefix of every Redis key, JetStream stream and consumer name.
    pub namespace: String,
    /// The event-log database (read by the relay and the fall-backs).
    pub write_pool: PgPool,
    /// The read database (the `history` projection, generation pointers).
    pub read_pool: PgPool,
    /// Redis for the `redis` projection.
    pub redis_url: String,
    /// NATS with JetStream.
    pub nats_url: String,
    /// Search indexes live under `{data_dir}/search/{namespace}/g{generation}-v{schema version}`.
    pub data_dir: PathBuf,
    /// Relay pacing and stream limits.
    pub relay: RelayOptions,
    /// Projection runtime pacing.
    pub runtime: RuntimeOptions,
    /// Search index commit batching and writer settings.
    pub search: SearchOptions,
    /// Where the `redis` projection publishes live frames and the `history`
    /// projection `notification` frames (`None`: nowhere, as in tests and
    /// rebuild tools).
    pub frames: Option<FramePublisher>,
    /// The master key that opens personal fields with the data keys in
    /// `write_pool` (issue 18); `None`: sealed fields read as deleted.
    pub pii: Option<eventlog::pii::Pii>,
    /// The relay's recent chunks, decoded, shared by everything spawned
    /// from this configuration (and its clones): projections in the
    /// relay's process take their events from it rather than decode them.
    pub published: published::Published,
}

impl ProjectorConfig {
    /// A configuration with default pacing.
    pub fn new(
        namespace: &str,
        write_pool: PgPool,
        read_pool: PgPool,
        redis_url: &str,
        nats_url: &str,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            write_pool,
            read_pool,
            redis_url: redis_url.to_owned(),
            nats_url: nats_url.to_owned(),
            data_dir: data_dir.into(),
            relay: RelayOptions::default(),
            runtime: RuntimeOptions::default(),
            search: SearchOptions::default(),
            frames: None,
            pii: None,
            published: published::Published::default(),
        }
    }

    /// The same configuration opening personal fields with `pii`.
    pub fn with_pii(mut self, pii: eventlog::pii::Pii) -> Self {
        self.pii = Some(pii);
        self
    }
}

/// What a [`TaskHandle`] runs: the relay (which is not a projection) or a
/// projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The relay from the log to JetStream.
    Relay,
    /// One projection.
    Projection(ProjectionName),
}

impl Task {
    /// As printed and logged: `relay`, or the projection's name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Projection(p) => p.as_str(),
        }
    }

    /// The lease this task runs under in `namespace`, named by its label
    /// (see [`LEASED`]).
    pub fn lease_key(self, namespace: &str) -> lease::LeaseKey {
        lease::LeaseKey::new(namespace, self.label())
    }
}

/// The tasks projector nodes share out, each under a lease of its own so
/// that one node at a time runs it (and two nodes may split them). The
/// `search` projection is not one: every query node keeps its own index.
pub const LEASED: [Task; 3] = [
    Task::Relay,
    Task::Projection(ProjectionName::Redis),
    Task::Projection(ProjectionName::History),
];

/// A running task with the position it has reached.
pub struct TaskHandle {
    /// The relay or a projection.
    pub name: Task,
    /// The projection generation it started on (0 for the relay).
    pub generation: i64,
    /// The position reached: for the relay, published and acked; for a
    /// projection, applied and durable (what queries see).
    pub position: watch::Receiver<i64>,
    /// Ends after cancellation.
    pub task: JoinHandle<()>,
    /// For the `search` projection: a handle that searches the index of the
    /// generation in use and sees every commit (the index can only be open in
    /// one place, so queries in this process search through it). Changes when
    /// the generation does; `None` for other tasks.
    pub searcher: watch::Receiver<Option<search::MessageSearcher>>,
}

/// Start the relay of `config.namespace`.
pub async fn spawn_relay(
    config: &ProjectorConfig,
    cancel: CancellationToken,
) -> Result<TaskHandle> {
    let nats = bus::connect(&config.nats_url).await?;
    let relay = Relay::new(
        &config.namespace,
        config.write_pool.clone(),
        nats,
        config.relay.clone(),
    )
    .with_published(config.published.clone());
    let position = relay.subscribe();
    let task = tokio::spawn(relay.run(cancel));
    Ok(TaskHandle {
        name: Task::Relay,
        generation: 0,
        position,
        task,
        searcher: watch::channel(None).1,
    })
}

/// Start projection `name` on its current generation, following the
/// generation pointer: when a rebuild switches it, the new generation is
/// started beside the old one, and once it has caught up the old one is
/// stopped and removed (see [`generations`]).
pub async fn spawn_projection(
    config: &ProjectorConfig,
    name: ProjectionName,
    cancel: CancellationToken,
) -> Result<TaskHandle> {
    let generation = generations::current(config, name).await?;
    let inner_cancel = cancel.child_token();
    let first = spawn_generation(config, name, generation, inner_cancel.clone()).await?;
    let (position_tx, position) = watch::channel(*first.position.borrow());
    let (searcher_tx, searcher) = watch::channel(first.searcher.borrow().clone());
    let follower = follow::Follower {
        config: config.clone(),
        name,
        position: position_tx,
        searcher: searcher_tx,
        cancel,
    };
    let task = tokio::spawn(follower.run(generation, first, inner_cancel));
    Ok(TaskHandle {
        name: Task::Projection(name),
        generation,
        position,
        task,
        searcher,
    })
}

/// Start projection `name` on a given generation (a shadow rebuild runs the
/// new generation beside the current one).
pub async fn spawn_generation(
    config: &ProjectorConfig,
    name: ProjectionName,
    generation: i64,
    cancel: CancellationToken,
) -> Result<TaskHandle> {
    let nats = bus::connect(&config.nats_url).await?;
    let mut searcher = watch::channel(None).1;
    let (position, task) = match name {
        ProjectionName::Redis => {
            let p = RedisProjection::new(&config.redis_url, &config.namespace, generation)?
                .with_publisher(config.frames.clone())
                .with_pii_of(config);
            spawn_runtime(config, p, nats, cancel)
        }
        ProjectionName::History => {
            let p = HistoryProjection::open(config.read_pool.clone(), generation)
                .await?
                .with_publisher(config.frames.clone())
                .await?;
            spawn_runtime(config, p, nats, cancel)
        }
        ProjectionName::Search => {
            let p = SearchProjection::open(config, generation).await?;
            searcher = p.subscribe_searcher();
            spawn_runtime(config, p, nats, cancel)
        }
    };
    Ok(TaskHandle {
        name: Task::Projection(name),
        generation,
        position,
        task,
        searcher,
    })
}

fn spawn_runtime<P: Projection + 'static>(
    config: &ProjectorConfig,
    projection: P,
    nats: async_nats::Client,
    cancel: CancellationToken,
) -> (watch::Receiver<i64>, JoinHandle<()>) {
    let runtime = Runtime::new(
        projection,
        &config.namespace,
        config.write_pool.clone(),
        nats,
        config.runtime.clone(),
    )
    .with_published(config.published.clone());
    let position = runtime.subscribe();
    let task = tokio::spawn(async move {
        runtime.run(cancel).await;
    });
    (position, task)
}

/// Start the relay and every projection; the handles' tasks end after `cancel`.
pub async fn spawn_all(
    config: &ProjectorConfig,
    cancel: CancellationToken,
) -> Result<Vec<TaskHandle>> {
    let mut handles = vec![spawn_relay(config, cancel.clone()).await?];
    for name in ProjectionName::ALL {
        handles.push(spawn_projection(config, name, cancel.clone()).await?);
    }
    Ok(handles)
}
