//! Images are decoded and encoded again, which drops every metadata block
//! (EXIF with its GPS tags, XMP, ICC comments, text chunks) because the
//! encoders write only pixels. The EXIF orientation is applied to the
//! pixels first, so a phone photo keeps its way up once the tag is gone.
//!
//! Runs on a blocking thread (the caller's `spawn_blocking`): decoding a
//! large photo takes tens of milliseconds. Decoding is bounded
//! ([`image::Limits`]) so a small file claiming huge dimensions is refused
//! rather than allocated.

use crate::error::UploadError;
use crate::sniff::ImageKind;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageReader, Limits};
use std::io::{BufReader, Cursor, Seek, SeekFrom};

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// The most pixels on a side we decode.
const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may take (all GIF frames together).
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
const JPEG_QUALITY: u8 = 90;

/// An image as stored: metadata-free bytes, a thumbnail, its size.
pub(crate) struct Cleaned {
    pub bytes: Vec<u8>,
    /// JPEG for JPEG photos, PNG for the rest (see [`thumbnail_type`]).
    pub thumbnail: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The thumbnail's MIME type for an image of `content_type`.
pub fn thumbnail_type(content_type: &str) -> &'static str {
    if content_type == "image/jpeg" {
        "image/jpeg"
    } else {
        "image/png"
    }
}

fn bad(e: impl std::fmt::Display) -> UploadError {
    UploadError::BadImage(e.to_string())
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_DECODE_BYTES);
    l
}

/// Decode the image in `file` and encode it again without metadata.
pub(crate) fn clean(mut file: std::fs::File, kind: ImageKind) -> Result<Cleaned, UploadError> {
    file.seek(SeekFrom::Start(0)).map_err(bad)?;
    let reader = BufReader::new(file);
    if kind == ImageKind::Gif {
        return clean_gif(reader);
    }
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(bad)?;
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let orientation = decoder.orientation().map_err(bad)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    let mut bytes = Vec::new();
    let mut out = Cursor::new(&mut bytes);
    match kind {
        ImageKind::Jpeg => img
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        ImageKind::Png => img.write_with_encoder(PngEncoder::new(&mut out)),
        // The WebP encoder is lossless; a lossy WebP may grow.
        ImageKind::WebP => img
            .to_rgba8()
            .write_with_encoder(WebPEncoder::new_lossless(&mut out)),
        ImageKind::Gif => unreachable!("handled above"),
    }
    .map_err(bad)?;
    let thumbnail = thumbnail(&img, kind)?;
    Ok(Cleaned {
        bytes,
        thumbnail,
        width: img.width(),
        height: img.height(),
    })
}

/// Every frame of an animated GIF, re-encoded (frames keep their delays).
fn clean_gif(reader: BufReader<std::fs::File>) -> Result<Cleaned, UploadError> {
    let mut decoder = GifDecoder::new(reader).map_err(bad)?;
    decoder.set_limits(limits()).map_err(bad)?;
    let (width, height) = decoder.dimensions();
    let frame_bytes = u64::from(width) * u64::from(height) * 4;
    let mut frames = Vec::new();
    let mut total = 0u64;
    for frame in decoder.into_frames() {
        total += frame_bytes;
        if total > MAX_DECODE_BYTES {
            return Err(bad("too many frames to decode"));
        }
        frames.push(frame.map_err(bad)?);
    }
    let Some(first) = frames.first() else {
        return Err(bad("no frames"));
    };
    let first = DynamicImage::ImageRgba8(first.buffer().clone());
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(Repeat::Infinite).map_err(bad)?;
        encoder.encode_frames(frames).map_err(bad)?;
    }
    let thumbnail = thumbnail(&first, ImageKind::Gif)?;
    Ok(Cleaned {
        bytes,
        thumbnail,
        width,
        height,
    })
}

/// At most [`THUMBNAIL_SIDE`] on its longest side (never enlarged).
fn thumbnail(img: &DynamicImage, kind: ImageKind) -> Result<Vec<u8>, UploadError> {
    let small = if img.width().max(img.height()) > THUMBNAIL_SIDE {
        img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        img.clone()
    };
    let mut bytes = Vec::new();
    let mut out = Cursor::new(&mut bytes);
    match kind {
        ImageKind::Jpeg => small
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY - 10)),
        _ => small.write_with_encoder(PngEncoder::new(&mut out)),
    }
    .map_err(bad)?;
    Ok(bytes)
}
