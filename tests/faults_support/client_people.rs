//! The people commands of the chaos load (issue 16): every tenth step a
//! worker mutes or unmutes a room, blocks or unblocks the next worker's user
//! (in turn, so that each command has events), one worker hides and shows
//! its presence with a new status message, and the rooms' owner also flips
//! a member between admin and member and creates invite links.

use super::{HttpLoad, WORKERS};
use contract::people::{ChangeRoleRequest, CreateInviteRequest, MuteRequest, RoleName};

impl HttpLoad {
    /// Worker `w`'s people command at step `i`, if one is planned.
    pub(super) async fn people_step(&self, w: usize, i: usize) -> bool {
        let room = self.rooms[0];
        let next = self.actors[(w + 1) % WORKERS].id;
        // Steps start at 1: the first tenth step (i = 10) is turn 0, a mute.
        match (i % 10, (i / 10).wrapping_sub(1) % 4) {
            (0, 0) => {
                // A new `until` every time: never a no-op.
                let until = chrono::Utc::now() + chrono::TimeDelta::hours(1 + i as i64);
                let mute = MuteRequest { until: Some(until) };
                self.command("mute", Some(w), |c| {
                    let mute = mute.clone();
                    async move { c.mute(room, &mute).await }
                })
                .await;
            }
            (0, 1) => {
                self.command("unmute", Some(w), |c| async move { c.unmute(room).await })
                    .await;
            }
            (0, 2) => {
                self.command("block", Some(w), |c| async move { c.block(next).await })
                    .await;
            }
            (0, 3) => {
                self.command("unblock", Some(w), |c| async move { c.unblock(next).await })
                    .await;
            }
            (5, _) if w == 0 => {
                // i = 5, 15, 25 …: admin, member, admin …
                let role = if (i / 10).is_multiple_of(2) {
                    RoleName::Admin
                } else {
                    RoleName::Member
                };
                let member = self.actors[1].id;
                self.command("change a role", Some(0), |c| async move {
                    c.change_role(room, member, &ChangeRoleRequest { role })
                        .await
                })
                .await;
            }
            (3, _) if w == 1 => {
                // i = 3, 13, 23 …: hide, show, hide … with a new status
                // each time (presence visibility notices under faults).
                let me = contract::commands::UpdateMeRequest {
                    show_presence: Some(!(i / 10).is_multiple_of(2)),
                    status_message: Some(format!("step {i}")),
                    ..Default::default()
                };
                self.command("update my profile", Some(1), |c| {
                    let me = me.clone();
                    async move { c.update_me(&me).await }
                })
                .await;
            }
            (7, _) if w == 0 => {
                self.command("create an invite", Some(0), |c| async move {
                    c.create_invite(room, &CreateInviteRequest::default()).await
                })
                .await;
            }
            _ => return false,
        }
        true
    }
}
