//! Following a projection's generation pointer (see [`crate::generations`]).

use crate::backoff::{self, Backoff};
use crate::{generations, spawn_generation, ProjectionName, ProjectorConfig, TaskHandle};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Runs one generation at a time and moves to the next when the pointer moves.
pub(crate) struct Follower {
    pub(crate) config: ProjectorConfig,
    pub(crate) name: ProjectionName,
    pub(crate) position: watch::Sender<i64>,
    pub(crate) searcher: watch::Sender<Option<search::MessageSearcher>>,
    pub(crate) cancel: CancellationToken,
}

impl Follower {
    pub(crate) async fn run(
        self,
        mut generation: i64,
        mut inner: TaskHandle,
        mut inner_cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(generations::FOLLOW_INTERVAL);
        let mut alive = true;
        let mut searcher_alive = true;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                changed = inner.position.changed(), if alive => match changed {
                    Ok(()) => self.forward(*inner.position.borrow_and_update()),
                    Err(_) => alive = false,
                },
                // A search index reopened after an error hands out a new searcher.
                changed = inner.searcher.changed(), if searcher_alive => match changed {
                    Ok(()) => {
                        self.searcher.send_replace(inner.searcher.borrow_and_update().clone());
                    }
                    Err(_) => searcher_alive = false,
                },
                _ = tick.tick() => {
                    let Ok(next) = generations::current(&self.config, self.name).await else {
                        continue;
                    };
                    if next == generation {
                        continue;
                    }
                    let Some((handle, token)) = self.start(next, &inner).await else {
                        break;
                    };
                    info!(projection = %self.name, from = generation, to = next, "generation switched");
                    let old = std::mem::replace(&mut inner, handle);
                    let old_cancel = std::mem::replace(&mut inner_cancel, token);
                    self.searcher.send_replace(inner.searcher.borrow().clone());
                    self.forward(*inner.position.borrow());
                    old_cancel.cancel();
                    let _ = old.task.await;
                    // Only now, with nothing writing it any more.
                    if let Err(e) = generations::drop_generation(&self.config, self.name, generation).await {
                        warn!(projection = %self.name, generation, error = %e, "cannot drop the old generation");
                    }
                    generation = next;
                    alive = true;
                    searcher_alive = true;
                }
            }
        }
        inner_cancel.cancel();
        let _ = inner.task.await;
    }

    fn forward(&self, p: i64) {
        self.position.send_if_modified(|cur| {
            let moved = p > *cur;
            *cur = (*cur).max(p);
            moved
        });
    }

    /// Start `generation` beside the running one and wait until it has
    /// caught up with it. `None` when cancelled meanwhile.
    async fn start(
        &self,
        generation: i64,
        old: &TaskHandle,
    ) -> Option<(TaskHandle, CancellationToken)> {
        let mut backoff = Backoff::new();
        loop {
            let token = self.cancel.child_token();
            match spawn_generation(&self.config, self.name, generation, token.clone()).await {
                Ok(h) => {
                    while *h.position.borrow() < *old.position.borrow() {
                        if !backoff::sleep(Duration::from_millis(50), &self.cancel).await {
                            token.cancel();
                            return None;
                        }
                    }
                    return Some((h, token));
                }
                Err(e) => {
                    warn!(projection = %self.name, generation, error = %e, "cannot start the new generation");
                    if !backoff.wait(&self.cancel).await {
                        return None;
                    }
                }
            }
        }
    }
}
