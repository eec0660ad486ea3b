-- Per-connection staging table for COPY; emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS incoming (
    seq          integer NOT NULL,
    device_id    text NOT NULL,
    vehicle_id   bigint,
    fix_time     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    speed_kmh    real,
    course       real,
    altitude_m   real,
    accuracy_m   real,
    hdop         real,
    satellites   smallint,
    valid        boolean NOT NULL,
    backlog      boolean NOT NULL,
    protocol     text NOT NULL,
    attributes   jsonb NOT NULL
) ON COMMIT DELETE ROWS
