//! The web part: the embedded chat client (`/`), the operator page (`/ops`)
//! and its data, `GET /ops/status` (admin token).

use super::component::Component;
use super::shared::Shared;
use crate::ops_status::{self, OpsStatusState};

/// Build the web part.
pub fn component(shared: &Shared) -> Component {
    let status = OpsStatusState::new(
        &shared.admin_token,
        shared.projector(),
        shared.metrics.clone(),
    );
    Component::new(crate::web::router().merge(ops_status::router(status)))
}
