//! The hub's ephemeral deliveries (issue 16): typing and presence frames,
//! which are not events (no `position`, never replayed), and block changes.
//! They bypass the ring and the baseline: a connection gets them while it is
//! in the table, nothing before.

use super::{Blocks, StreamHub, Table, TOO_SLOW};
use crate::stream::queue::SendError;
use crate::stream::Text;
use domain::{RoomId, UserId};

impl StreamHub {
    /// Send a typing frame (`text`) of `typer` in `room` to the room's
    /// connections here, except the typer's own and those of users the
    /// typer blocked or who blocked the typer.
    pub(crate) fn deliver_typing(&self, room: RoomId, typer: UserId, text: &Text) {
        let mut t = self.table();
        let ids: Vec<u64> = t
            .by_room
            .get(&room)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                t.conns
                    .get(id)
                    .is_some_and(|c| c.user != typer && !c.out.blocks.silences(typer))
            })
            .collect();
        t.send(ids, text);
    }

    /// Send a presence frame (`text`) to every connection here of `to`.
    pub(crate) fn deliver_presence(&self, to: &[UserId], text: &Text) {
        let mut t = self.table();
        let ids: Vec<u64> = to
            .iter()
            .filter_map(|u| t.by_user.get(u))
            .flatten()
            .copied()
            .collect();
        t.send(ids, text);
    }

    /// Of `users`, those with a connection here.
    pub(crate) fn present(&self, users: &[UserId]) -> Vec<UserId> {
        let t = self.table();
        users
            .iter()
            .copied()
            .filter(|u| t.by_user.contains_key(u))
            .collect()
    }

    /// `user`'s blocks changed: their connections here follow `blocks`.
    pub(crate) fn set_blocks(&self, user: UserId, blocks: &Blocks) {
        let mut t = self.table();
        let ids: Vec<u64> = t
            .by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for id in ids {
            if let Some(conn) = t.conns.get_mut(&id) {
                blocks.clone_into(&mut conn.out.blocks);
            }
        }
    }
}

impl Table {
    /// Queue `text` on connections `ids`; close those whose queue is full.
    fn send(&mut self, ids: Vec<u64>, text: &Text) {
        let mut slow = Vec::new();
        for id in ids {
            let Some(conn) = self.conns.get(&id) else {
                continue;
            };
            if let Err(SendError::Full) = conn.out.tx.try_send(text.clone()) {
                slow.push(id);
            }
        }
        for id in slow {
            metrics::counter!("cotalk_stream_slow_closed_total").increment(1);
            self.close(id, TOO_SLOW);
        }
    }
}
