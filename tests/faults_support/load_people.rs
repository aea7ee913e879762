//! The people commands of the load (issue 16), each at a fixed step of a
//! worker so the ledger knows their effect: a role given in the side room,
//! a join through a single-use invite link, a mute and an unmute, a block
//! that ends a friendship and its unblock, and a block of a stranger.

use super::Load;
use contract::people::{
    ChangeRoleRequest, CreateInviteRequest, JoinInviteRequest, MuteRequest, RoleName,
};
use domain::RoomId;
use uuid::Uuid;

impl Load<'_> {
    /// Run worker `w`'s people command planned for step `i`, if any.
    pub(super) async fn people_step(&self, w: usize, i: usize) -> bool {
        let n = super::WORKERS;
        let owner = &self.users[w];
        let as_owner = self.server.as_user(owner);
        let side = self.sides[w];
        let ops = self.ops;
        if i == ops / 4 {
            // The member who later leaves becomes an admin first.
            let admin = &self.users[(w + 1) % n + n];
            let req = ChangeRoleRequest {
                role: RoleName::Admin,
            };
            self.ack(as_owner.change_role(RoomId(side), admin.id, &req).await);
            let id: Uuid = admin.id.0;
            let mut l = self.ledger.lock().unwrap();
            l.rooms.get_mut(&side).unwrap().admins.insert(id);
        } else if i == ops / 5 {
            let req = CreateInviteRequest {
                max_uses: Some(1),
                ..Default::default()
            };
            let made = self.ack(as_owner.create_invite(RoomId(side), &req).await);
            let joiner = &self.users[(w + 3) % n];
            let as_joiner = self.server.as_user(joiner);
            let no_code = JoinInviteRequest::default();
            self.ack(as_joiner.join_invite(&made.token, &no_code).await);
            let mut l = self.ledger.lock().unwrap();
            let r = l.rooms.get_mut(&side).unwrap();
            let last = r.posts.keys().max().copied().unwrap_or(0);
            let id: Uuid = joiner.id.0;
            r.members.insert(id);
            r.markers.insert(id, last);
        } else if i == ops / 6 {
            self.ack(as_owner.mute(RoomId(side), &MuteRequest::default()).await);
        } else if i == 5 * ops / 6 {
            self.ack(as_owner.unmute(RoomId(side)).await);
        } else if i == 3 * ops / 4 {
            // The owner's friend: the block ends the friendship.
            let friend = &self.users[w + n];
            self.ack(as_owner.block(friend.id).await);
            let (a, b): (Uuid, Uuid) = (owner.id.0, friend.id.0);
            let mut l = self.ledger.lock().unwrap();
            l.friends.remove(&(a, b));
            l.friends.remove(&(b, a));
        } else if i == 4 * ops / 5 {
            let friend = &self.users[w + n];
            self.ack(as_owner.unblock(friend.id).await);
            let stranger = &self.users[(w + 2) % n + n];
            self.ack(as_owner.block(stranger.id).await);
        } else {
            return false;
        }
        true
    }
}
