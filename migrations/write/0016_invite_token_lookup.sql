-- Invite links (issue 16): joining by a token finds the room whose
-- `room.invite_created` event carries the token's SHA-256.
--
-- A partial expression index on the log itself rather than a table of its
-- own: the entry is written by the very insert of the event, so it is in
-- the same transaction by construction (no side write to forget), a join
-- right after the link was created finds it (no projection lag), and it
-- costs nothing for every other event type. Only hashes are in the log, so
-- the index holds no secret.
CREATE INDEX events_invite_token_idx ON events ((payload->>'token_hash'))
    WHERE event_type = 'room.invite_created';
