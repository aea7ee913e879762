//! The object store holding attachment bytes: `{id}` for the file as
//! stored, `{id}.thumb` for an image's thumbnail.

use crate::error::StoreError;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the bytes go.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `s3://bucket[/prefix]`: an S3-compatible bucket, with credentials,
    /// region and endpoint from the standard `AWS_*` variables
    /// (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP` for a local server);
    /// `file:///dir`: a directory every node shares (one machine, or a
    /// shared mount). `None`: the node's own `{data_dir}/attachments`.
    pub url: Option<String>,
    /// The data directory (local store, image spool files).
    pub data_dir: PathBuf,
}

/// The attachments' object store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Bytes per multipart part (S3 wants at least 5 MiB but for the last).
    part_size: usize,
    spool_dir: PathBuf,
}

/// Bytes per part for a local directory: small, so an upload holds little memory.
const LOCAL_PART: usize = 512 * 1024;
/// Bytes per part for S3 (its minimum).
const S3_PART: usize = 5 * 1024 * 1024;

impl Store {
    /// Open the store `config` names (creating the local directory).
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let spool_dir = config.data_dir.join("attachments-spool");
        std::fs::create_dir_all(&spool_dir)?;
        let local = |dir: PathBuf| -> Result<Self, StoreError> {
            std::fs::create_dir_all(&dir)?;
            let fs = LocalFileSystem::new_with_prefix(&dir)?.with_automatic_cleanup(true);
            Ok(Self {
                inner: Arc::new(fs),
                prefix: Path::default(),
                part_size: LOCAL_PART,
                spool_dir: spool_dir.clone(),
            })
        };
        match &config.url {
            None => local(config.data_dir.join("attachments")),
            Some(url) => {
                let parsed = url::Url::parse(url).map_err(|e| StoreError::Config(e.to_string()))?;
                if parsed.scheme() == "file" {
                    let dir = parsed.to_file_path().map_err(|()| {
                        StoreError::Config(format!("{url} is not an absolute file:/// path"))
                    })?;
                    return local(dir);
                }
                if parsed.scheme() != "s3" {
                    return Err(StoreError::Config(format!(
                        "unsupported scheme {:?} (expected s3://bucket/prefix or file:///dir)",
                        parsed.scheme()
                    )));
                }
                let s3 = AmazonS3Builder::from_env().with_url(url.as_str()).build()?;
                Ok(Self {
                    inner: Arc::new(s3),
                    prefix: Path::from(parsed.path().trim_matches('/')),
                    part_size: S3_PART,
                    spool_dir,
                })
            }
        }
    }

    /// Where images wait while they are decoded.
    pub(crate) fn spool_dir(&self) -> &std::path::Path {
        &self.spool_dir
    }

    fn path(&self, id: &str, thumbnail: bool) -> Path {
        let name = if thumbnail {
            format!("{id}.thumb")
        } else {
            id.to_owned()
        };
        self.prefix.child(name)
    }

    /// A multipart writer for the file `id`.
    pub(crate) async fn writer(&self, id: &str) -> Result<WriteMultipart, StoreError> {
        let upload = self.inner.put_multipart(&self.path(id, false)).await?;
        Ok(WriteMultipart::new_with_chunk_size(upload, self.part_size))
    }

    /// Store `bytes` whole (a re-encoded image, a thumbnail).
    pub(crate) async fn put(
        &self,
        id: &str,
        thumbnail: bool,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.inner
            .put(&self.path(id, thumbnail), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Stream `range` of the file `id` (or of its thumbnail).
    pub async fn get(
        &self,
        id: &str,
        thumbnail: bool,
        range: Option<Range<u64>>,
    ) -> Result<Download, StoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let found = match self
            .inner
            .get_opts(&self.path(id, thumbnail), options)
            .await
        {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Err(StoreError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let size = found.meta.size;
        let range = found.range.clone();
        let body = found.into_stream().map_err(StoreError::from).boxed();
        Ok(Download { body, range, size })
    }

    /// Delete the file `id` and its thumbnail; a missing one is not an error
    /// (deleting is repeated after a crash).
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        for thumbnail in [false, true] {
            match self.inner.delete(&self.path(id, thumbnail)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Whether the file `id` is there (tests, the sweeper's report).
    pub async fn exists(&self, id: &str) -> Result<bool, StoreError> {
        match self.inner.head(&self.path(id, false)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Part of a stored file, as a stream.
pub struct Download {
    /// The bytes of `range`.
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
    /// Which bytes `body` holds.
    pub range: Range<u64>,
    /// The whole file's size.
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: Option<String>, data_dir: PathBuf) -> StoreConfig {
        StoreConfig { url, data_dir }
    }

    #[tokio::test]
    async fn nodes_sharing_a_file_url_see_each_others_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let url = url::Url::from_directory_path(root.join("shared"))
            .unwrap()
            .to_string();
        let a = Store::open(&config(Some(url.clone()), root.join("a"))).unwrap();
        let b = Store::open(&config(Some(url), root.join("b"))).unwrap();
        a.put("f1", false, b"bytes".to_vec()).await.unwrap();
        assert!(b.exists("f1").await.unwrap());
        // Without a URL each node keeps its own directory.
        let own = Store::open(&config(None, root.join("b"))).unwrap();
        assert!(!own.exists("f1").await.unwrap());
        assert!(Store::open(&config(Some("file://elsewhere/dir".into()), root.join("c"))).is_err());
        assert!(Store::open(&config(Some("ftp://x/y".into()), root.join("c"))).is_err());
    }
}
