//! The `search` projection: an adapter from the runtime to
//! [`search::SearchIndex`], one index directory per generation and schema
//! version (`{data_dir}/search/{namespace}/g{generation}-v{version}`). A build
//! with a new [`search::schema::VERSION`] finds no index of its version, so
//! it builds one from the log (from position 0) instead of misreading the
//! old one; dropping a generation removes its directories of every version.
//!
//! Exactly-once effect: the index keeps its checkpoint in the tantivy commit
//! payload, which tantivy replaces atomically with the segment list, so the
//! documents and the checkpoint cannot disagree after a crash. Commits are
//! batched (every [`SearchOptions::commit_events`] events or
//! [`SearchOptions::commit_interval`], whichever comes first) because each
//! one fsyncs; until then applied events are not durable, and the durable
//! checkpoint the runtime publishes (what search queries can rely on) stays
//! at the last commit. Index work runs in `spawn_blocking`.

use crate::error::{ProjectorError, Result};
use crate::generations::Lifecycle;
use crate::runtime::Projection;
use crate::ProjectorConfig;
use domain::event::StoredEvent;
use readmodel::ProjectionName;
use search::{IndexOptions, MessageSearcher, SearchIndex};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// When the search index commits.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Commit once this many events are pending.
    pub commit_events: usize,
    /// Commit when the oldest pending event has waited this long.
    pub commit_interval: Duration,
    /// Writer settings.
    pub index: IndexOptions,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            commit_events: 10_000,
            commit_interval: Duration::from_millis(200),
            index: IndexOptions::default(),
        }
    }
}

/// The index directory of one generation, for this build's schema version.
pub fn index_dir(data_dir: &Path, namespace: &str, generation: i64) -> PathBuf {
    data_dir
        .join("search")
        .join(namespace)
        .join(format!("g{generation}-v{}", search::schema::VERSION))
}

/// Whether `name` is a directory of `generation` of any schema version
/// (`g3` before versions were named, `g3-v2`).
fn of_generation(name: &str, generation: i64) -> bool {
    let Some(rest) = name.strip_prefix(&format!("g{generation}")) else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix("-v")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The checkpoint of the last commit of the index in `dir`, read without
/// opening a writer (so while another process writes it); `None` when there
/// is no index there. Blocking: call from `spawn_blocking`.
pub fn committed_checkpoint(dir: &Path) -> Result<Option<i64>> {
    if !dir.join("meta.json").exists() {
        return Ok(None);
    }
    let index = tantivy::Index::open_in_dir(dir).map_err(search_err)?;
    let metas = index.load_metas().map_err(search_err)?;
    // The payload is what `search::SearchIndex::commit` writes: {"position": N}.
    let Some(payload) = metas.payload else {
        return Ok(Some(0));
    };
    let v: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| ProjectorError::Search(format!("commit payload {payload:?}: {e}")))?;
    v["position"].as_i64().map(Some).ok_or_else(|| {
        ProjectorError::Search(format!("commit payload {payload:?} has no position"))
    })
}

/// One generation of the search index.
pub struct SearchProjection {
    /// `None` after an error: reopened (at its last commit) on next use.
    index: Option<SearchIndex>,
    dir: PathBuf,
    opts: SearchOptions,
    generation: i64,
    checkpoint: i64,
    pending_since: Option<Instant>,
    replica: String,
    /// The searcher of the open index, replaced whenever the index is
    /// reopened after an error, so the query side never keeps searching a
    /// reader that stopped moving.
    searcher: tokio::sync::watch::Sender<Option<MessageSearcher>>,
}

/// A short id of this index copy: host name and directory, hashed.
fn replica_id(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut h = Sha256::new();
    h.update(host.trim().as_bytes());
    h.update([0]);
    h.update(dir.to_string_lossy().as_bytes());
    hex::encode(h.finalize())[..12].to_owned()
}

fn search_err(e: impl std::fmt::Display) -> ProjectorError {
    ProjectorError::Search(e.to_string())
}

async fn open_index(dir: PathBuf, opts: IndexOptions) -> Result<SearchIndex> {
    tokio::task::spawn_blocking(move || SearchIndex::open(&dir, opts))
        .await
        .map_err(search_err)?
        .map_err(search_err)
}

impl SearchProjection {
    /// Open (or create) generation `generation` under `config.data_dir`.
    pub async fn open(config: &ProjectorConfig, generation: i64) -> Result<Self> {
        let dir = index_dir(&config.data_dir, &config.namespace, generation);
        let index = open_index(dir.clone(), config.search.index.clone()).await?;
        let (searcher, _) = tokio::sync::watch::channel(Some(index.searcher()));
        Ok(Self {
            searcher,
            checkpoint: index.checkpoint(),
            index: Some(index),
            replica: replica_id(&dir),
            dir,
            opts: config.search.clone(),
            generation,
            pending_since: None,
        })
    }

    /// A search handle that sees every commit of this index (for the query
    /// side running in the same process).
    pub fn searcher(&self) -> Option<MessageSearcher> {
        self.index.as_ref().map(|i| i.searcher())
    }

    /// The searcher of this generation, following reopens of the index.
    pub fn subscribe_searcher(&self) -> tokio::sync::watch::Receiver<Option<MessageSearcher>> {
        self.searcher.subscribe()
    }

    /// Digest of the committed contents.
    pub async fn digest(&mut self) -> Result<String> {
        self.run(|index| index.digest().map_err(search_err)).await
    }

    /// Run blocking index work off the async threads. On any error the index
    /// is dropped, so the next call reopens it at its last commit.
    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut SearchIndex) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut index = match self.index.take() {
            Some(i) => i,
            None => {
                self.pending_since = None;
                let index = open_index(self.dir.clone(), self.opts.index.clone()).await?;
                self.searcher.send_replace(Some(index.searcher()));
                index
            }
        };
        let (index, out) = tokio::task::spawn_blocking(move || {
            let out = work(&mut index);
            (index, out)
        })
        .await
        .map_err(search_err)?;
        self.checkpoint = index.checkpoint();
        if out.is_ok() {
            self.index = Some(index);
        }
        out
    }

    fn commit_due(&self, pending: usize, force: bool) -> bool {
        pending > 0
            && (force
                || pending >= self.opts.commit_events
                || self
                    .pending_since
                    .is_some_and(|t| t.elapsed() >= self.opts.commit_interval))
    }
}

impl Projection for SearchProjection {
    fn name(&self) -> ProjectionName {
        ProjectionName::Search
    }

    fn generation(&self) -> i64 {
        self.generation
    }

    async fn checkpoint(&mut self) -> Result<i64> {
        self.run(|index| Ok(index.checkpoint())).await
    }

    fn replica(&self) -> Option<String> {
        Some(self.replica.clone())
    }

    async fn apply_batch(&mut self, events: &[StoredEvent]) -> Result<i64> {
        let events = events.to_vec();
        let commit_events = self.opts.commit_events;
        let pending = self
            .run(move |index| {
                index.apply(&events).map_err(search_err)?;
                if index.pending() >= commit_events {
                    index.commit().map_err(search_err)?;
                }
                Ok(index.pending())
            })
            .await?;
        if pending == 0 {
            self.pending_since = None;
        } else if self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        self.flush(false).await
    }

    async fn flush(&mut self, force: bool) -> Result<i64> {
        let pending = self.index.as_ref().map_or(0, |i| i.pending());
        if self.commit_due(pending, force) {
            self.run(|index| index.commit().map_err(search_err)).await?;
            self.pending_since = None;
        }
        Ok(self.checkpoint)
    }
}

/// The pointer lives in the read database beside `history`'s; the index
/// (data and checkpoint) is a directory of this node's.
impl Lifecycle for SearchProjection {
    async fn current(config: &ProjectorConfig) -> Result<i64> {
        crate::history_projection::current_generation(&config.read_pool, ProjectionName::Search)
            .await
    }

    async fn switch(config: &ProjectorConfig, generation: i64) -> Result<()> {
        crate::history_projection::set_generation(
            &config.read_pool,
            ProjectionName::Search,
            generation,
        )
        .await
    }

    async fn drop_data(config: &ProjectorConfig, generation: i64) -> Result<()> {
        let parent = config.data_dir.join("search").join(&config.namespace);
        let mut entries = match tokio::fs::read_dir(&parent).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = entries.next_entry().await? {
            if !of_generation(&entry.file_name().to_string_lossy(), generation) {
                continue;
            }
            match tokio::fs::remove_dir_all(entry.path()).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn checkpoint_of(config: &ProjectorConfig, generation: i64) -> Result<Option<i64>> {
        let dir = index_dir(&config.data_dir, &config.namespace, generation);
        tokio::task::spawn_blocking(move || committed_checkpoint(&dir))
            .await
            .map_err(|e| ProjectorError::Search(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_a_generation_of_any_version() {
        assert!(of_generation("g3", 3));
        assert!(of_generation("g3-v1", 3));
        assert!(of_generation("g3-v12", 3));
        assert!(!of_generation("g30", 3));
        assert!(!of_generation("g30-v2", 3));
        assert!(!of_generation("g3-v", 3));
        assert!(!of_generation("g3-vx", 3));
        let dir = index_dir(Path::new("/d"), "ns", 3);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(of_generation(&name, 3), "{name}");
    }
}
