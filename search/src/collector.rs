//! A top-k collector with search-after: the hits that follow a cursor in a
//! total order, so pages never overlap or skip for an unchanged index.
//!
//! The order is total because its last key is the message id, unique per
//! document: relevance is (score desc, created_at desc, message id desc),
//! recent is (created_at desc, message id desc). The score in a cursor is the
//! exact `f32` of the previous page, and tantivy computes the same score for
//! the same document and query on the same index with the same statistics
//! (those of the caller's rooms, see [`crate::searcher`]), so comparing with
//! it is exact. A page asked after the index or the caller's rooms changed
//! may score differently, as any search after a change does.

use crate::schema::names;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// How results are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// BM25 score, newest first among equal scores.
    #[default]
    Relevance,
    /// Newest first.
    Recent,
}

impl SortOrder {
    /// Parse the API's `sort` parameter (`relevance` or `recent`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "relevance" => Some(Self::Relevance),
            "recent" => Some(Self::Recent),
            _ => None,
        }
    }
}

/// Where a document sits in the order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SortKey {
    pub score: Score,
    pub created_at_us: i64,
    pub mid_hi: u64,
    pub mid_lo: u64,
}

impl SortKey {
    /// `Less` when `self` comes first.
    pub fn rank(&self, other: &SortKey, sort: SortOrder) -> Ordering {
        let newer = other
            .created_at_us
            .cmp(&self.created_at_us)
            .then((other.mid_hi, other.mid_lo).cmp(&(self.mid_hi, self.mid_lo)));
        match sort {
            SortOrder::Relevance => other.score.total_cmp(&self.score).then(newer),
            SortOrder::Recent => newer,
        }
    }
}

/// A collected hit; ordered so that the *last* in the result order is the
/// greatest, which makes `BinaryHeap` keep the worst on top for eviction.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked {
    pub key: SortKey,
    pub addr: DocAddress,
    sort: SortOrder,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.rank(&other.key, self.sort)
    }
}

/// Collects the first `limit` hits strictly after `after`.
pub(crate) struct AfterCollector {
    pub sort: SortOrder,
    pub after: Option<SortKey>,
    pub limit: usize,
}

pub(crate) struct AfterSegmentCollector {
    sort: SortOrder,
    after: Option<SortKey>,
    limit: usize,
    segment: SegmentOrdinal,
    created_at: Column<i64>,
    mid_hi: Column<u64>,
    mid_lo: Column<u64>,
    heap: BinaryHeap<Ranked>,
}

impl Collector for AfterCollector {
    type Fruit = Vec<Ranked>;
    type Child = AfterSegmentCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<AfterSegmentCollector> {
        let ff = reader.fast_fields();
        Ok(AfterSegmentCollector {
            sort: self.sort,
            after: self.after,
            limit: self.limit,
            segment,
            created_at: ff.i64(names::CREATED_AT)?,
            mid_hi: ff.u64(names::MID_HI)?,
            mid_lo: ff.u64(names::MID_LO)?,
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Ranked>>) -> tantivy::Result<Vec<Ranked>> {
        let mut all: Vec<Ranked> = fruits.into_iter().flatten().collect();
        all.sort();
        all.truncate(self.limit);
        Ok(all)
    }
}

impl SegmentCollector for AfterSegmentCollector {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let key = SortKey {
            score,
            created_at_us: self.created_at.first(doc).unwrap_or(i64::MIN),
            mid_hi: self.mid_hi.first(doc).unwrap_or(0),
            mid_lo: self.mid_lo.first(doc).unwrap_or(0),
        };
        if let Some(after) = &self.after {
            if key.rank(after, self.sort) != Ordering::Greater {
                return;
            }
        }
        let ranked = Ranked {
            key,
            addr: DocAddress::new(self.segment, doc),
            sort: self.sort,
        };
        if self.heap.len() < self.limit {
            self.heap.push(ranked);
        } else if let Some(worst) = self.heap.peek() {
            if ranked < *worst {
                self.heap.pop();
                self.heap.push(ranked);
            }
        }
    }

    fn harvest(self) -> Vec<Ranked> {
        self.heap.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(score: f32, t: i64, id: u64) -> SortKey {
        SortKey {
            score,
            created_at_us: t,
            mid_hi: 0,
            mid_lo: id,
        }
    }

    #[test]
    fn relevance_breaks_ties_by_newest_then_id() {
        let mut v = [
            key(1.0, 5, 1),
            key(2.0, 1, 2),
            key(1.0, 9, 3),
            key(1.0, 9, 4),
        ];
        v.sort_by(|a, b| a.rank(b, SortOrder::Relevance));
        let ids: Vec<u64> = v.iter().map(|k| k.mid_lo).collect();
        assert_eq!(ids, vec![2, 4, 3, 1]);
        v.sort_by(|a, b| a.rank(b, SortOrder::Recent));
        let ids: Vec<u64> = v.iter().map(|k| k.mid_lo).collect();
        assert_eq!(ids, vec![4, 3, 1, 2]);
    }
}
