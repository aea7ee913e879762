//! Variadic writes of a key's members: one `HSET`/`ZADD` for the members
//! present and one `HDEL`/`ZREM` for those gone, however many there are.
//! Set and hash members are independent of each other, so writing each
//! member's final state is the same as replaying the changes in order.

/// Split final states into members to write and members to remove.
fn split<M, V>(items: impl IntoIterator<Item = (M, Option<V>)>) -> (Vec<(M, V)>, Vec<M>) {
    let mut put = Vec::new();
    let mut del = Vec::new();
    for (m, v) in items {
        match v {
            Some(v) => put.push((m, v)),
            None => del.push(m),
        }
    }
    (put, del)
}

/// `HSET` the present fields of a hash and `HDEL` the absent ones.
pub(crate) fn hash(
    pipe: &mut redis::Pipeline,
    key: &str,
    items: impl IntoIterator<Item = (String, Option<String>)>,
) {
    let (put, del) = split(items);
    if !put.is_empty() {
        pipe.hset_multiple(key, &put).ignore();
    }
    if !del.is_empty() {
        pipe.hdel(key, del).ignore();
    }
}

/// `ZADD` the present members of a sorted set and `ZREM` the absent ones.
pub(crate) fn zset<S: redis::ToRedisArgs>(
    pipe: &mut redis::Pipeline,
    key: &str,
    items: impl IntoIterator<Item = (String, Option<S>)>,
) {
    let (put, del) = split(items);
    if !put.is_empty() {
        let put: Vec<(S, String)> = put.into_iter().map(|(m, s)| (s, m)).collect();
        pipe.zadd_multiple(key, &put).ignore();
    }
    if !del.is_empty() {
        pipe.zrem(key, del).ignore();
    }
}
