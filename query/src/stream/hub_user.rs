//! A user's own frames (notifications): routed by user, not by room.

use super::{Covers, StreamHub, RESUME, TOO_SLOW};
use crate::stream::queue::SendError;
use crate::stream::Text;
use domain::UserId;

impl StreamHub {
    /// Deliver one received message of `user`'s own frames (notifications)
    /// to each of their connections on this node. They are not kept in the
    /// ring: the feed (`GET /v1/me/notifications`) is where a client that
    /// was not connected, or reconnects, finds them.
    pub(crate) fn dispatch_user(
        &self,
        publisher: uuid::Uuid,
        seq: u64,
        user: UserId,
        texts: Vec<Text>,
    ) {
        let mut t = self.table();
        t.sequence(publisher, seq);
        let ids: Vec<u64> = t
            .by_user
            .get(&user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let mut slow = Vec::new();
        for id in ids {
            let Some(conn) = t.conns.get(&id) else {
                continue;
            };
            for text in &texts {
                if let Err(SendError::Full) = conn.out.tx.try_send(text.clone()) {
                    slow.push(id);
                    break;
                }
            }
        }
        for id in slow {
            metrics::counter!("cotalk_stream_slow_closed_total").increment(1);
            t.close(id, TOO_SLOW);
        }
    }

    /// Note what one committed batch of notifications covered (sent after
    /// its users' messages): a batch that starts past the positions
    /// received closes every connection, whose clients read the feed again.
    pub(crate) fn dispatch_notified(&self, publisher: uuid::Uuid, seq: u64, covers: Covers) {
        let mut t = self.table();
        t.sequence(publisher, seq);
        if !t.notified.extend(covers) {
            t.close_all(RESUME);
        }
    }
}
