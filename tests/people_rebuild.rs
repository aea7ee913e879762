//! The people read models (issue 16) rebuild from the log to the same
//! contents as built live: roles and a transfer, invites created, used,
//! used up and revoked, blocks and unblocks, a shadowed request, mutes,
//! status messages and renames (the user search index). A witness
//! generation built live (batch by batch) is compared by digest with a
//! shadow rebuild (bulk), and the answers stay the same after the switch.

mod support;

use contract::commands::{FriendRequest, UpdateMeRequest};
use contract::people::{
    ChangeRoleRequest, CreateInviteRequest, JoinInviteRequest, MuteRequest, RoleName,
};
use projector::digest::redis_digest;
use projector::{generations, source};
use readmodel::ProjectionName;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn people_models_rebuild_to_the_live_digest() {
    let s = support::start().await;
    let cfg = s.projector_config();
    let witness = CancellationToken::new();
    let w = projector::spawn_generation(&cfg, ProjectionName::Redis, 99, witness.clone())
        .await
        .unwrap();

    let (a, b, c, d) = (
        s.user("minji").await,
        s.user("bora").await,
        s.user("chul").await,
        s.user("dami").await,
    );
    let room = s.room(&a, "방", &[&b]).await.room_id;
    let (ua, ub, uc, ud) = (s.as_user(&a), s.as_user(&b), s.as_user(&c), s.as_user(&d));
    let role = |r| ChangeRoleRequest { role: r };
    ua.change_role(room, b.id, &role(RoleName::Admin))
        .await
        .unwrap();
    let once = ub
        .create_invite(
            room,
            &CreateInviteRequest {
                max_uses: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let open = ua
        .create_invite(room, &CreateInviteRequest::default())
        .await
        .unwrap();
    let gone = ua
        .create_invite(room, &CreateInviteRequest::default())
        .await
        .unwrap();
    uc.join_invite(&once.token, &JoinInviteRequest::default())
        .await
        .unwrap();
    ud.join_invite(&open.token, &JoinInviteRequest::default())
        .await
        .unwrap();
    ua.revoke_invite(room, gone.invite_id).await.unwrap();
    ua.change_role(room, c.id, &role(RoleName::Owner))
        .await
        .unwrap();
    s.post(&b, room, "안녕").await;
    ua.block(b.id).await.unwrap();
    ua.block(d.id).await.unwrap();
    ua.unblock(d.id).await.unwrap();
    ub.request_friend(&FriendRequest { user_id: a.id })
        .await
        .unwrap();
    ua.mute(room, &MuteRequest::default()).await.unwrap();
    ub.mute(room, &MuteRequest::default()).await.unwrap();
    ub.unmute(room).await.unwrap();
    let last = ud
        .update_me(&UpdateMeRequest {
            display_name: Some("김다미".into()),
            status_message: Some("휴가".into()),
            show_presence: Some(false),
        })
        .await
        .unwrap();

    assert_eq!(
        support::shadow_rebuild(&cfg, ProjectionName::Redis).await,
        2
    );
    let head = source::head(&s.env.write_pool).await.unwrap();
    support::caught_up(&cfg, ProjectionName::Redis, 2, head).await;
    support::caught_up(&cfg, ProjectionName::Redis, 99, head).await;
    let rebuilt = redis_digest(&cfg.redis_url, &cfg.namespace, 2)
        .await
        .unwrap();
    assert_eq!(
        rebuilt,
        redis_digest(&cfg.redis_url, &cfg.namespace, 99)
            .await
            .unwrap()
    );

    // The rebuilt generation answers as the live one did.
    let at = last.position;
    let r = ua.at(at).room(room).await.unwrap();
    assert_eq!(r.owner_id, c.id.0);
    assert_eq!(ua.at(at).blocks().await.unwrap().blocks.len(), 1);
    let list = uc.at(at).invites(room).await.unwrap();
    assert_eq!(list.invites.len(), 1);
    assert_eq!(list.invites[0].uses, 1);
    assert!(ua.at(at).my_rooms(&[]).await.unwrap().rooms[0].muted);
    let found = ub.at(at).search_users("ㄱㄷ").await.unwrap();
    assert_eq!(found.users.len(), 1);
    assert_eq!(ud.at(at).me().await.unwrap().status_message, "휴가");

    witness.cancel();
    let _ = w.task.await;
    for g in [2, 99] {
        generations::drop_generation(&cfg, ProjectionName::Redis, g)
            .await
            .unwrap();
    }
}
