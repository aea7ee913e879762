//! What `has:link` means: the text holds a web link, written the way chat
//! clients turn text into links: `http://` or `https://` followed by a
//! host, or `www.` at the start of a word followed by a host. Bare domains
//! (`example.com`) are not links here, as in most messengers, since they
//! are too easily confused with file names and abbreviations.

/// Whether `body` holds a link (case-insensitive).
pub fn has_link(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    let host_follows = |rest: &str| rest.chars().next().is_some_and(char::is_alphanumeric);
    for scheme in ["https://", "http://"] {
        if lower
            .match_indices(scheme)
            .any(|(at, s)| host_follows(&lower[at + s.len()..]))
        {
            return true;
        }
    }
    lower.match_indices("www.").any(|(at, s)| {
        let word_start = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '.' && c != '/');
        word_start && host_follows(&lower[at + s.len()..])
    })
}

#[cfg(test)]
mod tests {
    use super::has_link;

    #[test]
    fn links_are_found_where_clients_make_them() {
        for yes in [
            "https://example.com",
            "자료는 https://docs.example.com/a?b=1 에 있어요",
            "HTTP://EXAMPLE.COM",
            "see www.example.com",
            "(www.example.com)",
            "링크:https://x.kr",
        ] {
            assert!(has_link(yes), "{yes}");
        }
        for no in [
            "example.com",
            "https://",
            "https:// nothing",
            "awww.example",
            "no links here",
            "www.",
            "",
        ] {
            assert!(!has_link(no), "{no}");
        }
    }
}
