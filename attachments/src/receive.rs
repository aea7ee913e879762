//! An upload, from the request body to the store, never held whole in
//! memory: the first [`HEAD_LEN`] bytes are kept to tell the type, then
//! every chunk is counted (the limit is enforced as they arrive), hashed and
//! written on — to a multipart upload for files, to a spool file for images,
//! which must be decoded whole and are stored once cleaned.

use crate::clean::{clean, Cleaned};
use crate::error::UploadError;
use crate::sniff::{sniff, ImageKind, Kind, HEAD_LEN};
use crate::store::Store;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::fmt::Display;
use tokio::io::AsyncWriteExt;

/// What was stored under the upload's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Sniffed from the bytes.
    pub content_type: String,
    /// Bytes stored (an image's after cleaning).
    pub size: u64,
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// Pixel size of an image.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The body's next chunk; a broken body is [`UploadError::Body`].
async fn next<S, E>(body: &mut S) -> Result<Option<Bytes>, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    match body.next().await {
        None => Ok(None),
        Some(Ok(chunk)) => Ok(Some(chunk)),
        Some(Err(e)) => Err(UploadError::Body(e.to_string())),
    }
}

/// Counts bytes against the limit.
struct Meter {
    seen: u64,
    max: u64,
}

impl Meter {
    fn add(&mut self, n: usize) -> Result<(), UploadError> {
        self.seen += n as u64;
        if self.seen > self.max {
            Err(UploadError::TooLarge(self.max))
        } else {
            Ok(())
        }
    }
}

/// Stream `body` into `store` as attachment `id`, refusing more than
/// `max_bytes` bytes and every type [`sniff`] refuses. Nothing is left in
/// the store when it fails.
pub async fn receive<S, E>(
    store: &Store,
    id: &str,
    mut body: S,
    max_bytes: u64,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut meter = Meter {
        seen: 0,
        max: max_bytes,
    };
    let mut head = Vec::with_capacity(HEAD_LEN);
    let mut rest: Option<Bytes> = None;
    while head.len() < HEAD_LEN {
        let Some(chunk) = next(&mut body).await? else {
            break;
        };
        meter.add(chunk.len())?;
        let take = (HEAD_LEN - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            rest = Some(chunk.slice(take..));
        }
    }
    if head.is_empty() {
        return Err(UploadError::Empty);
    }
    let kind = sniff(&head).map_err(|m| UploadError::Unsupported(m.to_owned()))?;
    match kind {
        Kind::Image(image) => image_upload(store, id, image, head, rest, body, meter).await,
        Kind::File(mime) => {
            let result = file_upload(store, id, head, rest, body, meter).await;
            result.map(|(size, sha256)| Received {
                content_type: mime.to_owned(),
                size,
                sha256,
                width: None,
                height: None,
            })
        }
    }
}

/// A file goes to a multipart upload, one part in flight at a time.
async fn file_upload<S, E>(
    store: &Store,
    id: &str,
    head: Vec<u8>,
    rest: Option<Bytes>,
    mut body: S,
    mut meter: Meter,
) -> Result<(u64, String), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut writer = store.writer(id).await?;
    let mut hasher = Sha256::new();
    hasher.update(&head);
    writer.write(&head);
    let mut pending = rest;
    let outcome: Result<(), UploadError> = async {
        loop {
            let chunk = match pending.take() {
                Some(c) => c,
                None => match next(&mut body).await? {
                    Some(c) => {
                        meter.add(c.len())?;
                        c
                    }
                    None => return Ok(()),
                },
            };
            hasher.update(&chunk);
            // At most one part in flight: memory stays at about two parts.
            writer.wait_for_capacity(1).await?;
            writer.put(chunk);
        }
    }
    .await;
    match outcome {
        Ok(()) => {
            writer.finish().await?;
            Ok((meter.seen, hex::encode(hasher.finalize())))
        }
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(attachment_id = id, error = %abort, "abort of a refused upload failed");
            }
            Err(e)
        }
    }
}

/// An image is spooled to a file, decoded and cleaned on a blocking thread,
/// then stored with its thumbnail.
async fn image_upload<S, E>(
    store: &Store,
    id: &str,
    image: ImageKind,
    head: Vec<u8>,
    rest: Option<Bytes>,
    mut body: S,
    mut meter: Meter,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let spool = tempfile::tempfile_in(store.spool_dir()).map_err(crate::StoreError::from)?;
    let mut file = tokio::fs::File::from_std(spool.try_clone().map_err(crate::StoreError::from)?);
    let io = |e: std::io::Error| UploadError::Store(e.into());
    file.write_all(&head).await.map_err(io)?;
    if let Some(rest) = rest {
        file.write_all(&rest).await.map_err(io)?;
    }
    while let Some(chunk) = next(&mut body).await? {
        meter.add(chunk.len())?;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    drop(file);
    let Cleaned {
        bytes,
        thumbnail,
        width,
        height,
    } = tokio::task::spawn_blocking(move || clean(spool, image))
        .await
        .map_err(|e| UploadError::BadImage(format!("decoder stopped: {e}")))??;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    store.put(id, true, thumbnail).await?;
    if let Err(e) = store.put(id, false, bytes).await {
        let _ = store.delete(id).await;
        return Err(e.into());
    }
    Ok(Received {
        content_type: image.mime().to_owned(),
        size,
        sha256,
        width: Some(width),
        height: Some(height),
    })
}
