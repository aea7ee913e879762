//! The filters of one search: the request's parameters (`room_id`,
//! `author_id`, `before`, `after`), the query's operators and what the caller
//! never sees (messages they hid, authors they blocked), as required or
//! excluded clauses that score 0, so the score stays the text's BM25 alone.
//!
//! Rooms are not a clause but the scope of the search: the caller's rooms,
//! narrowed by `room_id` and `in:`, become the `RoomDocs` set the searcher
//! requires. A room the caller is not a member of narrows to nothing, which
//! answers like a room without matches (existence does not leak).

use crate::operators::{self, Author, Operator};
use crate::schema::Fields;
use crate::searcher::SearchRequest;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{RoomId, UserId};
use std::ops::Bound;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

/// What a search is restricted to.
pub(crate) struct Filters {
    /// The rooms searched when narrower than all the caller's rooms.
    pub scope: Option<Vec<RoomId>>,
    /// Required and excluded clauses.
    pub clauses: Vec<(Occur, Box<dyn Query>)>,
    /// The filters cannot match anything (an unknown `from:` name, a room
    /// the caller is not in, an empty day range).
    pub nothing: bool,
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn required(q: Box<dyn Query>) -> (Occur, Box<dyn Query>) {
    (Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0)))
}

fn time_range(field: Field, from: Bound<i64>, to: Bound<i64>) -> Box<dyn Query> {
    let bound = |b: Bound<i64>| match b {
        Bound::Included(t) => Bound::Included(Term::from_field_i64(field, t)),
        Bound::Excluded(t) => Bound::Excluded(Term::from_field_i64(field, t)),
        Bound::Unbounded => Bound::Unbounded,
    };
    Box::new(RangeQuery::new(bound(from), bound(to)))
}

/// The rooms searched: the caller's, narrowed by `room_id` and by `in:`
/// (several `in:` are alternatives); `None` when not narrowed.
fn scope(req: &SearchRequest, ops: &[Operator]) -> Option<Vec<RoomId>> {
    let named: Vec<RoomId> = ops
        .iter()
        .filter_map(|op| match op {
            Operator::In(r) => Some(*r),
            _ => None,
        })
        .collect();
    if req.room_id.is_none() && named.is_empty() {
        return None;
    }
    Some(
        req.member_rooms
            .iter()
            .copied()
            .filter(|r| req.room_id.is_none_or(|only| only == *r))
            .filter(|r| named.is_empty() || named.contains(r))
            .collect(),
    )
}

/// The authors `from:` names (several are alternatives); `None` without
/// `from:`, empty when none of the names is a user.
fn authors(req: &SearchRequest, ops: &[Operator]) -> Option<Vec<UserId>> {
    let mut any = false;
    let mut out = Vec::new();
    for op in ops {
        let Operator::From(who) = op else { continue };
        any = true;
        let id = match who {
            Author::Me => req.viewer,
            Author::Username(name) => req.usernames.get(name).copied(),
        };
        out.extend(id);
    }
    any.then_some(out)
}

/// The filters of `req` with the query's `ops`, days in `tz`.
pub(crate) fn build(f: &Fields, req: &SearchRequest, ops: &[Operator], tz: Tz) -> Filters {
    let scope = scope(req, ops);
    let mut nothing = scope.as_ref().is_some_and(Vec::is_empty);
    let mut clauses = Vec::new();
    if let Some(author) = req.author_id {
        clauses.push(required(term(f.author_id, &author.to_string())));
    }
    if let Some(authors) = authors(req, ops) {
        nothing |= authors.is_empty();
        let any = authors
            .iter()
            .map(|a| (Occur::Should, term(f.author_id, &a.to_string())))
            .collect();
        clauses.push(required(Box::new(BooleanQuery::new(any))));
    }
    for op in ops {
        match op {
            Operator::Has(what) => clauses.push(required(term(f.has, what.term()))),
            Operator::MentionsMe => match req.viewer {
                Some(me) => clauses.push(required(term(f.mentions, &me.to_string()))),
                None => nothing = true,
            },
            _ => {}
        }
    }
    if let Some((from, to)) = operators::time_range(ops, tz) {
        nothing |= from >= to;
        let lower = if from == i64::MIN {
            Bound::Unbounded
        } else {
            Bound::Included(from)
        };
        let upper = if to == i64::MAX {
            Bound::Unbounded
        } else {
            Bound::Excluded(to)
        };
        clauses.push(required(time_range(f.created_at, lower, upper)));
    }
    if req.before.is_some() || req.after.is_some() {
        let excluded = |t: Option<DateTime<Utc>>| match t {
            Some(t) => Bound::Excluded(t.timestamp_micros()),
            None => Bound::Unbounded,
        };
        clauses.push(required(time_range(
            f.created_at,
            excluded(req.after),
            excluded(req.before),
        )));
    }
    // Never found by the caller: what they hid, what the users they blocked wrote.
    if let Some(me) = req.viewer {
        clauses.push((Occur::MustNot, term(f.hidden_by, &me.to_string())));
    }
    for blocked in &req.excluded_authors {
        clauses.push((Occur::MustNot, term(f.author_id, &blocked.to_string())));
    }
    Filters {
        scope,
        clauses,
        nothing,
    }
}
