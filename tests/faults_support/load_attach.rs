//! Posts with a file (issue 15): an upload (a small PDF, so nothing is
//! decoded), then the message that sends it. Both are acknowledged commands;
//! the ledger keeps the attachment on the post, and the verifier
//! ([`super::super::messenger_verify`]) finds it on the message in history
//! and in the timeline after the faults.

use super::Load;
use crate::support::User;
use contract::commands::PostMessageRequest;
use domain::RoomId;
use uuid::Uuid;

/// The bytes uploaded: the PDF magic, then filler (`len` bytes in all).
fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len.saturating_sub(v.len())).map(|i| (i % 251) as u8));
    v
}

impl Load<'_> {
    /// `actor` uploads a file to `room` and adds it to `post`; returns the
    /// attachment id.
    pub(super) async fn attach(
        &self,
        actor: &User,
        room: Uuid,
        post: &mut PostMessageRequest,
    ) -> Uuid {
        let api = self.server.as_user(actor);
        let name = format!("자료 {}.pdf", post.body.len());
        let stored = self.ack(
            api.upload_attachment(RoomId(room), pdf(2048), Some(&name))
                .await,
        );
        post.attachments = vec![stored.attachment_id];
        stored.attachment_id.0
    }
}
