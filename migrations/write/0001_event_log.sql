-- The event log: the only source of truth.
--
-- Partitioning: HASH (stream_id), 16 partitions.
--   * The hot path appends to many streams and reads one stream by
--     (stream_id, version): hashing spreads inserts over 16 smaller B-trees and
--     lets the primary key (stream_id, version) be a real, database-enforced
--     constraint (a unique index on a partitioned table must contain the
--     partition key; a range on time or position could not enforce it).
--   * Hash partitions need no maintenance: no partition has to be created ahead
--     of time, none fills up. The same key is how Citus distributes a table, so
--     the layout carries over when one primary is not enough.
--   * Archiving: history cannot be cut by time across hash partitions; an old
--     range is archived by copying `position <= N` to cold storage and deleting
--     it per partition (or, for a whole-log archive, by re-attaching the
--     partitions under a range-partitioned parent). See ARCHITECTURE.md.
--
-- Ordering: `position` comes from `events_position_seq`, but only inside the
-- append transaction after it has taken the log's advisory lock, so positions
-- become visible in strictly increasing order (see command/src/store/mod.rs).

CREATE SEQUENCE events_position_seq AS bigint;

CREATE TABLE events (
    position       bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    stream_id      uuid        NOT NULL,
    stream_type    text        NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    event_type     text        NOT NULL,
    schema_version smallint    NOT NULL CHECK (schema_version > 0),
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
) PARTITION BY HASH (stream_id);

DO $$
BEGIN
    FOR i IN 0..15 LOOP
        EXECUTE format(
            'CREATE TABLE events_p%s PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
            lpad(i::text, 2, '0'), i);
    END LOOP;
END $$;

-- read_all: a merge of 16 index scans in position order.
CREATE INDEX events_position_idx ON events (position);

-- One row per event id across the whole log. A unique index on the partitioned
-- table would have to include stream_id, which would only make ids unique per
-- stream, so the global rule lives in this narrow table, written in the same
-- transaction as the events.
CREATE TABLE event_ids (
    event_id uuid   PRIMARY KEY,
    position bigint NOT NULL
);

-- Current version of every stream: the expected-version check of a batch reads
-- and locks these rows; existence checks (does this user exist?) read them.
CREATE TABLE streams (
    stream_id   uuid        PRIMARY KEY,
    stream_type text        NOT NULL,
    version     bigint      NOT NULL,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Credentials never enter the log: written in the same transaction as the
-- user.registered event.
CREATE TABLE credentials (
    user_id       uuid        PRIMARY KEY,
    username      text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key answers, kept at least 24 h (a sweeper removes older rows).
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       smallint    NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Where the relay to NATS has got to.
CREATE TABLE relay_checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Nobody but the owner reads the log; the query role gets no grant here.
REVOKE ALL ON events, event_ids, streams, credentials, idempotency_keys, relay_checkpoints FROM PUBLIC;
