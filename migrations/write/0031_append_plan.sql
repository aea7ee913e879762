-- A planned append batch (eventlog/src/append.rs, `write_planned`) writes
-- without reading the streams first: its statement checks, with the rows it
-- inserts, that the streams stood where the batch's commits expected and that
-- the positions it drew are the ones it computed. This raises when they did
-- not, which aborts the statement; the batch is then written the checked way,
-- in a new transaction. The code is the batcher's to recognise.
CREATE FUNCTION eventlog_plan_holds(holds boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF holds IS NOT TRUE THEN
        RAISE EXCEPTION 'the append batch''s plan does not hold'
            USING ERRCODE = 'CTP01';
    END IF;
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION eventlog_plan_holds(boolean) FROM PUBLIC;
