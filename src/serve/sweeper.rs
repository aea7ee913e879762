//! The orphan sweeper: uploads no message sent within
//! `COTALK_ORPHAN_UPLOAD_SECS` are discarded (`AttachmentDiscarded`, decided
//! by the room, which refuses if the upload was sent meanwhile) and only
//! then deleted from the object store.
//!
//! Its source is the `redis` projection's unsent uploads
//! (`readmodel::attachments`). Each pass first finishes earlier discards
//! whose bytes may still be stored (the projection's `uploads:discarded`
//! queue: a crash between the discard and the delete is retried), then
//! discards what is old enough. Every pass opens what it needs afresh, so
//! Redis, Postgres or the store restarting only fails passes until they are
//! back; a failed pass is logged and the next one runs on time.

use super::shared::Shared;
use command::repository::{CommandError, Repository};
use domain::room::{Room, RoomCommand};
use domain::{AttachmentId, DomainError, EventMetadata, RoomId};
use readmodel::{attachments, generation, RedisKeys};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Uploads handled per pass (the rest wait for the next).
const BATCH: usize = 500;

/// What a pass needs.
struct Sweeper {
    redis_url: String,
    namespace: String,
    repo: Repository,
    store: ::attachments::Store,
    orphan_after: chrono::TimeDelta,
}

/// Start the sweeper; it stops when the process's token fires.
pub fn spawn(shared: &Shared, repo: Repository, store: ::attachments::Store) -> JoinHandle<()> {
    let secs = i64::try_from(shared.args.orphan_upload_secs).unwrap_or(i64::MAX);
    let sweeper = Sweeper {
        redis_url: shared.config.redis_url.clone(),
        namespace: shared.config.namespace.clone(),
        repo,
        store,
        orphan_after: chrono::TimeDelta::try_seconds(secs).unwrap_or(chrono::TimeDelta::MAX),
    };
    let every = Duration::from_secs(shared.args.orphan_sweep_interval_secs);
    tokio::spawn(run(sweeper, every, shared.cancel.clone()))
}

async fn run(sweeper: Sweeper, every: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match sweeper.pass().await {
            Ok((0, 0)) => {}
            Ok((discarded, deleted)) => info!(discarded, deleted, "orphan uploads swept"),
            Err(e) => warn!(error = %e, "orphan sweep failed; retrying next pass"),
        }
    }
}

impl Sweeper {
    /// One pass: (uploads discarded, discarded uploads whose bytes were deleted).
    async fn pass(&self) -> Result<(usize, usize), String> {
        let timeouts = readmodel::Timeouts::new(Duration::from_secs(2), Duration::from_secs(10));
        let mut conn = readmodel::RedisTarget::open(&self.redis_url)
            .map_err(|e| e.to_string())?
            .connect(timeouts)
            .await
            .map_err(|e| e.to_string())?;
        let generation = generation::current(&mut conn, &self.namespace)
            .await
            .map_err(|e| e.to_string())?;
        let keys = RedisKeys::new(&self.namespace, generation);
        let mut deleted = 0;
        for (room, id) in attachments::discarded(&mut conn, &keys, BATCH)
            .await
            .map_err(|e| e.to_string())?
        {
            self.store
                .delete(&id.to_string())
                .await
                .map_err(|e| e.to_string())?;
            attachments::forget_discarded(&mut conn, &keys, room, id)
                .await
                .map_err(|e| e.to_string())?;
            deleted += 1;
        }
        let now = chrono::Utc::now();
        let cutoff = (now - self.orphan_after).timestamp_millis();
        let mut discarded = 0;
        for (room, id) in attachments::pending_before(&mut conn, &keys, cutoff, BATCH)
            .await
            .map_err(|e| e.to_string())?
        {
            if self.discard(room, id, now).await? {
                // The bytes go now; the projection's queue retries if this fails.
                self.store
                    .delete(&id.to_string())
                    .await
                    .map_err(|e| e.to_string())?;
                discarded += 1;
            }
        }
        Ok((discarded, deleted))
    }

    /// Discard one upload; `false` when the room refuses (sent meanwhile, or
    /// not yet old enough by its clock).
    async fn discard(
        &self,
        room: RoomId,
        id: AttachmentId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, String> {
        let command = RoomCommand::DiscardUpload {
            attachment_id: id,
            orphan_after: self.orphan_after,
            at,
        };
        let metadata = EventMetadata {
            command_id: Some(uuid::Uuid::now_v7()),
            ..EventMetadata::default()
        };
        match self
            .repo
            .execute::<Room>(room.into(), metadata, Vec::new(), |r| {
                domain::Aggregate::decide(r, &command)
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(CommandError::Domain(DomainError::InvalidAttachment)) => Ok(false),
            Err(e) => Err(format!("{e:?}")),
        }
    }
}
