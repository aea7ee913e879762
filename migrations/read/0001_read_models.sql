-- Read database: derived data only. Tables of one projection generation are
-- created by the projector (messages_g{N}); these two small tables are shared
-- and replicate with the data, so a query on a replica sees the checkpoint
-- that matches the rows it reads.

CREATE TABLE projection_checkpoints (
    projection  text        NOT NULL,
    generation  bigint      NOT NULL,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, generation)
);

CREATE TABLE projection_generations (
    projection  text        PRIMARY KEY,
    generation  bigint      NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now()
);
