//! Search operators: `from:`, `in:`, `has:`, `mentions:`, `before:`,
//! `after:` and `on:` beside the words of a query.
//!
//! **What is an operator.** An unquoted word `name:value` whose `name` is
//! ASCII letters. Everything else stays text, as before: `12:30`, `회의:`,
//! `https://…` (a value starting with `//` is a link, not an operator),
//! `"from:alice"` (quoted), `Q:` (nothing after the colon and not a known
//! name). A known name with a bad or missing value, and an unknown name with
//! a value (`title:foo`), are refused with [`SearchError::InvalidOperator`]
//! naming it, so a typo never silently searches for text the user did not
//! mean; quoting the word searches it as text.
//!
//! **How they combine.** Several `from:` or several `in:` are alternatives
//! (messages of any of those users, in any of those rooms); every other
//! operator must hold (`has:image has:link`: both). `before:`, `after:` and
//! `on:` name calendar days in the request's time zone (IANA name, default
//! `Asia/Seoul`): `before:D` is earlier than D's first instant, `after:D` is
//! from the day after D on, `on:D` is within D. Operators cannot be excluded
//! (`-from:x` is refused): only words and phrases can.

use crate::error::SearchError;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::values::Username;
use domain::RoomId;

/// The time zone of day operators when the request names none.
pub const DEFAULT_TZ: Tz = chrono_tz::Asia::Seoul;

/// The operator names, as written before the colon.
pub const NAMES: &[&str] = &["from", "in", "has", "mentions", "before", "after", "on"];

/// Who `from:` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    /// `from:me`: the caller.
    Me,
    /// `from:USERNAME` (a leading `@` is dropped, letters lowercased).
    Username(String),
}

/// What `has:` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Has {
    /// At least one attachment, images included.
    File,
    /// At least one image attachment.
    Image,
    /// A link (`http://`, `https://` or `www.`) in the text.
    Link,
}

impl Has {
    /// The term of the `has` field.
    pub fn term(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Image => "image",
            Self::Link => "link",
        }
    }
}

/// One operator of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `from:USERNAME` or `from:me`.
    From(Author),
    /// `in:ROOM_ID`.
    In(RoomId),
    /// `has:file`, `has:image`, `has:link`.
    Has(Has),
    /// `mentions:me`.
    MentionsMe,
    /// `before:YYYY-MM-DD`.
    Before(NaiveDate),
    /// `after:YYYY-MM-DD`.
    After(NaiveDate),
    /// `on:YYYY-MM-DD`.
    On(NaiveDate),
}

/// `name:value` if `word` is written as an operator (see the module doc),
/// `None` if it is text.
pub(crate) fn split(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once(':')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if value.starts_with("//") {
        return None;
    }
    let known = NAMES.iter().any(|n| n.eq_ignore_ascii_case(name));
    if value.is_empty() && !known {
        return None;
    }
    Some((name, value))
}

fn refuse(name: &str, reason: &str) -> SearchError {
    SearchError::InvalidOperator {
        operator: format!("{}:", name.to_ascii_lowercase()),
        reason: reason.to_owned(),
    }
}

/// A strict `YYYY-MM-DD` (chrono alone also takes signs and short years).
fn date(name: &str, value: &str) -> Result<NaiveDate, SearchError> {
    let shape = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shape
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| refuse(name, "needs a date written YYYY-MM-DD"))
}

/// Parse one operator from its name and value (as [`split`] returns them).
pub(crate) fn parse(name: &str, value: &str) -> Result<Operator, SearchError> {
    let lower = name.to_ascii_lowercase();
    if value.is_empty() {
        return Err(refuse(name, "needs a value"));
    }
    match lower.as_str() {
        "from" => {
            let v = value.strip_prefix('@').unwrap_or(value).to_lowercase();
            if v == "me" {
                return Ok(Operator::From(Author::Me));
            }
            Username::parse(&v)
                .map(|_| Operator::From(Author::Username(v)))
                .map_err(|_| {
                    refuse(
                        name,
                        "needs a username (3 to 32 of a-z, 0-9, _ and .) or me",
                    )
                })
        }
        "in" => value
            .parse::<uuid::Uuid>()
            .map(|id| Operator::In(RoomId(id)))
            .map_err(|_| refuse(name, "needs a room id (a UUID)")),
        "has" => match value.to_ascii_lowercase().as_str() {
            "file" => Ok(Operator::Has(Has::File)),
            "image" => Ok(Operator::Has(Has::Image)),
            "link" => Ok(Operator::Has(Has::Link)),
            _ => Err(refuse(name, "takes file, image or link")),
        },
        "mentions" => {
            if value.eq_ignore_ascii_case("me") {
                Ok(Operator::MentionsMe)
            } else {
                Err(refuse(name, "only takes me"))
            }
        }
        "before" => date(name, value).map(Operator::Before),
        "after" => date(name, value).map(Operator::After),
        "on" => date(name, value).map(Operator::On),
        _ => Err(SearchError::InvalidOperator {
            operator: format!("{name}:"),
            reason: format!(
                "is not an operator (operators: {}; quote the word to search it as text)",
                NAMES.join(":, ") + ":"
            ),
        }),
    }
}

/// A time zone from its IANA name (`Asia/Seoul`, `UTC`, `America/New_York`).
pub fn parse_tz(name: &str) -> Result<Tz, SearchError> {
    name.parse::<Tz>()
        .map_err(|_| SearchError::InvalidTimeZone(name.chars().take(64).collect()))
}

/// The first instant of `day` in `tz`: local midnight, or the first local
/// time after it that exists when a clock change skips midnight (a day a
/// zone skipped entirely starts where the next day does).
pub(crate) fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    // Gaps are at most a day long; a quarter-hour step finds their end.
    for step in 0..=(2 * 24 * 4) {
        let local = midnight + Duration::minutes(15 * step);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // Unreachable for real zones; UTC midnight is a sane answer anyway.
    midnight.and_utc()
}

/// The half-open time range `[from, to)` (µs since the epoch) the day
/// operators allow, `None` when there are none. An empty range (`after:` a
/// later day than `before:`) is returned as such: it matches nothing.
pub(crate) fn time_range(ops: &[Operator], tz: Tz) -> Option<(i64, i64)> {
    let next = |d: NaiveDate| d.succ_opt().unwrap_or(d);
    let start = |d: NaiveDate| day_start(d, tz).timestamp_micros();
    let mut range: Option<(i64, i64)> = None;
    for op in ops {
        let (from, to) = match op {
            Operator::Before(d) => (i64::MIN, start(*d)),
            Operator::After(d) => (start(next(*d)), i64::MAX),
            Operator::On(d) => (start(*d), start(next(*d))),
            _ => continue,
        };
        range = Some(match range {
            None => (from, to),
            Some((f, t)) => (f.max(from), t.min(to)),
        });
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(word: &str) -> Result<Operator, SearchError> {
        let (name, value) = split(word).expect("an operator");
        parse(name, value)
    }

    fn refused(word: &str) -> String {
        match op(word) {
            Err(SearchError::InvalidOperator { operator, .. }) => operator,
            other => panic!("{word}: {other:?}"),
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_operator_parses() {
        let alice = Operator::From(Author::Username("alice".into()));
        assert_eq!(op("from:alice").unwrap(), alice);
        assert_eq!(op("from:@Alice").unwrap(), alice);
        assert_eq!(op("FROM:alice").unwrap(), alice);
        assert_eq!(op("from:me").unwrap(), Operator::From(Author::Me));
        let room = uuid::Uuid::from_u128(7);
        assert_eq!(
            op(&format!("in:{room}")).unwrap(),
            Operator::In(RoomId(room))
        );
        assert_eq!(op("has:file").unwrap(), Operator::Has(Has::File));
        assert_eq!(op("has:IMAGE").unwrap(), Operator::Has(Has::Image));
        assert_eq!(op("has:link").unwrap(), Operator::Has(Has::Link));
        assert_eq!(op("mentions:me").unwrap(), Operator::MentionsMe);
        assert_eq!(
            op("before:2026-03-01").unwrap(),
            Operator::Before(day("2026-03-01"))
        );
        assert_eq!(
            op("after:2026-02-28").unwrap(),
            Operator::After(day("2026-02-28"))
        );
        assert_eq!(
            op("on:2024-02-29").unwrap(),
            Operator::On(day("2024-02-29"))
        );
    }

    #[test]
    fn every_bad_operator_is_refused_by_name() {
        assert_eq!(refused("from:"), "from:");
        assert_eq!(refused("from:al"), "from:");
        assert_eq!(refused("from:ALICE!"), "from:");
        assert_eq!(refused("in:room"), "in:");
        assert_eq!(refused("has:video"), "has:");
        assert_eq!(refused("has:"), "has:");
        assert_eq!(refused("mentions:alice"), "mentions:");
        assert_eq!(refused("before:yesterday"), "before:");
        assert_eq!(refused("after:2026-13-01"), "after:");
        assert_eq!(refused("on:2023-02-29"), "on:");
        assert_eq!(refused("on:+2026-01-01"), "on:");
        assert_eq!(refused("on:2026-1-1"), "on:");
        assert_eq!(refused("title:foo"), "title:");
        assert_eq!(refused("Title:foo"), "Title:");
    }

    #[test]
    fn text_with_colons_stays_text() {
        for word in [
            "12:30",
            "회의:",
            "회의:내일",
            "Q:",
            "note:",
            "https://example.com",
            "http://x",
            ":alice",
            "a1:b",
        ] {
            assert_eq!(split(word), None, "{word}");
        }
        assert_eq!(split("has:"), Some(("has", "")));
    }

    #[test]
    fn time_zones_by_iana_name() {
        assert_eq!(parse_tz("Asia/Seoul").unwrap(), DEFAULT_TZ);
        assert!(parse_tz("UTC").is_ok());
        assert!(matches!(
            parse_tz("Mars/Olympus"),
            Err(SearchError::InvalidTimeZone(_))
        ));
        assert!(parse_tz("").is_err());
    }

    #[test]
    fn days_are_days_of_the_time_zone() {
        let seoul = day_start(day("2026-03-05"), DEFAULT_TZ);
        assert_eq!(seoul.to_rfc3339(), "2026-03-04T15:00:00+00:00");
        let utc = day_start(day("2026-03-05"), chrono_tz::UTC);
        assert_eq!(utc.to_rfc3339(), "2026-03-05T00:00:00+00:00");
        // Samoa skipped 2011-12-30: it starts where the 31st does.
        let apia = chrono_tz::Pacific::Apia;
        assert_eq!(
            day_start(day("2011-12-30"), apia),
            day_start(day("2011-12-31"), apia)
        );
        // Midnight does not exist in Santiago on 2022-09-11 (clocks jump to 01:00).
        let santiago = day_start(day("2022-09-11"), chrono_tz::America::Santiago);
        assert_eq!(santiago.to_rfc3339(), "2022-09-11T04:00:00+00:00");
    }

    #[test]
    fn day_operators_make_one_range() {
        let tz = chrono_tz::UTC;
        let us = |s: &str| day_start(day(s), tz).timestamp_micros();
        assert_eq!(time_range(&[Operator::MentionsMe], tz), None);
        assert_eq!(
            time_range(&[Operator::On(day("2026-01-02"))], tz),
            Some((us("2026-01-02"), us("2026-01-03")))
        );
        assert_eq!(
            time_range(
                &[
                    Operator::After(day("2026-01-01")),
                    Operator::Before(day("2026-01-10"))
                ],
                tz
            ),
            Some((us("2026-01-02"), us("2026-01-10")))
        );
        let (from, to) = time_range(
            &[
                Operator::After(day("2026-01-10")),
                Operator::Before(day("2026-01-01")),
            ],
            tz,
        )
        .unwrap();
        assert!(from >= to, "an empty range");
    }
}
