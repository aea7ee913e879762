-- The durable record of each projection rebuild in progress (see
-- projector/src/rebuild/record.rs). Earlier builds created this table on
-- first use, hence IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS projection_rebuilds (
    namespace  text        NOT NULL,
    projection text        NOT NULL,
    generation bigint      NOT NULL,
    previous   bigint      NOT NULL,
    phase      text        NOT NULL,
    shadow     boolean     NOT NULL,
    holder     text        NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, projection)
);
