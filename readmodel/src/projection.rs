//! Which projection: parsed once at the edge (command line, configuration),
//! a [`ProjectionName`] everywhere else.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One of the projections, each rebuilt on its own:
///
/// | name      | store                         | holds |
/// |-----------|-------------------------------|-------|
/// | `redis`   | Redis, keys under [`RedisKeys`](crate::RedisKeys) | profiles, usernames, friends, rooms, members, room lists, read markers, unread bookkeeping, recent timelines, recent live frames |
/// | `history` | read database, [`messages_table`](crate::sql::messages_table) per generation | full message history per room |
/// | `search`  | a tantivy index directory per generation | message search |
///
/// Every projection has a *generation*: a number that names its data (a
/// Redis key prefix, a table suffix, an index directory). A shadow rebuild
/// writes a new generation while the current one serves, then moves the
/// generation pointer, so dropping one projection's data never touches
/// another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionName {
    /// The Redis read models.
    Redis,
    /// The message history in the read database.
    History,
    /// The search index.
    Search,
}

impl ProjectionName {
    /// Every projection, in the order `replay all` rebuilds them.
    pub const ALL: [Self; 3] = [Self::Redis, Self::History, Self::Search];

    /// The stored and printed name (`redis`, `history`, `search`): rows of
    /// the checkpoint and pointer tables, consumer names, log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::History => "history",
            Self::Search => "search",
        }
    }
}

impl fmt::Display for ProjectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is none of [`ProjectionName::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown projection {0} (one of redis, history, search)")]
pub struct UnknownProjection(pub String);

impl FromStr for ProjectionName {
    type Err = UnknownProjection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProjection(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for p in ProjectionName::ALL {
            assert_eq!(p.as_str().parse::<ProjectionName>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!(
            "relay".parse::<ProjectionName>(),
            Err(UnknownProjection("relay".into()))
        );
    }
}
