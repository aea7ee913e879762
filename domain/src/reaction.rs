//! The emoji of a reaction: exactly one emoji, as one user-perceived
//! character (an extended grapheme cluster), and one that Unicode lists as an
//! emoji. Skin tones, ZWJ sequences (👨‍👩‍👧) and flags are single graphemes and
//! count as one emoji; text, two emoji or an emoji with text are refused.
//!
//! The grapheme rule comes from `unicode-segmentation` and the emoji list from
//! the `emojis` crate (generated from Unicode's emoji-test data), so neither
//! table is maintained by hand here.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_segmentation::UnicodeSegmentation;

/// One emoji, in its canonical (fully-qualified) form: `❤` and `❤️` are the
/// same reaction, so the same user cannot hold both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReactionEmoji(String);

impl ReactionEmoji {
    /// Parse a reaction: exactly one grapheme cluster that is an emoji.
    /// Nothing is trimmed: a space beside the emoji is a second grapheme.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let mut graphemes = s.graphemes(true);
        let (Some(one), None) = (graphemes.next(), graphemes.next()) else {
            return Err(DomainError::InvalidReaction);
        };
        let emoji = emojis::get(one).ok_or(DomainError::InvalidReaction)?;
        Ok(Self(emoji.as_str().to_owned()))
    }

    /// The canonical emoji text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReactionEmoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_is_a_reaction() {
        for ok in [
            "👍",
            "❤️",
            "😂",
            "👍🏽",
            "👨\u{200D}👩\u{200D}👧",
            "🇰🇷",
            "🫠",
            "1️⃣",
        ] {
            let r = ReactionEmoji::parse(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(ReactionEmoji::parse(r.as_str()), Ok(r.clone()), "{ok:?}");
        }
    }

    #[test]
    fn variants_of_one_emoji_are_one_reaction() {
        assert_eq!(ReactionEmoji::parse("❤"), ReactionEmoji::parse("❤\u{FE0F}"));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            " ",
            "a",
            "가",
            "ㅋㅋ",
            "👍👍",
            "👍 ",
            " 👍",
            "👍a",
            ":+1:",
            "1",
            "#",
            "\u{FE0F}",
            "\u{200D}",
            "\u{1F3FD}x",
            "<b>",
        ] {
            assert_eq!(
                ReactionEmoji::parse(bad),
                Err(DomainError::InvalidReaction),
                "{bad:?}"
            );
        }
    }
}
