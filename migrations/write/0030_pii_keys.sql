-- Crypto-shredding (issue 18; ARCHITECTURE.md "Personal data"). One data
-- key per user, wrapped (XChaCha20-Poly1305) under the master key from the
-- configuration; personal fields in events are sealed under it. Deleting
-- the account deletes the row: every copy of those fields, in the log, on
-- the bus and in backups taken after the master key was rotated away or
-- without this table, becomes unreadable at once. Never in the log.
CREATE TABLE pii_keys (
    user_id    uuid        PRIMARY KEY,
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Since issue 18 `credentials.username` holds the keyed hash of the
-- username (hex HMAC-SHA-256 under a secret derived from the master key),
-- never the name: login finds the user by it, and its uniqueness still
-- keeps two live accounts from one name. Rows written before hold the
-- plain name until `cotalk pii encrypt-legacy` replaces it.
COMMENT ON COLUMN credentials.username IS
    'hex HMAC-SHA-256 of the username (plain name only in rows from before issue 18)';

REVOKE ALL ON pii_keys FROM PUBLIC;
