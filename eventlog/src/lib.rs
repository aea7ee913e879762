//! The event log on Postgres, the only source of truth: appends with group
//! commit and per-stream version checks, the gap-safe readers every consumer
//! of the log uses, and the one decoder of its rows. The command side's own
//! tables (credentials, Idempotency-Key answers) are written in the same
//! transaction as the events they belong to, so they are written here too.
//!
//! - [`EventStore`]: the store a command side appends through; one
//!   group-commit batcher task per store (`batcher`) writes whatever commits
//!   are queued in one transaction (`append`: version checks, positions;
//!   `rows`: one multi-row insert per table).
//! - [`read`]: [`read_all`] and the other gap-safe reads of the whole log
//!   (for the relay, the projections' fall-backs and test catch-ups), and
//!   per-stream reads (for rebuilding an aggregate).
//! - [`scan`]: [`scan::read_pages`], the whole log read in large pages, in
//!   parallel, delivered in order (for projection rebuilds and the replay
//!   benchmark).
//! - `decode`: the one decoder of an `events` row, used by every read.
//! - `lookup`: the small lookups the command side needs (stream versions,
//!   credentials, stored Idempotency-Key answers).
//! - [`error`]: [`AppendError`] (one per caller of an append) and
//!   [`StoreError`] (reads).
//!
//! # Ordering without gaps: serialised appends
//!
//! Every append transaction first takes one transaction-scoped advisory lock
//! ([`APPEND_LOCK_KEY`]) and only then draws its positions from
//! `events_position_seq`. The lock is released when the transaction ends, and
//! Postgres releases a transaction's locks only after its commit is visible to
//! other sessions. So whoever draws the next positions does so after every
//! smaller position is either committed and visible or rolled back: positions
//! become visible in strictly increasing order, across all processes that
//! append. A reader can therefore take "everything after my last position"
//! (`WHERE position > $after ORDER BY position`) and never skip a committed
//! event; a rolled-back transaction leaves only a hole in the sequence that no
//! reader waits for, because nothing is ever committed into it later. The
//! price is that appends are serial — which group commit makes cheap: one
//! node runs one batch transaction at a time from one batcher task, so the
//! lock is uncontended there, and each batch carries hundreds of events.
//!
//! The alternative — storing `pg_current_xact_id()` per row and reading only
//! rows of transactions below `pg_snapshot_xmin(pg_current_snapshot())` — lets
//! appends run in parallel, but the xmin horizon is the whole cluster's: any
//! long transaction anywhere (a report, a vacuum-blocking idle session) holds
//! every reader back for as long as it runs. And positions there do not order
//! commits, so "the position of my last event" would not tell a query which
//! projection state includes it; read-your-writes (`X-Min-Position`) needs
//! positions that are comparable in commit order, which serialised appends
//! give for free.

mod append;
mod batcher;
mod commit;
mod decode;
pub mod error;
mod lookup;
pub mod pii;
pub mod pii_legacy;
pub mod read;
mod rows;
pub mod scan;
mod store;

pub use commit::{Commit, Committed, Credential, SideWrite, StoredAnswer, StreamAppend};
pub use error::{AppendError, StoreError};
pub use read::{
    count_between, head, read_all, read_between, read_stream_page, streams_touched, TouchedPage,
};
pub use store::{BatchConfig, BatchCounts, EventStore, Queued};

#[doc(hidden)]
pub use append::append_uncommitted;

/// The key of the advisory lock every append transaction holds (ASCII
/// "cotalkEL"). Fixed forever: two builds with different keys would append
/// concurrently and break the ordering guarantee.
pub const APPEND_LOCK_KEY: i64 = 0x636f_7461_6c6b_454c;
