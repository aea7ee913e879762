//! What a file is, from its first bytes (the `infer` crate's magic numbers),
//! never from the client's `Content-Type` or file name.
//!
//! Kept: the four images we re-encode (JPEG, PNG, WebP, GIF), archives,
//! audio, video, documents and books. Refused: everything a browser could
//! run or render as a page (HTML, XML/SVG, shell scripts, executables),
//! fonts, other image types (which we could neither thumbnail nor clean),
//! and anything unrecognised.

use infer::MatcherType;

/// How many leading bytes are enough to tell every kept type.
pub const HEAD_LEN: usize = 8 * 1024;

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image we decode, clean and thumbnail.
    Image(ImageKind),
    /// Any other kept file, stored as it came, with its MIME type.
    File(&'static str),
}

/// The image formats we re-encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    WebP,
    Gif,
}

impl ImageKind {
    /// Its MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

impl Kind {
    /// Its MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Image(i) => i.mime(),
            Self::File(m) => m,
        }
    }
}

/// The kind of a file starting with `head`, or the refused MIME type
/// (`"unknown"` when nothing matched).
pub fn sniff(head: &[u8]) -> Result<Kind, &'static str> {
    let Some(t) = infer::get(head) else {
        return Err("unknown");
    };
    let mime = t.mime_type();
    match t.matcher_type() {
        MatcherType::Image => match mime {
            "image/jpeg" => Ok(Kind::Image(ImageKind::Jpeg)),
            "image/png" => Ok(Kind::Image(ImageKind::Png)),
            "image/webp" => Ok(Kind::Image(ImageKind::WebP)),
            "image/gif" => Ok(Kind::Image(ImageKind::Gif)),
            other => Err(other),
        },
        MatcherType::Archive
        | MatcherType::Audio
        | MatcherType::Video
        | MatcherType::Doc
        | MatcherType::Book => Ok(Kind::File(mime)),
        // Text (HTML, XML, SVG, shell scripts), App (executables, wasm),
        // Font and Custom.
        _ => Err(mime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_documents_and_refusals() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Ok(Kind::Image(ImageKind::Jpeg))
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Ok(Kind::File("application/pdf")));
        assert_eq!(sniff(b"PK\x03\x04rest"), Ok(Kind::File("application/zip")));
        assert!(sniff(b"<!DOCTYPE html><html><script>x</script>").is_err());
        assert!(
            sniff(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>").is_err()
        );
        assert!(sniff(b"#!/bin/sh\nrm -rf /\n").is_err());
        assert!(sniff(b"just some words").is_err());
        assert!(sniff(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
    }
}
