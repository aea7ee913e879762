//! [`SearchIndex`]: the search projection's writer side.
//!
//! **Checkpoint in the commit payload.** The position of the last applied
//! event is written into tantivy's commit payload (`meta.json`), which tantivy
//! replaces atomically with the segment list it describes. The index data and
//! its checkpoint therefore can never disagree: a process killed between two
//! commits reopens at the last commit, with exactly the documents of the
//! events up to its payload's position, and the caller re-applies everything
//! after it. Re-applying is idempotent anyway: every write first deletes the
//! message's previous document by `message_id`, so a message is never indexed
//! twice, and an edit or delete of an absent message changes nothing.
//!
//! **Batching.** [`SearchIndex::apply`] only queues work in the writer;
//! [`SearchIndex::commit`] makes it durable and visible (fsync, reader
//! reload). The caller (the projector runtime) commits every N events or T
//! milliseconds, using [`SearchIndex::pending`]; both calls block and belong in
//! `spawn_blocking` (`SearchIndex` is `Send`).
//!
//! **Two tantivy hazards are handled here** (both found by the kill -9 test):
//! the first operation after opening reuses the last commit's opstamp, which
//! can make a merge skip a delete (see `open`), and a writer dropped while
//! merging leaves merge threads that later garbage-collect files of a newer
//! writer on the same directory (see `Drop`).

use crate::analyzer;
use crate::error::SearchError;
use crate::schema::{self, Fields, StoredMessage};
use crate::searcher::MessageSearcher;
use domain::event::RoomEvent;
use domain::{DomainEvent, MessageId, StoredEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// tantivy refuses a writer thread with less than 15 MB of indexing memory.
const MIN_BUDGET_PER_THREAD: usize = 15_000_000;

/// Writer settings.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// Indexing threads (1–8).
    pub writer_threads: usize,
    /// Total memory the writer may buffer before flushing a segment, split
    /// across threads; raised to 15 MB per thread if lower.
    pub memory_budget_bytes: usize,
    /// Background segment-merge threads.
    pub merge_threads: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            writer_threads: 1,
            memory_budget_bytes: 64 << 20,
            merge_threads: 1,
        }
    }
}

/// What the commit payload holds.
#[derive(Serialize, Deserialize)]
struct Payload {
    position: i64,
}

/// What a document needs besides its text; kept for documents written in
/// the current uncommitted batch, which the searcher cannot see yet.
#[derive(Clone, Debug)]
enum Pending {
    Live(StoredMessage),
    Deleted,
}

/// A tantivy index of messages in one directory, with its writer.
pub struct SearchIndex {
    index: Index,
    /// Always `Some` until `drop`, which takes it to wait for its merges.
    writer: Option<IndexWriter<TantivyDocument>>,
    reader: IndexReader,
    fields: Fields,
    checkpoint: i64,
    applied: i64,
    pending_events: usize,
    pending_docs: HashMap<MessageId, Pending>,
    visible: Arc<AtomicI64>,
}

impl SearchIndex {
    /// Open the index in `dir`, creating the directory and an empty index if
    /// needed. Fails if another writer holds the directory, or if it holds an
    /// index with another schema (rebuild into a new generation then).
    pub fn open(dir: &Path, opts: IndexOptions) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(|source| SearchError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let (schema, fields) = schema::build();
        let index = Index::open_or_create(MmapDirectory::open(dir)?, schema)?;
        analyzer::register(index.tokenizers());
        let threads = opts.writer_threads.clamp(1, 8);
        let writer = index.writer_with_options(
            IndexWriterOptions::builder()
                .num_worker_threads(threads)
                .memory_budget_per_thread(
                    (opts.memory_budget_bytes / threads).max(MIN_BUDGET_PER_THREAD),
                )
                .num_merge_threads(opts.merge_threads.max(1))
                .build(),
        )?;
        // tantivy hands the first operation after opening the opstamp of the
        // last commit. A merge planned before the next commit targets that
        // same opstamp and treats a delete carrying it as already applied to
        // segments whose deletes are at that opstamp: the deleted document
        // survives the merge. The durability test caught it (a message came
        // back after a restart right before its delete). Spend that opstamp
        // on a delete that matches nothing.
        writer.delete_term(Term::from_field_text(fields.message_id, ""));
        // Manual reload: `commit` reloads, so a search issued after `commit`
        // returns always sees it, and the visible position is exact.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let checkpoint = read_checkpoint(&index)?;
        tracing::info!(dir = %dir.display(), checkpoint, "search index opened");
        Ok(SearchIndex {
            index,
            writer: Some(writer),
            reader,
            fields,
            checkpoint,
            applied: checkpoint,
            pending_events: 0,
            pending_docs: HashMap::new(),
            visible: Arc::new(AtomicI64::new(checkpoint)),
        })
    }

    /// The global position of the last committed event (0 for a new index).
    pub fn checkpoint(&self) -> i64 {
        self.checkpoint
    }

    /// The position of the last applied event, committed or not.
    pub fn applied_position(&self) -> i64 {
        self.applied
    }

    /// How many events were applied since the last commit.
    pub fn pending(&self) -> usize {
        self.pending_events
    }

    /// Apply events in log order. Events at or below the applied position are
    /// skipped (at-least-once delivery). Nothing is durable or visible until
    /// [`commit`](Self::commit). After an error the writer may hold part of
    /// the batch: drop this `SearchIndex` and reopen (the checkpoint makes
    /// that safe).
    pub fn apply(&mut self, events: &[StoredEvent]) -> Result<(), SearchError> {
        for e in events {
            if e.position <= self.applied {
                continue;
            }
            if let DomainEvent::Room(room_event) = &e.event {
                self.apply_room_event(room_event)?;
            }
            self.applied = e.position;
            self.pending_events += 1;
        }
        Ok(())
    }

    fn apply_room_event(&mut self, event: &RoomEvent) -> Result<(), SearchError> {
        match event {
            // A new message has no document to replace: one that was applied
            // before is either committed (and the event skipped, at or below
            // the checkpoint) or was lost with the uncommitted batch.
            RoomEvent::MessagePosted(p) => self.add(StoredMessage {
                message_id: p.message_id,
                room_id: p.room_id,
                author_id: p.author_id,
                seq: p.seq,
                created_at_us: p.at.timestamp_micros(),
                body: p.body.clone(),
                mentions: p.mentions.clone(),
                has_file: !p.attachments.is_empty(),
                has_image: p.attachments.iter().any(|a| a.is_image()),
                hidden_by: Vec::new(),
            }),
            RoomEvent::MessageEdited(ed) => match self.current(ed.message_id)? {
                Some(mut m) => {
                    m.body = ed.body.clone();
                    self.put(m)
                }
                None => {
                    tracing::debug!(message_id = %ed.message_id, "edit of a message not in the index");
                    Ok(())
                }
            },
            RoomEvent::MessageHidden(h) => match self.current(h.message_id)? {
                // Hiding twice is no change; a deleted message has no document.
                Some(mut m) => match m.hidden_by.binary_search(&h.user_id) {
                    Ok(_) => Ok(()),
                    Err(at) => {
                        m.hidden_by.insert(at, h.user_id);
                        self.put(m)
                    }
                },
                None => Ok(()),
            },
            RoomEvent::MessageDeleted(d) => {
                let term = self.id_term(d.message_id);
                self.writer().delete_term(term);
                self.pending_docs.insert(d.message_id, Pending::Deleted);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn writer(&mut self) -> &mut IndexWriter<TantivyDocument> {
        // Only `drop` takes the writer.
        self.writer.as_mut().expect("the writer lives until drop")
    }

    fn id_term(&self, id: MessageId) -> Term {
        Term::from_field_text(self.fields.message_id, &id.to_string())
    }

    /// Add a new message's document, with no delete of an older one (a
    /// delete is looked up in every segment at the next commit).
    fn add(&mut self, m: StoredMessage) -> Result<(), SearchError> {
        let doc = self.fields.encode(&m);
        self.writer().add_document(doc)?;
        self.pending_docs.insert(m.message_id, Pending::Live(m));
        Ok(())
    }

    /// Replace (or add) a message's document.
    fn put(&mut self, m: StoredMessage) -> Result<(), SearchError> {
        // tantivy applies a delete to documents added before it only, so the
        // new document survives its own delete.
        let (term, doc) = (self.id_term(m.message_id), self.fields.encode(&m));
        self.writer().delete_term(term);
        self.writer().add_document(doc)?;
        self.pending_docs.insert(m.message_id, Pending::Live(m));
        Ok(())
    }

    /// A message's current document: from this batch if it was written in
    /// it, else from the last commit.
    fn current(&self, id: MessageId) -> Result<Option<StoredMessage>, SearchError> {
        match self.pending_docs.get(&id) {
            Some(Pending::Live(m)) => return Ok(Some(m.clone())),
            Some(Pending::Deleted) => return Ok(None),
            None => {}
        }
        let searcher = self.reader.searcher();
        let query = TermQuery::new(self.id_term(id), IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(1))?;
        match top.first() {
            Some((_, addr)) => Ok(Some(self.fields.decode(&searcher.doc(*addr)?)?)),
            None => Ok(None),
        }
    }

    /// Make everything applied durable and visible, with the last applied
    /// position as the checkpoint. Returns the new checkpoint. After an error,
    /// reopen the index.
    pub fn commit(&mut self) -> Result<i64, SearchError> {
        if self.applied == self.checkpoint && self.pending_events == 0 {
            return Ok(self.checkpoint);
        }
        let payload = serde_json::to_string(&Payload {
            position: self.applied,
        })
        .map_err(|e| SearchError::Corrupt(e.to_string()))?;
        let mut prepared = self.writer().prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        self.checkpoint = self.applied;
        self.pending_events = 0;
        self.pending_docs.clear();
        self.visible.store(self.checkpoint, Ordering::SeqCst);
        Ok(self.checkpoint)
    }

    /// A search handle (cloneable, `Send + Sync`) that sees every commit of
    /// this index.
    pub fn searcher(&self) -> MessageSearcher {
        MessageSearcher::new(self.reader.clone(), self.fields, self.visible.clone())
    }

    /// Search the committed documents (see [`MessageSearcher::search`]).
    pub fn search(
        &self,
        req: &crate::searcher::SearchRequest,
    ) -> Result<crate::searcher::SearchPage, SearchError> {
        self.searcher().search(req)
    }

    /// Number of committed (live) documents.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// SHA-256 (hex) of every committed document's stored fields, sorted by
    /// message id: equal digests mean equal searchable content, whatever the
    /// segment layout. Reads the whole index; for tests and rebuild checks.
    pub fn digest(&self) -> Result<String, SearchError> {
        let searcher = self.reader.searcher();
        let mut docs = Vec::new();
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(0)
                .map_err(tantivy::TantivyError::from)?;
            for doc_id in segment.doc_ids_alive() {
                docs.push(self.fields.decode(&store.get(doc_id)?)?);
            }
        }
        docs.sort_by_key(|m| m.message_id);
        let mut hash = Sha256::new();
        for m in &docs {
            // Length-prefixed body, so no body can forge a field boundary.
            hash.update(format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t",
                m.message_id,
                m.room_id,
                m.author_id,
                m.seq,
                m.created_at_us,
                m.body.len()
            ));
            hash.update(m.body.as_bytes());
            let users = |v: &[domain::UserId]| {
                v.iter()
                    .map(|u| u.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            hash.update(format!(
                "\t{}\t{}\t{}\t{}\t{}",
                users(&m.mentions),
                m.has_file,
                m.has_image,
                crate::links::has_link(&m.body),
                users(&m.hidden_by)
            ));
            hash.update(b"\n");
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// The tantivy index, for tools (inspection, merging).
    pub fn tantivy_index(&self) -> &Index {
        &self.index
    }
}

impl Drop for SearchIndex {
    /// Wait for background merges: a merge left running would finish later
    /// and garbage-collect files by its stale view of the index, under a
    /// writer opened on the same directory in the meantime.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(error = %e, "search index merge failed on close");
            }
        }
    }
}

/// The checkpoint of the last commit: its payload's position, or 0.
fn read_checkpoint(index: &Index) -> Result<i64, SearchError> {
    match index.load_metas()?.payload {
        None => Ok(0),
        Some(p) => serde_json::from_str::<Payload>(&p)
            .map(|p| p.position)
            .map_err(|e| SearchError::Corrupt(format!("commit payload {p:?}: {e}"))),
    }
}
