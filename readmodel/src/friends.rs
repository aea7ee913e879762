//! Friend lists (`friends:{owner}`: other user id → JSON [`FriendEntryView`]).

use crate::ops;
use crate::reply::{decode, encode, parse_id, ReadError, Replies};
use crate::RedisKeys;
use domain::ids::UserId;
use domain::views::FriendEntryView;
use redis::Pipeline;
use std::collections::HashMap;

/// Write the final state of entries of `owner`'s list (`None` removes one).
pub fn write<'a>(
    pipe: &mut Pipeline,
    keys: &RedisKeys,
    owner: UserId,
    entries: impl IntoIterator<Item = (UserId, Option<&'a FriendEntryView>)>,
) {
    let items = entries
        .into_iter()
        .map(|(other, e)| (other.to_string(), e.map(encode)));
    ops::hash(pipe, &keys.friends(owner), items);
}

/// Queue the read of `owner`'s whole list; take it with [`take_list`].
pub fn queue_list(pipe: &mut Pipeline, keys: &RedisKeys, owner: UserId) {
    pipe.hgetall(keys.friends(owner));
}

/// The list queued by [`queue_list`], in no particular order.
pub fn take_list(replies: &mut Replies) -> Result<Vec<(UserId, FriendEntryView)>, ReadError> {
    let raw: HashMap<String, String> = replies.take()?;
    raw.iter()
        .map(|(other, entry)| {
            Ok((
                parse_id("friend id", other)?,
                decode("friend entry", entry)?,
            ))
        })
        .collect()
}
