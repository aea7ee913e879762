-- A planned append batch in one statement (eventlog/src/append.rs,
-- `write_once`). Called outside any transaction block, the statement is its
-- own transaction, committed by Postgres before it answers: the append lock is
-- taken, the rows written and the transaction committed without a round trip
-- to the batcher in between, so the lock is held only while this runs.
--
-- The batch was judged by the batcher on the commits' own expected versions.
-- This checks that every stream is where they expected it, of their type, or
-- absent where they expected version 0, and raises CTP01 when one is not
-- (nothing is written; the batch is then written the checked way). A taken
-- idempotency key or event id, or a version behind the stream, fails on a
-- unique key. The positions are drawn here, under the lock, one per event in
-- order: an event's position is `drawn[n]` for its ordinal n in the batch, a
-- stream's and an answer's the one of the ordinal the batcher gives them.
--
-- eventlog_plan_holds (0031) is no longer called by this build; it stays for
-- nodes of the build before while a deployment rolls.
CREATE FUNCTION eventlog_append_batch(
    lock_key bigint,
    lock_wait text,
    b_event_ids uuid[],
    b_stream_ids uuid[],
    b_stream_types text[],
    b_versions bigint[],
    b_event_types text[],
    b_schema_versions smallint[],
    b_payloads jsonb[],
    b_metadata jsonb[],
    s_ids uuid[],
    s_types text[],
    s_versions bigint[],
    s_ordinals bigint[],
    a_users uuid[],
    a_keys text[],
    a_hashes bytea[],
    a_statuses smallint[],
    a_bodies jsonb[],
    a_ordinals bigint[],
    p_ids uuid[],
    p_types text[],
    p_versions bigint[],
    OUT drawn bigint[],
    OUT at_micros bigint
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    PERFORM set_config('lock_timeout', lock_wait, true);
    PERFORM pg_advisory_xact_lock(lock_key);
    -- Each statement of a volatile function takes a new snapshot: this one
    -- sees every batch committed before the lock was granted.
    IF NOT (SELECT coalesce(bool_and(CASE WHEN s.stream_id IS NULL THEN p.version = 0
                                     ELSE s.stream_type = p.stream_type AND s.version = p.version END),
                            true)
            FROM unnest(p_ids, p_types, p_versions) AS p(stream_id, stream_type, version)
            LEFT JOIN streams s ON s.stream_id = p.stream_id) THEN
        RAISE EXCEPTION 'the append batch''s plan does not hold'
            USING ERRCODE = 'CTP01';
    END IF;
    drawn := ARRAY(SELECT nextval('events_position_seq')
                   FROM generate_series(1, cardinality(b_event_ids)));
    at_micros := (extract(epoch FROM now()) * 1000000)::bigint;

    INSERT INTO events (position, event_id, stream_id, stream_type, version,
                        event_type, schema_version, payload, metadata, recorded_at)
    SELECT drawn[u.n], u.event_id, u.stream_id, u.stream_type, u.version,
           u.event_type, u.schema_version, u.payload, u.metadata, now()
    FROM unnest(b_event_ids, b_stream_ids, b_stream_types, b_versions,
                b_event_types, b_schema_versions, b_payloads, b_metadata)
         WITH ORDINALITY AS u(event_id, stream_id, stream_type, version,
                              event_type, schema_version, payload, metadata, n);

    INSERT INTO event_ids (event_id, position)
    SELECT u.event_id, drawn[u.n]
    FROM unnest(b_event_ids) WITH ORDINALITY AS u(event_id, n);

    INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
    SELECT u.user_id, u.key, u.request_hash, u.status,
           CASE WHEN jsonb_typeof(u.body) = 'object'
                THEN u.body || jsonb_build_object('position', drawn[u.ordinal])
                ELSE u.body END
    FROM unnest(a_users, a_keys, a_hashes, a_statuses, a_bodies, a_ordinals)
         AS u(user_id, key, request_hash, status, body, ordinal);

    INSERT INTO streams (stream_id, stream_type, version, position, updated_at)
    SELECT u.stream_id, u.stream_type, u.version, drawn[u.ordinal], now()
    FROM unnest(s_ids, s_types, s_versions, s_ordinals)
         AS u(stream_id, stream_type, version, ordinal)
    ON CONFLICT (stream_id) DO UPDATE
    SET version = EXCLUDED.version, position = EXCLUDED.position,
        updated_at = EXCLUDED.updated_at;
END
$$;

REVOKE ALL ON FUNCTION eventlog_append_batch(
    bigint, text, uuid[], uuid[], text[], bigint[], text[], smallint[], jsonb[], jsonb[],
    uuid[], text[], bigint[], bigint[], uuid[], text[], bytea[], smallint[], jsonb[], bigint[],
    uuid[], text[], bigint[]
) FROM PUBLIC;
