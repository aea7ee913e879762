//! The read-model schema, in one place: where each read model is stored,
//! how it is encoded, and one typed writer and reader per model.
//!
//! The projector writes through these functions, the query side reads
//! through them, and the query tests build their fixtures with the same
//! writers, so an encoding changed here changes for all three at once.
//! This crate holds no runtime: no NATS client, no search index, no event
//! log.
//!
//! Writers add commands to a [`redis::Pipeline`] (the projector batches a
//! whole batch of events into one `MULTI`/`EXEC`); readers come in pairs,
//! `queue_*` adding commands to a pipeline and `take_*` decoding their
//! replies from [`Replies`] in the same order, so one transaction can read
//! several models at one checkpoint.
//!
//! | model | key (under [`RedisKeys`]) | writer | reader | test |
//! |-------|---------------------------|--------|--------|------|
//! | profile | `user:{id}` | [`profiles::put`] | [`profiles::queue_get`], [`profiles::queue_many`] | `tests/roundtrip.rs`: `profiles_and_usernames` |
//! | username | `username:{name}` | [`profiles::put_username`] | [`profiles::queue_owner`] | `profiles_and_usernames` |
//! | friend list | `friends:{user}` | [`friends::write`] | [`friends::queue_list`] | `friends` |
//! | room | `room:{room}` | [`rooms::put`] | [`rooms::queue_get`] | `rooms_members_and_lists` |
//! | members | `members:{room}` | [`rooms::write_members`] | [`rooms::queue_members`], [`rooms::queue_member_count`], [`rooms::queue_is_member`] | `rooms_members_and_lists` |
//! | room list | `rooms:{user}` (membership), `activity` (every room's last activity) | [`rooms::write_list`], [`rooms::write_activity`] | [`rooms::queue_list`], [`rooms::queue_page`] (Lua) | `rooms_members_and_lists` |
//! | read markers | `read:{room}` | [`unread::write_markers`] | [`unread::queue_marker`] | `unread_counts` |
//! | unread bookkeeping | `seqs:{room}`, `own:{room}:{user}` | [`unread::write_live`], [`unread::write_own`] | [`unread::queue_count`] (Lua) | `unread_counts` |
//! | reactions | `reactions:{room}` | [`reactions::write`] | [`reactions::queue_many`] | `tests/messenger.rs` |
//! | notice | `notice:{room}` | [`notice::write`] | [`notice::queue_get`] | `tests/messenger.rs` |
//! | hidden messages | `hidden:{room}:{user}` | [`hidden::write`] | [`hidden::queue_range`] | `tests/messenger.rs` |
//! | joined seqs (unread_by) | `joined:{room}` | [`readers::write_joined`] | [`readers::queue`] | `tests/messenger.rs` |
//! | timeline | `timeline:{room}` | [`timeline::write`] | [`timeline::queue_at`], [`timeline::queue_slice`] | `tests/windows.rs`: `timeline_keeps_the_newest` |
//! | frame windows | `frames:{room}`, `uframes:{user}` | [`frames::add_to_room`], [`frames::add_to_user`], [`frames::redact`] | [`frames::queue_room_window`], [`frames::queue_user_window`] | `tests/windows.rs`: `frame_windows_and_redaction` |
//! | checkpoint, pointer | `checkpoint`, `{ns}:rm:generation` | [`generation::set_checkpoint`], [`generation::set_current`], [`generation::switch_if_caught_up`] | [`generation::checkpoint`], [`generation::queue_stand`], [`generation::current`] | `tests/windows.rs`: `generations_and_checkpoints` |
//! | history (read database) | [`sql::messages_table`], [`sql::CHECKPOINTS_TABLE`], [`sql::GENERATIONS_TABLE`] | `projector::history_projection` | `query::history` | `query/tests/it/messages.rs` |
//! | attachments | `attachment:{id}`, `uploads:pending`, `uploads:discarded` | [`attachments::write`], [`attachments::write_pending`], [`attachments::add_discarded`] | [`attachments::queue_get`], [`attachments::pending_before`], [`attachments::discarded`] | `tests/attachments.rs` (cotalk) |
//! | people (blocks, mutes, invites, invite tokens, user search) | see [`people`] | [`people`]'s `write_*`, `put_invite_token` | [`people`]'s `queue_*` | `tests/people_rebuild.rs` (cotalk) |
//! | revoked sessions (not a projection) | [`sessions::revoked_key`], [`sessions::revoked_subject`] | [`sessions::queue_revoke`] (command side) | [`sessions::queue_live`] | `tests/sessions_nodes.rs` (root: a node started later catches up from it) |
//! | live frames (NATS) | [`subjects::room_frames`], [`subjects::all_frames`] | `projector::frames` | `query::stream::fanout` | `tests/stream.rs` |
//! | presence, typing throttle, live notices (not a projection: ephemeral) | see [`live`] | `query::stream::presence`, `query::stream::typing`, `projector::frames` (block notices) | `query::stream` | `tests/people_presence.rs`, `tests/people_typing.rs` (cotalk) |
//!
//! Every projection is named by a [`ProjectionName`]. Unit tests of each
//! encoding are in the modules; `tests/roundtrip.rs` and `tests/windows.rs`
//! write each model to a real Redis with its writer and read it back with
//! its reader.

mod connection;
mod keys;
mod ops;
mod projection;
mod reply;

pub mod attachments;
pub mod frames;
pub mod friends;
pub mod generation;
pub mod hidden;
pub mod live;
pub mod meetup_rooms;
pub mod notice;
pub mod people;
pub mod profiles;
pub mod reactions;
pub mod readers;
pub mod rooms;
pub mod sessions;
pub mod sql;
pub mod subjects;
pub mod timeline;
pub mod unread;

pub use connection::{slot, RedisConn, RedisTarget, Timeouts};
pub use keys::{RedisKeys, FRAMES_LEN, TIMELINE_LEN, USER_FRAMES_LEN};
pub use projection::{ProjectionName, UnknownProjection};
pub use reply::{decode, ReadError, Replies};
