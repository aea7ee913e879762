//! BM25 statistics over the caller's rooms, so that a score (and therefore a
//! rank) depends only on messages the caller can read.
//!
//! tantivy's default statistics are the whole index's: the number of
//! documents, each term's document frequency and each field's token count
//! (for the average length). With them, posting a word thirty times in a
//! private room lowers its idf for everyone, and a user watching the score of
//! their own hit (or the order of two of them) learns how often other rooms
//! use the word. [`RoomStatistics`] answers the same three questions counting
//! only the caller's readable documents ([`RoomDocs`]):
//!
//! - documents: how many there are;
//! - document frequency: a term's postings intersected with them;
//! - tokens: the sum of their field norms. A field norm is the field's token
//!   count, exact up to 40 tokens and rounded down beyond (tantivy keeps one
//!   byte per document); the average length only shapes length
//!   normalisation, so the rounding costs nothing that matters, and unlike
//!   tantivy's segment totals the sum leaves deleted documents out.
//!
//! Every count is an integer over the same set of documents whatever the
//! segment layout, so merges and commits elsewhere leave every score exactly
//! as it was, to the bit. The cost per search is one pass over the caller's
//! field norms per queried field and one intersection per query term, each
//! bounded by the smaller of the two lists (a seek through the postings' skip
//! list per readable document, or a binary search per posting).

use crate::room_docs::RoomDocs;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Searcher, SegmentReader, Term, TERMINATED};

/// Statistics over `docs`, computed on first use and cached for the query's
/// other clauses (a bigram is often asked for by several forms of a word).
pub(crate) struct RoomStatistics<'a> {
    searcher: &'a Searcher,
    docs: &'a RoomDocs,
    tokens: RefCell<HashMap<Field, u64>>,
    doc_freqs: RefCell<HashMap<Term, u64>>,
}

impl<'a> RoomStatistics<'a> {
    /// Statistics over `docs`, which were collected from `searcher`.
    pub fn new(searcher: &'a Searcher, docs: &'a RoomDocs) -> Self {
        Self {
            searcher,
            docs,
            tokens: RefCell::default(),
            doc_freqs: RefCell::default(),
        }
    }
}

/// How many of `mine` (ascending) the postings hold: a leapfrog
/// intersection, each side skipping to the other's next document.
fn count_common(postings: &mut impl DocSet, mine: &[DocId]) -> u64 {
    let (mut n, mut i) = (0, 0);
    let mut doc = postings.doc();
    while doc != TERMINATED {
        i += mine[i..].partition_point(|&d| d < doc);
        let Some(&next) = mine.get(i) else { break };
        if next == doc {
            n += 1;
            i += 1;
            doc = postings.advance();
        } else {
            doc = postings.seek(next);
        }
    }
    n
}

impl RoomStatistics<'_> {
    /// `count` summed over the segments holding readable documents, cached
    /// under `key`.
    fn sum<K: Hash + Eq + Clone>(
        &self,
        cache: &RefCell<HashMap<K, u64>>,
        key: &K,
        count: impl Fn(&SegmentReader, &[DocId]) -> tantivy::Result<u64>,
    ) -> tantivy::Result<u64> {
        if let Some(n) = cache.borrow().get(key) {
            return Ok(*n);
        }
        let mut total = 0;
        for segment in self.searcher.segment_readers() {
            let mine = self.docs.in_segment(segment);
            if !mine.is_empty() {
                total += count(segment, &mine)?;
            }
        }
        cache.borrow_mut().insert(key.clone(), total);
        Ok(total)
    }
}

impl Bm25StatisticsProvider for RoomStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.sum(&self.tokens, &field, |segment, mine| {
            let norms = segment.get_fieldnorms_reader(field)?;
            Ok(mine.iter().map(|&d| u64::from(norms.fieldnorm(d))).sum())
        })
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.docs.total())
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.sum(&self.doc_freqs, term, |segment, mine| {
            let index = segment.inverted_index(term.field())?;
            Ok(match index.read_postings(term, IndexRecordOption::Basic)? {
                Some(mut postings) => count_common(&mut postings, mine),
                None => 0,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_docs::DocList;
    use std::sync::Arc;

    #[test]
    fn counts_the_common_documents() {
        let count =
            |a: &[DocId], b: &[DocId]| count_common(&mut DocList::new(Arc::from(a.to_vec())), b);
        assert_eq!(count(&[], &[1, 2]), 0);
        assert_eq!(count(&[1, 2], &[]), 0);
        assert_eq!(count(&[1, 3, 5, 7, 9], &[2, 3, 4, 9, 10]), 2);
        let evens: Vec<DocId> = (0..1000).map(|d| d * 2).collect();
        let threes: Vec<DocId> = (0..700).map(|d| d * 3).collect();
        assert_eq!(count(&evens, &threes), 334); // multiples of 6 below 2000
        assert_eq!(count(&threes, &evens), 334);
        assert_eq!(count(&[7], &evens), 0);
        assert_eq!(count(&evens, &[1998]), 1);
    }
}
