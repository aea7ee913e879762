//! Query parameters of the list routes, parsed strictly: a malformed number
//! is 400 `invalid_request`, a `limit` out of range 422 `invalid_limit`, an
//! empty value (`before=`) counts as absent.

use api::extract::page_limit;
use api::ApiError;
use serde::{Deserialize, Deserializer};

/// Deserialize an optional query value as a string, empty meaning absent.
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// A non-negative integer parameter.
pub(crate) fn number(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::invalid_request(format!("{name} must be a non-negative integer"))
            })
        })
        .transpose()
}

/// `limit`: 1–200, default 50. Any integer out of range (negative, zero,
/// huge) is 422 `invalid_limit`; something that is not an integer is 400.
pub(crate) fn limit(value: Option<&str>) -> Result<usize, ApiError> {
    let n = value
        .map(|v| {
            v.parse::<i128>()
                .map_err(|_| ApiError::invalid_request("limit must be an integer"))
        })
        .transpose()?;
    page_limit(n.map(|n| u32::try_from(n).unwrap_or(0)))
}

/// Which messages of a room a page covers: `seq` strictly between `after`
/// and `before`, newest first unless `after` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    /// Exclusive lower bound (0 when absent).
    pub after: i64,
    /// Exclusive upper bound (`i64::MAX` when absent).
    pub before: i64,
    /// Oldest first (`after` given) or newest first.
    pub ascending: bool,
    /// Page size.
    pub limit: usize,
}

impl Window {
    /// The window of `before`, `after` and `limit` as given.
    pub fn parse(
        before: Option<&str>,
        after: Option<&str>,
        limit_value: Option<&str>,
    ) -> Result<Self, ApiError> {
        let before = number("before", before)?;
        let after = number("after", after)?;
        Ok(Self {
            after: after.unwrap_or(0),
            before: before.unwrap_or(i64::MAX),
            ascending: after.is_some(),
            limit: limit(limit_value)?,
        })
    }

    /// The seq range the window selects in a room whose last seq is
    /// `last_seq`, or `None` when it is empty.
    pub fn range(&self, last_seq: i64) -> Option<(i64, i64)> {
        let lo = self.after.saturating_add(1).max(1);
        let hi = self.before.saturating_sub(1).min(last_seq);
        (lo <= hi).then_some((lo, hi))
    }

    /// Redis score bounds `(min, max)` of the window, both exclusive.
    pub fn score_bounds(&self) -> (String, String) {
        let max = if self.before == i64::MAX {
            "+inf".to_owned()
        } else {
            format!("({}", self.before)
        };
        (format!("({}", self.after), max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let w = Window::parse(Some("10"), None, None).unwrap();
        assert_eq!(
            (w.after, w.before, w.ascending, w.limit),
            (0, 10, false, 50)
        );
        let w = Window::parse(None, Some("3"), Some("7")).unwrap();
        assert_eq!(
            (w.after, w.before, w.ascending, w.limit),
            (3, i64::MAX, true, 7)
        );
        assert_eq!(
            Window::parse(Some("x"), None, None).unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            Window::parse(Some("-1"), None, None).unwrap_err().code,
            "invalid_request"
        );
        for bad in ["0", "201", "-5", "99999999999999999999"] {
            assert_eq!(limit(Some(bad)).unwrap_err().code, "invalid_limit", "{bad}");
        }
        assert_eq!(limit(Some("1.5")).unwrap_err().code, "invalid_request");
    }

    #[test]
    fn range_clips_to_the_room() {
        let w = Window::parse(None, None, None).unwrap();
        assert_eq!(w.range(0), None);
        assert_eq!(w.range(5), Some((1, 5)));
        let w = Window::parse(Some("3"), Some("1"), None).unwrap();
        assert_eq!(w.range(10), Some((2, 2)));
        assert_eq!(
            Window::parse(Some("1"), None, None).unwrap().range(10),
            None
        );
    }
}
