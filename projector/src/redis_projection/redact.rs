//! Stored frames follow edits and deletions: when a message is edited or
//! deleted, every `message_posted` and `message_edited` frame of it still in
//! its room's frame window is rewritten to the message's current body (empty
//! once deleted), in the same `MULTI`/`EXEC` as the edit or the deletion.
//!
//! Why here and not only when a stream replays: the window is the one place
//! besides the log that keeps a message's text, and text a deletion removed
//! must not stay readable in Redis (a dump, a replica, a later bug in a
//! reader; personal data is to be erasable). The replay also applies the
//! same rule to what it reads (`query::stream::view`), which covers windows
//! written before this rule existed.
//!
//! How: a Lua script run inside the batch's transaction scans the window
//! (at most [`FRAMES_LEN`](domain::views::FRAMES_LEN) members) for the
//! message's frames and splices the new body into each. Doing it in Redis
//! needs no read before the transaction, so it holds for the bulk path too,
//! where the previous batch's transaction may still be running while this
//! one is computed: scripts run in transaction order and see every earlier
//! write. The splice relies on how frames are serialised (serde_json: quotes
//! inside strings are always escaped, so `"body":"` only ever starts the
//! body field, and a `message_id` value is a bare UUID).

use domain::ids::MessageId;

/// KEYS[1] a frame window; ARGV[1] the message id; ARGV[2] its current body
/// as a JSON string literal (quotes included). Returns how many frames were
/// rewritten.
const SCRIPT: &str = r#"
local id = '"message_id":"' .. ARGV[1] .. '"'
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local n = 0
for i = 1, #items, 2 do
  local m = items[i]
  if string.find(m, id, 1, true)
    and (string.find(m, '"type":"message_posted"', 1, true)
      or string.find(m, '"type":"message_edited"', 1, true)) then
    local s, e = string.find(m, '"body":"', 1, true)
    if s then
      -- The closing quote: the first one not escaped by a backslash.
      local j = e + 1
      local c = string.byte(m, j)
      while c and c ~= 34 do
        if c == 92 then j = j + 2 else j = j + 1 end
        c = string.byte(m, j)
      end
      if c == 34 then
        local new = string.sub(m, 1, s + 6) .. ARGV[2] .. string.sub(m, j + 1)
        if new ~= m then
          redis.call('ZREM', KEYS[1], m)
          redis.call('ZADD', KEYS[1], items[i + 1], new)
          n = n + 1
        end
      end
    end
  end
end
return n
"#;

/// Queue, in the transaction `pipe`, the rewrite of message `id`'s frames in
/// the window `key` to `body` (empty for a deleted message).
pub(super) fn rewrite(pipe: &mut redis::Pipeline, key: String, id: MessageId, body: &str) {
    // A string always serialises.
    let literal = serde_json::to_string(body).unwrap_or_else(|_| "\"\"".into());
    pipe.cmd("EVAL")
        .arg(SCRIPT)
        .arg(1)
        .arg(key)
        .arg(id.to_string())
        .arg(literal)
        .ignore();
}
