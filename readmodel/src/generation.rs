//! The checkpoint of a generation of the `redis` projection (`checkpoint`,
//! the last applied global position, written in the same transaction as the
//! data it covers) and the pointer to the generation queries read
//! (`{namespace}:rm:generation`, 1 when absent).

use crate::reply::{ReadError, Replies};
use crate::{RedisConn, RedisKeys};
use redis::aio::ConnectionLike;
use redis::{AsyncCommands, Pipeline};

/// Checks the new generation's checkpoint has reached the old one's and
/// moves the pointer, atomically (KEYS: old checkpoint, new checkpoint,
/// pointer; ARGV: the new generation).
const SWITCH: &str = r"
    local old = tonumber(redis.call('GET', KEYS[1]) or '0')
    local new = tonumber(redis.call('GET', KEYS[2]) or '0')
    if new < old then return 0 end
    redis.call('SET', KEYS[3], ARGV[1])
    return 1";

/// Write the checkpoint (last in a batch's transaction).
pub fn set_checkpoint(pipe: &mut Pipeline, keys: &RedisKeys, position: i64) {
    pipe.set(keys.checkpoint(), position).ignore();
}

/// The stored checkpoint (`None` if the generation was never written).
pub async fn checkpoint<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &RedisKeys,
) -> Result<Option<i64>, ReadError> {
    Ok(conn.get(keys.checkpoint()).await?)
}

/// Where a reader stands: the generation the pointer names and the
/// checkpoint of the generation it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stand {
    /// The generation queries read (1 when the pointer is absent).
    pub generation: i64,
    /// The checkpoint of the generation read (0 when absent).
    pub checkpoint: i64,
}

/// Queue the read of the pointer and of `keys`' checkpoint; take them with
/// [`take_stand`]. First in a reader's transaction, so data, pointer and
/// checkpoint are one instant's.
pub fn queue_stand(pipe: &mut Pipeline, namespace: &str, keys: &RedisKeys) {
    pipe.get(RedisKeys::generation_pointer(namespace))
        .get(keys.checkpoint());
}

/// The values queued by [`queue_stand`].
pub fn take_stand(replies: &mut Replies) -> Result<Stand, ReadError> {
    let generation = replies.take::<Option<i64>>()?.unwrap_or(1);
    let checkpoint = replies.take::<Option<i64>>()?.unwrap_or(0);
    Ok(Stand {
        generation,
        checkpoint,
    })
}

/// The generation queries read, setting the pointer to 1 if absent.
pub async fn current<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    namespace: &str,
) -> Result<i64, ReadError> {
    let key = RedisKeys::generation_pointer(namespace);
    let _: bool = conn.set_nx(&key, 1).await?;
    Ok(conn.get(&key).await?)
}

/// The generation queries read, without creating the pointer (1 if absent).
pub async fn peek_current<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    namespace: &str,
) -> Result<i64, ReadError> {
    let g: Option<i64> = conn.get(RedisKeys::generation_pointer(namespace)).await?;
    Ok(g.unwrap_or(1))
}

/// Point queries at `generation`.
pub async fn set_current<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    namespace: &str,
    generation: i64,
) -> Result<(), ReadError> {
    let _: () = conn
        .set(RedisKeys::generation_pointer(namespace), generation)
        .await?;
    Ok(())
}

/// Point queries at generation `new`, but only if its checkpoint has
/// reached generation `old`'s: checked and moved in one Lua script, which
/// Redis runs atomically, so no reader can see `old` at a position above the
/// one it then sees `new` at. `false` (nothing changed) when `new` is behind.
pub async fn switch_if_caught_up<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    namespace: &str,
    old: i64,
    new: i64,
) -> Result<bool, ReadError> {
    let moved: i64 = redis::Script::new(SWITCH)
        .key(RedisKeys::new(namespace, old).checkpoint())
        .key(RedisKeys::new(namespace, new).checkpoint())
        .key(RedisKeys::generation_pointer(namespace))
        .arg(new)
        .invoke_async(conn)
        .await?;
    Ok(moved == 1)
}

/// The `SCAN MATCH` pattern of every key starting with `prefix`: its glob
/// characters escaped (namespaces seldom hold any, but be exact), then `*`.
fn glob_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Every key starting with `prefix`, sorted.
///
/// Under a cluster the scan runs on the master owning the prefix's slot:
/// with a tagged namespace (see [`crate::RedisTarget::check_namespace`])
/// that is where every key of the prefix lives.
pub async fn scan_keys(conn: &mut RedisConn, prefix: &str) -> Result<Vec<String>, ReadError> {
    let pattern = glob_prefix(prefix);
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, batch): (u64, Vec<String>) =
            redis::from_redis_value(&conn.on_owner_of(prefix, &scan).await?)?;
        keys.extend(batch.into_iter().filter(|k| k.starts_with(prefix)));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Remove every key of one generation (`SCAN` + `UNLINK`); returns how many.
pub async fn drop(
    conn: &mut RedisConn,
    namespace: &str,
    generation: i64,
) -> Result<u64, ReadError> {
    let keys = scan_keys(conn, RedisKeys::new(namespace, generation).prefix()).await?;
    let mut removed = 0;
    for chunk in keys.chunks(500) {
        let n: u64 = redis::cmd("UNLINK").arg(chunk).query_async(conn).await?;
        removed += n;
    }
    Ok(removed)
}

#[cfg(test)]
mod glob_tests {
    #[test]
    fn a_prefix_matches_itself_only() {
        assert_eq!(super::glob_prefix("{cotalk}:rm:g3:"), "{cotalk}:rm:g3:*");
        assert_eq!(super::glob_prefix("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }
}
