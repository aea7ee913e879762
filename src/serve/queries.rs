//! The queries part: the query routes, and this node's search index replica
//! (its own copy of the `search` projection, which the search route reads).

use super::component::Component;
use super::projectors::start_projection;
use super::{checks, shared::Shared};
use anyhow::Result;
use projector::ProjectionName;

/// Build the queries part.
pub async fn component(shared: &Shared) -> Result<Component> {
    let cancel = shared.cancel.clone();
    let search = start_projection(&shared.projector(), ProjectionName::Search, cancel).await?;
    let state = shared.query().await?.with_searcher(search.searcher);
    let mut tasks = vec![search.task];
    tasks.extend(shared.follow_revocations().await?);
    let c = &shared.config;
    let downloads = query::download_router(query::DownloadState {
        query: state.clone(),
        store: shared.attachment_store()?,
    });
    Ok(Component {
        tasks,
        ..Component::new(query::router(state.clone()).merge(downloads))
    }
    .check("redis", checks::redis(c.redis_url.clone()))
    .check("nats", checks::nats(shared.nats().await?))
    // The search replica falls back to reading the log.
    .check("postgres", checks::postgres(shared.pools.log.clone()))
    .check("read_models", checks::read_models(state))
    .document(query::openapi()))
}
