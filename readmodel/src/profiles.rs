//! Profiles (`user:{id}`, JSON [`ProfileView`]) and usernames
//! (`username:{name}` → user id).

use crate::reply::{encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::UserId;
use domain::views::ProfileView;
use redis::Pipeline;

const WHAT: &str = "profile";

/// Write a profile.
pub fn put(pipe: &mut Pipeline, keys: &RedisKeys, profile: &ProfileView) {
    pipe.set(keys.user(profile.user_id), encode(profile))
        .ignore();
}

/// Record `user` as the owner of username `name`.
pub fn put_username(pipe: &mut Pipeline, keys: &RedisKeys, name: &str, user: UserId) {
    pipe.set(keys.username(name), user.to_string()).ignore();
}

/// Forget the owner of username `name` (its owner deleted the account).
pub fn del_username(pipe: &mut Pipeline, keys: &RedisKeys, name: &str) {
    pipe.del(keys.username(name)).ignore();
}

/// Record `user` as deleted (issue 18).
pub fn mark_deleted(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    pipe.sadd(keys.deleted_users(), user.to_string()).ignore();
}

/// Queue the question which of `users` (at least one) are deleted; take
/// the answer with [`take_deleted`].
pub fn queue_deleted(pipe: &mut Pipeline, keys: &RedisKeys, users: &[UserId]) {
    let mut cmd = redis::cmd("SMISMEMBER");
    cmd.arg(keys.deleted_users());
    for u in users {
        cmd.arg(u.to_string());
    }
    pipe.add_command(cmd);
}

/// Per user queued by [`queue_deleted`], in order: whether they are deleted.
pub fn take_deleted(replies: &mut Replies) -> Result<Vec<bool>, ReadError> {
    replies.take()
}

/// Queue the read of one profile; take it with [`take`].
pub fn queue_get(pipe: &mut Pipeline, keys: &RedisKeys, user: UserId) {
    pipe.get(keys.user(user));
}

/// The profile queued by [`queue_get`], if there is one.
pub fn take(replies: &mut Replies) -> Result<Option<ProfileView>, ReadError> {
    replies.json(WHAT)
}

/// Queue the read of several profiles (at least one); take them with [`take_many`].
pub fn queue_many(pipe: &mut Pipeline, keys: &RedisKeys, users: &[UserId]) {
    pipe.mget(users.iter().map(|u| keys.user(*u)).collect::<Vec<_>>());
}

/// The profiles queued by [`queue_many`], in the order asked (`None` where absent).
pub fn take_many(replies: &mut Replies) -> Result<Vec<Option<ProfileView>>, ReadError> {
    let raw: Vec<Option<String>> = replies.take()?;
    raw.iter()
        .map(|r| r.as_deref().map(|r| crate::decode(WHAT, r)).transpose())
        .collect()
}

/// Queue the read of a username's owner; take it with [`take_owner`].
pub fn queue_owner(pipe: &mut Pipeline, keys: &RedisKeys, name: &str) {
    pipe.get(keys.username(name));
}

/// The owner queued by [`queue_owner`], if the name is taken.
pub fn take_owner(replies: &mut Replies) -> Result<Option<UserId>, ReadError> {
    replies
        .take::<Option<String>>()?
        .map(|id| parse_id("username owner", &id))
        .transpose()
}
