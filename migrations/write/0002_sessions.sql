-- Sessions never enter the log (ARCHITECTURE.md "Sessions"): one row per
-- login, revoked by a logout, a password change or a reused refresh token.
-- Rows stay after revocation so that a refresh token presented later is
-- still recognised (and refused) rather than unknown.
CREATE TABLE sessions (
    session_id         uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL,
    user_agent         text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_used_at       timestamptz NOT NULL DEFAULT now(),
    refresh_expires_at timestamptz NOT NULL,
    revoked_at         timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Every refresh token a session was given, by SHA-256 of the token (the
-- tokens are 256 random bits: a fast hash is enough, nothing to brute
-- force). `used_at` set: rotated away; presenting it again is a reuse and
-- revokes the session (OAuth 2.1).
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

REVOKE ALL ON sessions, refresh_tokens FROM PUBLIC;
