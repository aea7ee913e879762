//! Posts with a file in the chaos load (issue 15): an upload, then the post
//! that sends it under its own `Idempotency-Key`.
//!
//! Uploads take no key (docs/API.md): an attempt whose answer a fault cut
//! off may have stored the file all the same, and the retry stores another
//! copy under a new id. Such copies are in the log without a key and without
//! an acknowledgement, as the contract allows (the sweeper discards them a
//! day later); the log check ([`super::super::log::check_uploads`]) requires
//! every acknowledged upload's event at its acknowledged position, and the
//! post that sends it is a keyed command like any other.

use super::HttpLoad;
use contract::commands::PostMessageRequest;
use domain::RoomId;

/// An acknowledged upload: its attachment id and the position it answered.
#[derive(Clone, Debug)]
pub struct UploadAck {
    pub attachment_id: uuid::Uuid,
    pub position: i64,
}

/// A small file the server keeps as a PDF (nothing to decode).
fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len.saturating_sub(v.len())).map(|i| (i % 251) as u8));
    v
}

impl HttpLoad {
    /// Worker `w` uploads a file to `room` and posts a message sending it.
    pub(super) async fn post_with_file(&self, w: usize, i: usize, room: RoomId) {
        let name = format!("자료 {w}-{i}.pdf");
        let stored = self
            .request("upload", Some(w), |c| {
                let name = name.clone();
                async move { c.upload_attachment(room, pdf(4096), Some(&name)).await }
            })
            .await;
        self.uploads.lock().unwrap().push(UploadAck {
            attachment_id: stored.attachment_id.0,
            position: stored.position,
        });
        let mut post = PostMessageRequest::text(format!("파일 {w}-{i}"));
        post.attachments = vec![stored.attachment_id];
        self.command("post with a file", Some(w), |c| {
            let post = post.clone();
            async move { c.post_message(room, &post).await }
        })
        .await;
    }
}
