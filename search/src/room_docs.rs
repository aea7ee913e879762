//! [`RoomDocs`]: the documents a caller may read, read once per search and
//! used twice: as the permission filter of the query (a [`Query`] matching
//! exactly them, scoring 0) and as the population of the BM25 statistics
//! (`stats`). One set serving both is what makes "a score only depends on
//! readable messages" hold by construction: the statistics cannot count a
//! document the filter would not admit.
//!
//! A room is a term of the `room_id` field; its postings list its documents
//! in each segment. The set keeps the live ones, ascending, per segment of
//! the searcher it was read from, and is only valid with that searcher (the
//! same snapshot of segments): a segment it does not know matches nothing.

use domain::RoomId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tantivy::index::SegmentId;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, Searcher, SegmentReader, TantivyError, Term, TERMINATED};

/// The live documents of some rooms, per segment, ascending.
#[derive(Clone)]
pub(crate) struct RoomDocs {
    by_segment: Arc<HashMap<SegmentId, Arc<[DocId]>>>,
    total: u64,
}

impl fmt::Debug for RoomDocs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomDocs")
            .field("segments", &self.by_segment.len())
            .field("total", &self.total)
            .finish()
    }
}

impl RoomDocs {
    /// The live documents of `rooms` (terms of `room_field`) in `searcher`.
    pub fn collect(
        searcher: &Searcher,
        room_field: Field,
        rooms: &[RoomId],
    ) -> tantivy::Result<Self> {
        let terms: Vec<Term> = rooms
            .iter()
            .map(|r| Term::from_field_text(room_field, &r.to_string()))
            .collect();
        let mut by_segment = HashMap::with_capacity(searcher.segment_readers().len());
        let mut total = 0;
        for segment in searcher.segment_readers() {
            let index = segment.inverted_index(room_field)?;
            let mut docs = Vec::new();
            for term in &terms {
                let Some(mut postings) = index.read_postings(term, IndexRecordOption::Basic)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if !segment.is_deleted(doc) {
                        docs.push(doc);
                    }
                    doc = postings.advance();
                }
            }
            // A document has one room, but a room may be listed twice.
            docs.sort_unstable();
            docs.dedup();
            total += docs.len() as u64;
            by_segment.insert(segment.segment_id(), docs.into());
        }
        Ok(Self {
            by_segment: Arc::new(by_segment),
            total,
        })
    }

    /// How many documents the set holds.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The set's documents in one segment (none if it does not know it).
    pub fn in_segment(&self, segment: &SegmentReader) -> Arc<[DocId]> {
        self.by_segment
            .get(&segment.segment_id())
            .cloned()
            .unwrap_or_else(|| Arc::new([]))
    }
}

impl Query for RoomDocs {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for RoomDocs {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(DocList::new(self.in_segment(reader))))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.in_segment(reader).binary_search(&doc).is_ok() {
            Ok(Explanation::new("in a room of the caller", 0.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} is not in a room of the caller"
            )))
        }
    }
}

/// An ascending list of documents as a doc set; as a scorer (a filter) it
/// scores 0, so the text alone decides the score.
pub(crate) struct DocList {
    docs: Arc<[DocId]>,
    at: usize,
}

impl DocList {
    /// The doc set of `docs`, which must be ascending.
    pub fn new(docs: Arc<[DocId]>) -> Self {
        debug_assert!(docs.windows(2).all(|w| w[0] < w[1]), "docs must ascend");
        Self { docs, at: 0 }
    }
}

impl DocSet for DocList {
    fn advance(&mut self) -> DocId {
        self.at = (self.at + 1).min(self.docs.len());
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.at += self.docs[self.at..].partition_point(|&d| d < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        (self.docs.len() - self.at) as u32
    }
}

impl Scorer for DocList {
    fn score(&mut self) -> Score {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_list_advances_and_seeks() {
        let mut list = DocList::new(Arc::from(vec![2, 5, 9, 14]));
        assert_eq!((list.doc(), list.size_hint()), (2, 4));
        assert_eq!(list.seek(2), 2);
        assert_eq!(list.advance(), 5);
        assert_eq!(list.seek(6), 9);
        assert_eq!(list.seek(14), 14);
        assert_eq!(list.advance(), TERMINATED);
        assert_eq!(list.advance(), TERMINATED);
        assert_eq!(list.size_hint(), 0);
        let mut empty = DocList::new(Arc::from(Vec::new()));
        assert_eq!(empty.doc(), TERMINATED);
        assert_eq!(empty.seek(3), TERMINATED);
    }
}
