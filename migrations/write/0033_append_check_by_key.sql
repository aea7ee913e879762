-- The plan check of eventlog_append_batch (0032) read the batch's streams
-- through a join of the unnested plan with `streams`. Under the function's
-- generic plans Postgres costs the unnested arrays at ten rows and no more,
-- and joined them by hashing the whole `streams` table: a sequential scan of
-- every stream for every batch (0.37 ms per batch with 2 100 streams in
-- `bench e2e`, growing with the users and rooms). The streams are now looked
-- up by their ids (`stream_id = ANY(p_ids)`, the primary key), as the checked
-- path's snapshot does; the function is otherwise unchanged, and it keeps its
-- grants (CREATE OR REPLACE keeps the owner and privileges), so nodes of the
-- build before call it as they did.
CREATE OR REPLACE FUNCTION eventlog_append_batch(
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
            LEFT JOIN (SELECT stream_id, stream_type, version FROM streams
                       WHERE stream_id = ANY(p_ids)) s ON s.stream_id = p.stream_id) THEN
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

