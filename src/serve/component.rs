//! The parts a `serve` process is made of, and which of them each role runs.
//!
//! Every part is built by its own function (one file each, beside this one)
//! from what the process shares ([`Shared`]) and hands back a [`Component`]:
//! its routes, its readiness checks, its part of the OpenAPI document, its
//! background tasks and what must wait for the HTTP server to stop. The role
//! only picks parts, in [`Part::of`]; the ops routes (`/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json`, `/docs`) are built last, in every role, from
//! the others' checks and documents (`super::ops`).

use super::shared::Shared;
use crate::config::Role;
use crate::ops::Check;
use anyhow::Result;
use axum::Router;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A part of cotalk that a `serve` process may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The command routes and the group commit (the write side).
    Commands,
    /// The relay and the shared projections (`redis`, `history`), with the
    /// live frames the `redis` projection publishes: each under a lease of
    /// its own, so one node at a time runs it.
    Projectors,
    /// The query routes and this node's search index replica (its own copy of
    /// the `search` projection).
    Queries,
    /// `GET /v1/stream`: this node's WebSocket hub.
    Streams,
    /// The browser pages: the chat client (`/`), the operator page (`/ops`)
    /// and its data (`GET /ops/status`).
    Web,
    /// The meet-up reminder scheduler (`crate::scheduler`): every node
    /// running it competes for one lease; the holder fires.
    Scheduler,
}

impl Part {
    /// Which parts each role runs, in the order they are built: the write
    /// side first, the projections, then what serves reads.
    pub fn of(role: Role) -> &'static [Part] {
        use Part::*;
        match role {
            Role::All => &[Commands, Projectors, Queries, Streams, Web, Scheduler],
            Role::Command => &[Commands],
            Role::Projector => &[Projectors, Scheduler],
            Role::Scheduler => &[Scheduler],
            Role::Query => &[Queries, Streams, Web],
        }
    }

    /// The Postgres connections this part may hold at once. The process keeps
    /// one pool per database, sized by the sum over its parts.
    pub const fn connections(self) -> Connections {
        match self {
            // Aggregate loads and the group commit under load.
            Part::Commands => Connections { log: 16, read: 0 },
            // The relay, log fall-backs of two projections, the history tables
            // (each of their three leases holds a connection of its own, outside
            // the pool).
            Part::Projectors => Connections { log: 4, read: 4 },
            // The search replica's log fall-back and generation pointers (the
            // query routes read through their own pool, as `cotalk_query`).
            Part::Queries => Connections { log: 2, read: 2 },
            Part::Streams => Connections { log: 0, read: 0 },
            // `GET /ops/status` reads the log head and every checkpoint.
            Part::Web => Connections { log: 2, read: 2 },
            // The follower, the due table and the reminder appends (the
            // lease holds a connection of its own, outside the pool).
            Part::Scheduler => Connections { log: 3, read: 0 },
        }
    }

    /// Build this part.
    pub async fn build(self, shared: &Shared) -> Result<Component> {
        match self {
            Part::Commands => super::commands::component(shared).await,
            Part::Projectors => super::projectors::component(shared).await,
            Part::Queries => super::queries::component(shared).await,
            Part::Streams => super::streams::component(shared).await,
            Part::Web => Ok(super::web::component(shared)),
            Part::Scheduler => super::scheduler::component(shared).await,
        }
    }
}

/// Postgres connections, per database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connections {
    /// On the event-log (write) database.
    pub log: u32,
    /// On the read database.
    pub read: u32,
}

impl Connections {
    /// What `parts` need together.
    pub fn sum(parts: &[Part]) -> Self {
        parts.iter().fold(Self::default(), |total, part| {
            let c = part.connections();
            Self {
                log: total.log + c.log,
                read: total.read + c.read,
            }
        })
    }
}

/// What a built part contributes to the process.
#[derive(Default)]
pub struct Component {
    /// Its routes.
    pub router: Router,
    /// Its routes with their own body limits (uploads), already applied:
    /// merged after the API's limits wrap [`Component::router`].
    pub large_bodies: Router,
    /// What `/readyz` asks of the dependencies it uses, by name. Parts that
    /// use the same dependency name the same check; it is asked once.
    pub checks: Vec<(&'static str, Check)>,
    /// Its part of the OpenAPI document.
    pub openapi: Option<utoipa::openapi::OpenApi>,
    /// The leases its tasks run under, by name, each saying whether this
    /// node holds it now (`/readyz` shows them).
    pub leases: Vec<(&'static str, watch::Receiver<bool>)>,
    /// Its background tasks; each ends once the process's cancellation token
    /// has fired (they are awaited at shutdown, a bounded time each).
    pub tasks: Vec<JoinHandle<()>>,
    /// Work that must wait until the HTTP server has stopped and every
    /// in-flight request is answered (draining the group commit earlier
    /// would fail commands still being served).
    pub after_http: Vec<BoxFuture<'static, ()>>,
}

impl Component {
    /// A component serving `router`.
    pub fn new(router: Router) -> Self {
        Self {
            router,
            ..Self::default()
        }
    }

    /// Add a readiness check.
    pub fn check(mut self, name: &'static str, check: Check) -> Self {
        self.checks.push((name, check));
        self
    }

    /// Set its part of the OpenAPI document.
    pub fn document(mut self, doc: utoipa::openapi::OpenApi) -> Self {
        self.openapi = Some(doc);
        self
    }

    /// Add a lease this part's tasks run under.
    pub fn lease(mut self, name: &'static str, active: watch::Receiver<bool>) -> Self {
        self.leases.push((name, active));
        self
    }

    /// Add a background task.
    pub fn task(mut self, task: JoinHandle<()>) -> Self {
        self.tasks.push(task);
        self
    }

    /// Add work to run once the HTTP server has stopped.
    pub fn after_http(mut self, work: BoxFuture<'static, ()>) -> Self {
        self.after_http.push(work);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_runs_each_part_once_and_all_runs_every_part() {
        let every = [
            Role::All,
            Role::Command,
            Role::Query,
            Role::Projector,
            Role::Scheduler,
        ];
        for role in every {
            let parts = Part::of(role);
            assert!(!parts.is_empty(), "{role:?}");
            for (i, part) in parts.iter().enumerate() {
                assert!(!parts[..i].contains(part), "{role:?} runs {part:?} twice");
                assert!(Part::of(Role::All).contains(part), "{part:?}");
            }
        }
        // Each part runs in `all` and in exactly one of the split roles
        // `command`, `query`, `projector` (`scheduler` runs only the
        // scheduler, which `projector` runs too).
        for part in Part::of(Role::All) {
            let split = every[1..4].iter().filter(|r| Part::of(**r).contains(part));
            assert_eq!(split.count(), 1, "{part:?}");
        }
        assert_eq!(Part::of(Role::Scheduler), &[Part::Scheduler]);
    }

    #[test]
    fn pools_are_sized_by_the_parts_they_serve() {
        assert_eq!(
            Connections::sum(Part::of(Role::All)),
            Connections { log: 27, read: 8 }
        );
        assert_eq!(
            Connections::sum(Part::of(Role::Command)),
            Connections { log: 16, read: 0 }
        );
    }
}
