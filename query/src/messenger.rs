//! What each viewer sees of a page of messages beside the messages
//! themselves: its reactions (`me` is the viewer's) and `unread_by`
//! (KakaoTalk's "1", [`domain::unread::unread_by`]).
//!
//! One pipeline per page, whatever its size: the room's current members with
//! their `joined_seq` and read markers (two hash reads) and the reactions of
//! the page's seqs (one `HMGET`), and which of the page's authors deleted
//! their accounts (one `SMISMEMBER`, issue 18). Never a read per message.

use crate::snapshot::{Interrupt, Snapshot};
use domain::unread::unread_by;
use domain::views::{MessageView, ReactionView};
use domain::{RoomId, UserId};
use readmodel::{profiles, reactions, readers};

/// A message with what the viewer sees of it.
pub(crate) struct Decorated {
    pub view: MessageView,
    pub reactions: Vec<ReactionView>,
    pub unread_by: u32,
    /// The author deleted their account.
    pub deleted_user: bool,
}

/// Decorate `page` (messages of `room`) for `me`.
pub(crate) async fn decorate(
    snap: &mut Snapshot<'_>,
    room: RoomId,
    me: UserId,
    page: &[MessageView],
) -> Result<Vec<Decorated>, Interrupt> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<u64> = page.iter().map(|m| m.seq).collect();
    let mut authors: Vec<UserId> = page.iter().map(|m| m.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    let mut values = snap
        .exec(|keys, pipe| {
            readers::queue(pipe, keys, room);
            reactions::queue_many(pipe, keys, room, &seqs);
            profiles::queue_deleted(pipe, keys, &authors);
        })
        .await?;
    let members = readers::take(&mut values)?;
    let sets = reactions::take_many(&mut values, seqs.len())?;
    let deleted: Vec<UserId> = authors
        .iter()
        .zip(profiles::take_deleted(&mut values)?)
        .filter_map(|(a, d)| d.then_some(*a))
        .collect();
    Ok(page
        .iter()
        .cloned()
        .zip(sets)
        .map(|(view, sets)| Decorated {
            unread_by: if view.deleted {
                0
            } else {
                unread_by(view.seq, view.author_id, &members)
            },
            reactions: ReactionView::for_viewer(&sets, me),
            deleted_user: deleted.binary_search(&view.author_id).is_ok(),
            view,
        })
        .collect())
}
