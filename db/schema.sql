-- Ambulance Journey Monitor: the one place tables are defined.
-- Idempotent: applied by `amb-admin migrate` (and `make run` / `make test`) and by the PostGIS
-- container's init scripts. Every statement may run again on an existing database.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pgrouting;

-- ---------------------------------------------------------------------------------------------
-- Fleet
-- ---------------------------------------------------------------------------------------------

-- Plates are stored as Vietnam's national exchange writes them: no spaces or symbols, upper case,
-- e.g. 43A12345 (two-digit province code, series of one or two letters with an optional digit,
-- four or five digits). amb_normalise_plate() turns "43A-123.45" into that form.
CREATE OR REPLACE FUNCTION amb_normalise_plate(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT upper(regexp_replace(raw, '[^0-9A-Za-z]', '', 'g')) $$;

CREATE TABLE IF NOT EXISTS vehicles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plate       text NOT NULL UNIQUE
                CHECK (plate = amb_normalise_plate(plate) AND plate ~ '^[0-9]{2}[A-Z]{1,2}[0-9]?[0-9]{4,5}$'),
    call_sign   text NOT NULL UNIQUE CHECK (length(call_sign) BETWEEN 1 AND 32),
    kind        text NOT NULL DEFAULT 'ambulance'
                CHECK (kind IN ('ambulance', 'advanced_life_support', 'rapid_response', 'support')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devices (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),  -- tracker id or IMEI
    protocol    text NOT NULL DEFAULT 'mqtt_json'
                CHECK (protocol IN ('mqtt_json', 'owntracks', 'gt06', 'teltonika', 'h02', 'osmand')),
    vehicle_id  bigint REFERENCES vehicles (id) ON DELETE SET NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devices_vehicle_idx ON devices (vehicle_id);
-- MQTT password of a device (Mosquitto's PBKDF2-SHA512 form); the broker's password and ACL files
-- are generated from the registry (`amb-admin broker-auth`): a device may publish only its own topic.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS mqtt_password_hash text;
-- Token of an HTTP (OsmAnd / Traccar Client) device: SHA-256 hex of `amb_dev_...`, issued with
-- `amb-admin issue-device-token`. NULL: the device is accepted on its id alone (and counted).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS token_hash text;

-- Broker accounts of the project's own services (gateways, API processes).
CREATE TABLE IF NOT EXISTS mqtt_service_accounts (
    username       text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.-]{1,64}$'),
    role           text NOT NULL CHECK (role IN ('gateway', 'api')),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Positions: every stored fix, partitioned by day on fix time (UTC days).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS positions (
    device_id    text NOT NULL,
    vehicle_id   bigint,
    fix_time     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    geom         geometry(Point, 4326) NOT NULL,
    speed_kmh    real CHECK (speed_kmh >= 0),
    course       real CHECK (course >= 0 AND course < 360),
    altitude_m   real,
    accuracy_m   real CHECK (accuracy_m >= 0),
    hdop         real CHECK (hdop >= 0),
    satellites   smallint CHECK (satellites >= 0),
    valid        boolean NOT NULL DEFAULT true,
    late         boolean NOT NULL DEFAULT false,  -- older than the vehicle's latest when stored, or a device's backlog
    protocol     text NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- One fix per device and fix time: the de-duplication key of the gateway.
    PRIMARY KEY (device_id, fix_time)
) PARTITION BY RANGE (fix_time);

-- Renamed from `archived` (which said neither "late" nor "buffered"); databases made before keep
-- their rows under the new name.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'positions' AND column_name = 'archived') THEN
        ALTER TABLE positions RENAME COLUMN archived TO late;
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS positions_vehicle_time_idx ON positions (vehicle_id, fix_time);
CREATE INDEX IF NOT EXISTS positions_geom_idx ON positions USING gist (geom);
CREATE INDEX IF NOT EXISTS positions_fix_time_brin ON positions USING brin (fix_time);

-- Settings of the database itself (retention, partitions ahead), editable with UPDATE.
CREATE TABLE IF NOT EXISTS amb_settings (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
-- Vietnamese journey-monitoring rules require at least one year of journey data.
INSERT INTO amb_settings (key, value) VALUES
    ('positions_retention_days', '400'),
    ('positions_partitions_ahead_days', '7')
ON CONFLICT (key) DO NOTHING;

-- Creates the daily partition holding `day` if it is missing; returns its name.
-- Without stalls: `CREATE TABLE ... PARTITION OF` would take ACCESS EXCLUSIVE on `positions`, and
-- while it waits for a long reader every writer queues behind it. Instead the table is created on
-- its own, given a CHECK matching its bounds (so ATTACH skips the validation scan) and attached,
-- which takes only SHARE UPDATE EXCLUSIVE on `positions` (PostgreSQL >= 12): readers and writers
-- go on. The function's lock_timeout bounds any wait (e.g. behind other DDL); on a timeout it
-- raises lock_not_available and the caller retries (tracking/positions.py).
CREATE OR REPLACE FUNCTION amb_ensure_position_partition(day date) RETURNS text
LANGUAGE plpgsql
SET lock_timeout = '500ms'
AS $$
DECLARE
    part    text := format('positions_%s', to_char(day, 'YYYYMMDD'));
    bounds  text := format('positions_%s_bounds', to_char(day, 'YYYYMMDD'));
    lo      timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi      timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits
               WHERE inhrelid = to_regclass(part) AND inhparent = 'positions'::regclass) THEN
        RETURN part;
    END IF;
    -- Serialise concurrent creators (several gateways) on the same day.
    PERFORM pg_advisory_xact_lock(hashtext(part));
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE positions INCLUDING ALL)', part);
    ELSIF EXISTS (SELECT 1 FROM pg_inherits
                  WHERE inhrelid = to_regclass(part) AND inhparent = 'positions'::regclass) THEN
        RETURN part;  -- attached by another creator meanwhile
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = to_regclass(part) AND conname = bounds) THEN
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (fix_time >= %L AND fix_time < %L)',
                       part, bounds, lo, hi);
    END IF;
    EXECUTE format('ALTER TABLE positions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    -- The partition constraint now says the same; the new table is not visible to others yet.
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, bounds);
    RETURN part;
END
$$;

-- Creates partitions from yesterday to `ahead` days after today (UTC), and drops partitions whose
-- whole day is older than the retention. Run at start-up (below) and hourly by the gateway.
-- A partition whose lock cannot be had within lock_timeout is skipped (a NOTICE says so) and
-- tried again at the next run, so a long reader never makes writers queue behind this DDL for
-- longer than the timeout. Dropping needs DETACH first; here (inside a function) only the plain
-- DETACH is possible, which takes ACCESS EXCLUSIVE on `positions` for a moment, hence its short
-- timeout: tracking.positions.maintain_partitions detaches CONCURRENTLY from outside instead.
-- A partition left pending detach by an interrupted DETACH CONCURRENTLY is finalized (which, like
-- the concurrent detach, waits for the readers of `positions` without blocking its writers).
CREATE OR REPLACE FUNCTION amb_maintain_position_partitions() RETURNS TABLE (created int, dropped int)
LANGUAGE plpgsql
SET lock_timeout = '200ms'
AS $$
DECLARE
    today      date := (now() AT TIME ZONE 'UTC')::date;
    ahead      int := (SELECT value::int FROM amb_settings WHERE key = 'positions_partitions_ahead_days');
    retention  int := (SELECT value::int FROM amb_settings WHERE key = 'positions_retention_days');
    d          date;
    part       record;
BEGIN
    created := 0;
    dropped := 0;
    FOR d IN SELECT generate_series(today - 1, today + ahead, interval '1 day')::date LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_inherits
                       WHERE inhrelid = to_regclass(format('positions_%s', to_char(d, 'YYYYMMDD')))
                         AND inhparent = 'positions'::regclass) THEN
            BEGIN
                PERFORM amb_ensure_position_partition(d);
                created := created + 1;
            EXCEPTION WHEN lock_not_available THEN
                RAISE NOTICE 'partition of positions for % not created (lock timeout); next run', d;
            END;
        END IF;
    END LOOP;
    FOR part IN
        SELECT c.relname, i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS pending
        FROM pg_class c
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'positions'::regclass
        WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'positions'::regclass)
          AND c.relkind = 'r'
          AND c.relname ~ '^positions_[0-9]{8}$'
          AND to_date(substr(c.relname, 11), 'YYYYMMDD') < today - retention
    LOOP
        BEGIN
            IF part.pending THEN  -- an interrupted DETACH CONCURRENTLY: complete it
                EXECUTE format('ALTER TABLE positions DETACH PARTITION %I FINALIZE', part.relname);
            ELSIF part.attached THEN
                EXECUTE format('ALTER TABLE positions DETACH PARTITION %I', part.relname);
            END IF;
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'partition % of positions not dropped (lock timeout); next run', part.relname;
        END;
    END LOOP;
    RETURN NEXT;
END
$$;

SELECT * FROM amb_maintain_position_partitions();

-- The latest position of each vehicle: only ever moves forward in fix time.
CREATE TABLE IF NOT EXISTS vehicle_latest (
    vehicle_id   bigint PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    device_id    text NOT NULL,
    fix_time     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    geom         geometry(Point, 4326) NOT NULL,
    speed_kmh    real,
    course       real,
    altitude_m   real,
    accuracy_m   real,
    satellites   smallint,
    valid        boolean NOT NULL DEFAULT true,
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS vehicle_latest_geom_idx ON vehicle_latest USING gist (geom);

-- ---------------------------------------------------------------------------------------------
-- Places
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS hospitals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name_vi        text NOT NULL,
    name_en        text,
    category       text NOT NULL,
    has_emergency  boolean NOT NULL DEFAULT false,
    osm_ref        text,
    geom           geometry(Point, 4326) NOT NULL,
    UNIQUE (name_vi)
);
CREATE INDEX IF NOT EXISTS hospitals_geom_idx ON hospitals USING gist (geom);

CREATE TABLE IF NOT EXISTS stations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    is_sample  boolean NOT NULL DEFAULT true,  -- real 115 station sites are not public: label samples
    geom       geometry(Point, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS stations_geom_idx ON stations USING gist (geom);

-- Road lines as imported (drawn on the map; the routable pgRouting network builds on them).
CREATE TABLE IF NOT EXISTS roads (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text,
    highway   text NOT NULL,
    oneway    boolean NOT NULL DEFAULT false,
    length_m  double precision NOT NULL,
    source    text NOT NULL,  -- file the line came from
    geom      geometry(LineString, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS roads_geom_idx ON roads USING gist (geom);
ALTER TABLE roads ADD COLUMN IF NOT EXISTS geom_merc geometry(LineString, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
DROP INDEX IF EXISTS roads_geog_idx;
CREATE INDEX IF NOT EXISTS roads_merc_idx ON roads USING gist (geom_merc);

-- ---------------------------------------------------------------------------------------------
-- Access: API keys scoped by role (accounts and browser sessions build on the same roles).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    key_hash     text NOT NULL UNIQUE,  -- sha256 hex of the secret; the secret itself is never stored
    role         text NOT NULL CHECK (role IN ('admin', 'dispatcher', 'hospital', 'viewer')),
    hospital_id  bigint REFERENCES hospitals (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CHECK ((role = 'hospital') = (hospital_id IS NOT NULL))
);

-- ---------------------------------------------------------------------------------------------
-- Tracking core: geofences, journeys, unit state, events
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS geofences (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind             text NOT NULL CHECK (kind IN ('hospital_area', 'station', 'scene', 'service_area',
                                                   'restricted_zone', 'speed_zone')),
    shape            jsonb NOT NULL,  -- as defined: polygon, circle (centre, radius) or corridor (line, width)
    geom             geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    hysteresis_m     real NOT NULL CHECK (hysteresis_m >= 0),  -- enter this far inside, exit this far outside
    speed_limit_kmh  real CHECK (speed_limit_kmh > 0),
    hospital_id      bigint REFERENCES hospitals (id) ON DELETE CASCADE,
    station_id       bigint REFERENCES stations (id) ON DELETE CASCADE,
    journey_id       bigint,  -- the scene of one journey
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Web Mercator copies for fast planar point-in-polygon tests, kept in step by a trigger: the
-- geofence grown by its hysteresis (a fix inside it sees the geofence) and shrunk by it (a fix
-- inside that is deep in). A Mercator unit is 1 / cos(latitude) metres.
ALTER TABLE geofences ADD COLUMN IF NOT EXISTS outer_merc geometry(Geometry, 3857);
ALTER TABLE geofences ADD COLUMN IF NOT EXISTS inner_merc geometry(Geometry, 3857);
ALTER TABLE geofences DROP COLUMN IF EXISTS geom_merc;
CREATE OR REPLACE FUNCTION amb_geofence_merc() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    merc  geometry := ST_Transform(NEW.geom, 3857);
    units double precision := NEW.hysteresis_m / cos(radians(ST_Y(ST_Centroid(NEW.geom))));
BEGIN
    NEW.outer_merc := ST_Buffer(merc, units, 'quad_segs=4');
    NEW.inner_merc := ST_Buffer(merc, -units, 'quad_segs=4');
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS geofences_merc ON geofences;
CREATE TRIGGER geofences_merc BEFORE INSERT OR UPDATE OF geom, hysteresis_m ON geofences
    FOR EACH ROW EXECUTE FUNCTION amb_geofence_merc();
UPDATE geofences SET hysteresis_m = hysteresis_m WHERE outer_merc IS NULL;  -- fills them by the trigger
DROP INDEX IF EXISTS geofences_geog_idx;
DROP INDEX IF EXISTS geofences_merc_idx;
CREATE INDEX IF NOT EXISTS geofences_outer_idx ON geofences USING gist (outer_merc) WHERE active;
CREATE UNIQUE INDEX IF NOT EXISTS geofences_hospital_default ON geofences (hospital_id) WHERE kind = 'hospital_area';
CREATE UNIQUE INDEX IF NOT EXISTS geofences_station_default ON geofences (station_id) WHERE kind = 'station';

CREATE TABLE IF NOT EXISTS journeys (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id               bigint NOT NULL REFERENCES vehicles (id),
    status                   text NOT NULL DEFAULT 'dispatched'
                             CHECK (status IN ('dispatched', 'en_route', 'on_scene', 'transporting',
                                               'at_hospital', 'returning', 'completed', 'cancelled')),
    priority                 smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3),  -- 1 most urgent
    incident_geom            geometry(Point, 4326) NOT NULL,
    incident_address         text,
    scene_radius_m           real NOT NULL DEFAULT 150 CHECK (scene_radius_m BETWEEN 20 AND 2000),
    destination_hospital_id  bigint REFERENCES hospitals (id),
    note                     text,
    created_by               text,
    -- NEMSIS-style timestamps, set by the first transition into each status.
    dispatched_at            timestamptz NOT NULL DEFAULT now(),
    en_route_at              timestamptz,
    on_scene_at              timestamptz,
    transporting_at          timestamptz,
    at_hospital_at           timestamptz,
    returning_at             timestamptz,
    completed_at             timestamptz,
    cancelled_at             timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS journeys_vehicle_idx ON journeys (vehicle_id, dispatched_at DESC);
-- Speed learning reads the journeys of each hour it learns (roads/sql/learn_traversals.sql).
CREATE INDEX IF NOT EXISTS journeys_dispatched_idx ON journeys (dispatched_at);
CREATE INDEX IF NOT EXISTS journeys_destination_idx ON journeys (destination_hospital_id)
    WHERE status NOT IN ('completed', 'cancelled');
-- One open journey per vehicle.
CREATE UNIQUE INDEX IF NOT EXISTS journeys_one_open_per_vehicle ON journeys (vehicle_id)
    WHERE status NOT IN ('completed', 'cancelled');

CREATE TABLE IF NOT EXISTS journey_status_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id   bigint NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    at           timestamptz NOT NULL,  -- when it happened (the fix time for automatic rules)
    source       text NOT NULL CHECK (source IN ('rule', 'dispatcher', 'crew')),
    rule         text,  -- which automatic rule, or the actor for manual changes
    device_id    text,  -- the fix that caused it
    fix_time     timestamptz,
    logged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS journey_status_log_journey_idx ON journey_status_log (journey_id, at);

-- What the tracking worker remembers per vehicle between batches.
CREATE TABLE IF NOT EXISTS vehicle_state (
    vehicle_id        bigint PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    unit_status       text NOT NULL DEFAULT 'available'
                      CHECK (unit_status IN ('available', 'on_journey', 'out_of_service')),
    evaluated_until   timestamptz,  -- fix time of the newest evaluated fix
    rules             jsonb NOT NULL DEFAULT '{}'::jsonb,  -- per-rule memory (dwell, episodes...)
    geofences         bigint[] NOT NULL DEFAULT '{}',  -- geofences the vehicle is inside
    offline_since     timestamptz,  -- set while a device-offline event is open
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Fixes committed but not yet evaluated by the tracking worker (filled in the same transaction,
-- with what the worker needs, so it never has to look the fixes up in positions).
CREATE TABLE IF NOT EXISTS tracking_inbox (
    vehicle_id  bigint NOT NULL,
    device_id   text NOT NULL,
    fix_time    timestamptz NOT NULL,
    PRIMARY KEY (vehicle_id, fix_time, device_id)
);
ALTER TABLE tracking_inbox ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326);
ALTER TABLE tracking_inbox ADD COLUMN IF NOT EXISTS speed_kmh real;
ALTER TABLE tracking_inbox ADD COLUMN IF NOT EXISTS valid boolean NOT NULL DEFAULT true;
ALTER TABLE tracking_inbox ADD COLUMN IF NOT EXISTS attributes jsonb NOT NULL DEFAULT '{}'::jsonb;
DELETE FROM tracking_inbox WHERE geom IS NULL;  -- rows queued before the columns existed
CREATE INDEX IF NOT EXISTS tracking_inbox_time_idx ON tracking_inbox (fix_time);

CREATE TABLE IF NOT EXISTS events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,  -- when it happened (fix time), not when it was computed
    kind         text NOT NULL,
    severity     text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    vehicle_id   bigint REFERENCES vehicles (id) ON DELETE CASCADE,
    journey_id   bigint REFERENCES journeys (id) ON DELETE SET NULL,
    geofence_id  bigint REFERENCES geofences (id) ON DELETE SET NULL,
    hospital_id  bigint REFERENCES hospitals (id) ON DELETE SET NULL,
    geom         geometry(Point, 4326),
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS events_at_idx ON events (at DESC);
CREATE INDEX IF NOT EXISTS events_vehicle_idx ON events (vehicle_id, at DESC);
CREATE INDEX IF NOT EXISTS events_journey_idx ON events (journey_id, at) WHERE journey_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_kind_idx ON events (kind, at DESC);

-- ---------------------------------------------------------------------------------------------
-- Routable road network (pgRouting): `amb-admin import-roads` fills it from OSM and GeoJSON
-- files, replacing it in one transaction. Ids are derived from coordinates (rounded to 1e-7
-- degrees), so re-importing the same data keeps every id and the learned speeds stay attached.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS road_vertices (
    id    bigint PRIMARY KEY,
    geom  geometry(Point, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS road_vertices_geom_idx ON road_vertices USING gist (geom);

CREATE TABLE IF NOT EXISTS road_edges (
    id              bigint PRIMARY KEY,
    source          bigint NOT NULL,
    target          bigint NOT NULL,
    geom            geometry(LineString, 4326) NOT NULL,  -- drawn from source to target
    length_m        double precision NOT NULL CHECK (length_m >= 0),
    highway         text NOT NULL,
    name            text,
    oneway          smallint NOT NULL DEFAULT 0 CHECK (oneway IN (0, 1)),  -- 1: only source -> target
    maxspeed_kmh    real CHECK (maxspeed_kmh > 0),
    speed_kmh       real NOT NULL CHECK (speed_kmh > 0),  -- the profile speed behind the costs
    cost_s          double precision NOT NULL,  -- seconds from source to target
    reverse_cost_s  double precision NOT NULL,  -- seconds from target to source, -1 when not allowed
    source_file     text NOT NULL,
    -- Both ends in the largest strongly connected component (set by the import): snapping prefers
    -- these over one-way stubs where roads leave an extract.
    main_component  boolean NOT NULL DEFAULT false,
    CHECK ((oneway = 1) = (reverse_cost_s < 0))
);
-- Added after the table first shipped: databases created before get it here.
ALTER TABLE road_edges ADD COLUMN IF NOT EXISTS main_component boolean NOT NULL DEFAULT false;
-- Planar copy for nearest-edge (KNN) snapping; a Mercator unit is 1 / cos(latitude) metres.
ALTER TABLE road_edges ADD COLUMN IF NOT EXISTS geom_merc geometry(LineString, 3857)
    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED;
-- The edge's area for learned class factors: a 0.02-degree cell (about 2 km) of its start.
ALTER TABLE road_edges ADD COLUMN IF NOT EXISTS area integer
    GENERATED ALWAYS AS (floor(ST_X(ST_StartPoint(geom)) * 50)::int * 100000
                         + floor(ST_Y(ST_StartPoint(geom)) * 50)::int) STORED;
-- The direction (degrees clockwise from north) of the edge's first and last 10 m, drawn source ->
-- target: the turn a route makes from one edge into the next (road_turn, roads/timing.py).
ALTER TABLE road_edges ADD COLUMN IF NOT EXISTS start_bearing double precision
    GENERATED ALWAYS AS (degrees(ST_Azimuth(
        ST_StartPoint(ST_Transform(geom, 3857)),
        ST_LineInterpolatePoint(ST_Transform(geom, 3857), least(1.0, 10.0 / greatest(length_m, 0.01)))))) STORED;
ALTER TABLE road_edges ADD COLUMN IF NOT EXISTS end_bearing double precision
    GENERATED ALWAYS AS (degrees(ST_Azimuth(
        ST_LineInterpolatePoint(ST_Transform(geom, 3857), greatest(0.0, 1.0 - 10.0 / greatest(length_m, 0.01))),
        ST_EndPoint(ST_Transform(geom, 3857))))) STORED;
-- The turn from a direction of arrival into a direction of leaving (degrees clockwise from north):
-- 0 straight on (within 35 degrees), 1 right, 2 left, 3 back (beyond 150 degrees); NULL when
-- either is unknown (an edge too short to have a direction). roads/timing.py's turn_class agrees.
CREATE OR REPLACE FUNCTION road_turn(arrive double precision, leave double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN d IS NULL THEN NULL WHEN abs(d) <= 35 THEN 0 WHEN abs(d) > 150 THEN 3
                WHEN d > 0 THEN 1 ELSE 2 END::smallint
    FROM (SELECT (mod(mod((leave - arrive)::numeric, 360) + 540, 360) - 180)::float8 AS d) t
$$;
CREATE INDEX IF NOT EXISTS road_edges_geom_idx ON road_edges USING gist (geom);
CREATE INDEX IF NOT EXISTS road_edges_merc_idx ON road_edges USING gist (geom_merc);
CREATE INDEX IF NOT EXISTS road_edges_source_idx ON road_edges (source);
CREATE INDEX IF NOT EXISTS road_edges_target_idx ON road_edges (target);

-- OSM turn restrictions on the network (roads/restrictions.py): the edges driven in order, from
-- `from` to `to`, with their directions; kept across imports of other files, replaced with --replace.
CREATE TABLE IF NOT EXISTS road_turn_restrictions (
    osm_id       bigint PRIMARY KEY,
    restriction  text NOT NULL CHECK (restriction LIKE 'no\_%' OR restriction LIKE 'only\_%'),
    edges        bigint[] NOT NULL,
    forwards     boolean[] NOT NULL,
    source_file  text NOT NULL DEFAULT '',
    CHECK (cardinality(edges) >= 2 AND cardinality(edges) = cardinality(forwards))
);
-- The rows that turn the plain graph into one where no route drives a restricted sequence (rebuilt
-- by every import, roads/restrictions.py): a direction of a road edge between two vertices, drawn as
-- the edge is (source -> target is its forward direction); `split`: it replaces the edge's plain row
-- (a `from` arc arriving at its state's vertex), else a copy leaving a state's vertex.
CREATE TABLE IF NOT EXISTS road_turn_arcs (
    id       bigint PRIMARY KEY,
    edge_id  bigint NOT NULL,
    forward  boolean NOT NULL,
    source   bigint NOT NULL,
    target   bigint NOT NULL,
    split    boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS road_turn_arcs_edge_idx ON road_turn_arcs (edge_id);

-- Speeds learned from the fleet's own traces, per edge, direction and hour of day (Asia/Ho_Chi_Minh).
-- No foreign key: a re-import replaces road_edges, and rows of edges that disappear simply stop
-- matching. Routing uses a row once it has enough samples (AMB_ROUTING_LEARNED_MIN_SAMPLES).
CREATE TABLE IF NOT EXISTS road_speeds (
    edge_id     bigint NOT NULL,
    forward     boolean NOT NULL,  -- true: source -> target
    hour        smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    speed_kmh   real CHECK (speed_kmh > 0),
    samples     integer NOT NULL DEFAULT 0 CHECK (samples >= 0),
    p50_kmh     real,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edge_id, forward, hour)
);
-- 'edge': learned from the edge's own traversals (its hour, or the hours next to it); 'class': its
-- class's factor in its area over its profile (road_area_factors), for want of enough of its own.
ALTER TABLE road_speeds ADD COLUMN IF NOT EXISTS basis text NOT NULL DEFAULT 'edge'
    CHECK (basis IN ('edge', 'class'));

-- Traversal time learned incrementally (roads/speed_learning.py): per edge, direction and UTC
-- hour, the seconds and metres the fleet spent on it, stops included, attributed between
-- consecutive fixes. Each hour of fixes is read once (plus `learn_reprocess_hours` again for late
-- uploads); road_speeds and road_area_factors are rebuilt from this small table.
CREATE TABLE IF NOT EXISTS road_traversal_hours (
    edge_id     bigint NOT NULL,
    forward     boolean NOT NULL,
    hour_start  timestamptz NOT NULL,  -- the UTC hour of the later fix of each pair
    seconds     double precision NOT NULL CHECK (seconds >= 0),
    metres      double precision NOT NULL CHECK (metres >= 0),
    pairs       integer NOT NULL CHECK (pairs > 0),
    PRIMARY KEY (edge_id, forward, hour_start)
);
CREATE INDEX IF NOT EXISTS road_traversal_hours_hour_idx ON road_traversal_hours (hour_start);
-- How far the incremental learning has read `positions` (one row).
CREATE TABLE IF NOT EXISTS road_learning_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    learned_until  timestamptz NOT NULL
);
-- How much slower than its profile each class runs per area (about 2 km square, `road_edges.area`;
-- area -1: the whole network) and local hour: what fills road_speeds (basis 'class') for the edges
-- without enough traversals of their own.
CREATE TABLE IF NOT EXISTS road_area_factors (
    highway  text NOT NULL,
    area     integer NOT NULL,
    hour     smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    factor   real NOT NULL CHECK (factor > 0),
    samples  integer NOT NULL,
    PRIMARY KEY (highway, area, hour)
);
-- Junction delays by turn (roads/speed_learning.py): per edge, the direction it is driven, the turn
-- taken at its end (road_turn) and UTC hour, the delay of the crossings (the time the distance does
-- not explain at the fixes' speeds: a red light, slowing for the corner) and how many there were.
CREATE TABLE IF NOT EXISTS road_turn_hours (
    edge_id          bigint NOT NULL,
    forward          boolean NOT NULL,
    turn             smallint NOT NULL CHECK (turn BETWEEN 0 AND 3),
    hour_start       timestamptz NOT NULL,
    delay_seconds    double precision NOT NULL CHECK (delay_seconds >= 0),
    crossings        integer NOT NULL CHECK (crossings > 0),
    PRIMARY KEY (edge_id, forward, turn, hour_start)
);
CREATE INDEX IF NOT EXISTS road_turn_hours_hour_idx ON road_turn_hours (hour_start);
-- Of those crossings, the ones that stopped (a delay of 8 s or more: a red light, not a corner),
-- and their delay: how long a vehicle waiting at that stop line still has to wait (roads/timing.py).
ALTER TABLE road_turn_hours ADD COLUMN IF NOT EXISTS stops integer NOT NULL DEFAULT 0;
ALTER TABLE road_turn_hours ADD COLUMN IF NOT EXISTS stop_seconds double precision NOT NULL DEFAULT 0;
-- ... and the sum of their squares: how widely the stops' waits spread (rows learned before it
-- have 0, read as "not known").
ALTER TABLE road_turn_hours ADD COLUMN IF NOT EXISTS stop_squares double precision NOT NULL DEFAULT 0;
-- The mean wait of a stop at the end of an edge (driven forward or not) over the learning period;
-- edge_id 0 (forward true): the network's.
CREATE TABLE IF NOT EXISTS road_junction_stops (
    edge_id      bigint NOT NULL,
    forward      boolean NOT NULL,
    mean_stop_s  real NOT NULL CHECK (mean_stop_s >= 0),
    stops        integer NOT NULL,
    PRIMARY KEY (edge_id, forward)
);
-- The standard deviation of those waits; NULL where the crossings learned do not tell it.
ALTER TABLE road_junction_stops ADD COLUMN IF NOT EXISTS sd_stop_s real CHECK (sd_stop_s >= 0);
-- What a turn costs at the end of an edge against all the turns taken there (delay per crossing
-- over theirs), over the learning period; edge_id 0 (forward true): the network's, by turn.
CREATE TABLE IF NOT EXISTS road_turn_factors (
    edge_id    bigint NOT NULL,
    forward    boolean NOT NULL,
    turn       smallint NOT NULL CHECK (turn BETWEEN 0 AND 3),
    factor     real NOT NULL CHECK (factor >= 0),
    crossings  integer NOT NULL,
    PRIMARY KEY (edge_id, forward, turn)
);
-- The junction wait (roads/speed_learning.py): the share of an edge's traversal time spent
-- stopped, which is spent at its end (a red light, the queue before it). A route starting part-way
-- along an edge still has all of it ahead; one ending part-way has none of it (roads/timing.py).
ALTER TABLE road_traversal_hours ADD COLUMN IF NOT EXISTS stopped_seconds double precision NOT NULL DEFAULT 0;
ALTER TABLE road_speeds ADD COLUMN IF NOT EXISTS wait_share real NOT NULL DEFAULT 0;
ALTER TABLE road_area_factors ADD COLUMN IF NOT EXISTS wait_share real NOT NULL DEFAULT 0;
-- The costs (seconds; -1 = not allowed) of edges at local hours, both directions, with the share
-- of each that is the wait at the edge's end: what roads/sql/route_edges.sql gives pgRouting at
-- that hour (keep the two in step). For costing a route at the time the vehicle reaches each edge
-- (roads/timing.py).
-- (Its first version returned no wait shares: replaced once, not dropped at every start while
-- trackers call it.)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'road_edge_costs' AND array_length(proallargtypes, 1) = 7) THEN
        DROP FUNCTION road_edge_costs(bigint[], int[], int);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION road_edge_costs(edges bigint[], hours int[], min_samples int)
RETURNS TABLE (id bigint, hour int, cost double precision, reverse_cost double precision,
               wait_share real, reverse_wait_share real)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT e.id, h.hour,
           CASE WHEN f.speed_kmh > 0 THEN e.length_m * 3.6 / f.speed_kmh ELSE e.cost_s END,
           CASE WHEN e.reverse_cost_s < 0 THEN -1
                WHEN r.speed_kmh > 0 THEN e.length_m * 3.6 / r.speed_kmh
                ELSE e.reverse_cost_s END,
           CASE WHEN f.speed_kmh > 0 THEN f.wait_share ELSE 0 END,
           CASE WHEN r.speed_kmh > 0 THEN r.wait_share ELSE 0 END
    FROM road_edges e
    CROSS JOIN unnest(hours) AS h(hour)
    LEFT JOIN road_speeds f ON f.edge_id = e.id AND f.forward AND f.hour = h.hour AND f.samples >= min_samples
    LEFT JOIN road_speeds r ON r.edge_id = e.id AND NOT r.forward AND r.hour = h.hour AND r.samples >= min_samples
    WHERE e.id = ANY(edges)
$$;

-- ---------------------------------------------------------------------------------------------
-- ETAs of journeys heading somewhere (tracking/eta.py): the route last computed and what is left.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS journey_eta (
    journey_id        bigint PRIMARY KEY REFERENCES journeys (id) ON DELETE CASCADE,
    target_kind       text NOT NULL CHECK (target_kind IN ('scene', 'hospital')),
    route_geom        geometry(LineString, 4326),
    route_distance_m  double precision NOT NULL,
    route_duration_s  double precision NOT NULL,
    computed_at       timestamptz NOT NULL,  -- when pgRouting computed the route
    fix_time          timestamptz NOT NULL,  -- the fix the remaining figures are for
    remaining_m       double precision NOT NULL,
    remaining_s       double precision NOT NULL,
    arrival_at        timestamptz NOT NULL   -- predicted: fix_time + remaining_s
);
-- The arrival window (tracking/eta_calibration.py): p10 and p90 of the fleet's recent arrivals
-- for ETAs like this one. `remaining_s` and `arrival_at` are calibrated too (the median).
ALTER TABLE journey_eta ADD COLUMN IF NOT EXISTS arrival_early_at timestamptz;
ALTER TABLE journey_eta ADD COLUMN IF NOT EXISTS arrival_late_at timestamptz;
-- The route's profile (roads/routing.py Route.profile): metres and seconds from its start at each
-- end of its pieces, so that a fix along it leaves what the route says is left from there (a red
-- light's wait at its junction), not a share of the time by distance.
ALTER TABLE journey_eta ADD COLUMN IF NOT EXISTS route_profile_m double precision[];
ALTER TABLE journey_eta ADD COLUMN IF NOT EXISTS route_profile_s double precision[];

-- Each routed ETA as predicted (raw, before calibration), until its journey arrives or ends.
CREATE TABLE IF NOT EXISTS eta_predictions (
    journey_id   bigint NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    target_kind  text NOT NULL CHECK (target_kind IN ('scene', 'hospital')),
    fix_time     timestamptz NOT NULL,
    predicted_s  double precision NOT NULL,
    PRIMARY KEY (journey_id, fix_time)
);
-- Predictions whose arrival is known: what calibration learns from.
CREATE TABLE IF NOT EXISTS eta_outcomes (
    at           timestamptz NOT NULL,  -- the fix the prediction was made from
    predicted_s  double precision NOT NULL CHECK (predicted_s > 0),
    actual_s     double precision NOT NULL CHECK (actual_s > 0)
);
CREATE INDEX IF NOT EXISTS eta_outcomes_at_idx ON eta_outcomes (at);
-- What was shown (the calibrated ETA and its window, seconds from the fix), and which journey leg
-- it was for: `amb-admin eta-accuracy` reports the ETAs as users saw them, and the first of each
-- leg (at dispatch for the scene, on leaving it for the hospital) apart.
ALTER TABLE eta_predictions ADD COLUMN IF NOT EXISTS shown_s double precision;
ALTER TABLE eta_predictions ADD COLUMN IF NOT EXISTS early_s double precision;
ALTER TABLE eta_predictions ADD COLUMN IF NOT EXISTS late_s double precision;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS journey_id bigint;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS target_kind text;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS first_of_leg boolean NOT NULL DEFAULT false;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS shown_s double precision;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS early_s double precision;
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS late_s double precision;
-- Per target (scene, hospital; 'any' = both), local hour band (hour / 3; -1 = every hour) and
-- length band (eta_length_band; -1 = every band): p10 and p90 of actual / predicted, and the
-- correction factor of the ETA. Rebuilt every hour from eta_outcomes: its first version, without
-- the target, is replaced whole.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.tables WHERE table_name = 'eta_calibration')
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_name = 'eta_calibration' AND column_name = 'target_kind') THEN
        DROP TABLE eta_calibration;
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS eta_calibration (
    target_kind  text NOT NULL CHECK (target_kind IN ('scene', 'hospital', 'any')),
    hour_band    smallint NOT NULL,
    length_band  smallint NOT NULL,
    q10          real NOT NULL,
    factor       real NOT NULL,  -- the correction of the ETA (tracking/sql/eta_calibrate.sql)
    q90          real NOT NULL,
    samples      integer NOT NULL,
    PRIMARY KEY (target_kind, hour_band, length_band)
);
-- Each vehicle's own pace against the fleet's (tracking/eta_calibration.py): the median of its
-- outcomes' actual / predicted over the fleet's, shrunk towards 1 where it has few. The vehicle of
-- each outcome is kept for it.
ALTER TABLE eta_outcomes ADD COLUMN IF NOT EXISTS vehicle_id bigint;
CREATE TABLE IF NOT EXISTS eta_vehicle_factors (
    vehicle_id  bigint PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    factor      real NOT NULL CHECK (factor > 0),
    samples     integer NOT NULL
);
CREATE OR REPLACE FUNCTION eta_hour_band(at timestamptz) RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (extract(hour FROM at AT TIME ZONE 'Asia/Ho_Chi_Minh')::int / 3)::smallint
$$;
CREATE OR REPLACE FUNCTION eta_length_band(predicted_s double precision) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN predicted_s < 120 THEN 0 WHEN predicted_s < 300 THEN 1
                WHEN predicted_s < 900 THEN 2 ELSE 3 END::smallint
$$;
DROP FUNCTION IF EXISTS eta_window(timestamptz, double precision);

-- ---------------------------------------------------------------------------------------------
-- Accounts: people who sign in to the web app, with the roles of the API keys; their browser
-- sessions; the login throttle; caller tracking links; request counters of public endpoints.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.@-]{3,64}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash  text NOT NULL,  -- argon2id, PHC string ($argon2id$v=19$m=...); never the password
    role           text NOT NULL CHECK (role IN ('admin', 'dispatcher', 'hospital', 'viewer')),
    hospital_id    bigint REFERENCES hospitals (id),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz,
    CHECK ((role = 'hospital') = (hospital_id IS NOT NULL))
);
-- Usernames are unique whatever their case: "Lan" and "lan" are one account.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (lower(username));

-- A browser session: the cookie holds a random secret, the row only its SHA-256. Sliding expiry
-- (last_seen_at + the idle lifetime), capped by an absolute lifetime from created_at.
CREATE TABLE IF NOT EXISTS sessions (
    id            text PRIMARY KEY,  -- sha256 hex of the cookie's secret
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,  -- sent back in X-CSRF-Token on unsafe requests
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    client_ip     text,
    user_agent    text
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires_idx ON sessions (expires_at);

-- Failed logins, per (lower-cased) username as typed and per client address: shared by every API
-- process, so the limit holds however many run.
CREATE TABLE IF NOT EXISTS login_failures (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    username   text NOT NULL,
    client_ip  text NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_username_idx ON login_failures (username, at);
CREATE INDEX IF NOT EXISTS login_failures_ip_idx ON login_failures (client_ip, at);
CREATE INDEX IF NOT EXISTS login_failures_at_idx ON login_failures (at);

-- Who issued an API key through the API (the CLI leaves it empty).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS created_by text;

-- A caller's tracking link: public and unguessable (only the SHA-256 of its token is kept). One
-- live link per journey; it stops working when revoked or when the journey closes.
CREATE TABLE IF NOT EXISTS caller_links (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id  bigint NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS caller_links_one_live ON caller_links (journey_id) WHERE revoked_at IS NULL;

-- Fixed-window request counters of the public endpoints (per client address). Unlogged: losing
-- them in a crash only resets a minute's counts.
CREATE UNLOGGED TABLE IF NOT EXISTS request_counters (
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX IF NOT EXISTS request_counters_window_idx ON request_counters (window_start);

-- Dead letters: what a stage could not process, kept with its raw input and the error so that
-- nothing acknowledged is silently lost and an admin can look and replay
-- (`amb-admin quarantine list|replay`). stage: 'gateway' (a fix the database rejected),
-- 'tracker' (an inbox row whose evaluation kept failing).
CREATE TABLE IF NOT EXISTS quarantine (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage        text NOT NULL CHECK (stage IN ('gateway', 'tracker')),
    protocol     text,
    device_id    text,
    vehicle_id   bigint,
    fix_time     timestamptz,
    payload      jsonb NOT NULL,        -- the fix / inbox row as JSON (raw bytes as base64 in "raw_b64")
    error        text NOT NULL,
    attempts     integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
CREATE INDEX IF NOT EXISTS quarantine_open_idx ON quarantine (created_at) WHERE replayed_at IS NULL;

-- Source networks a device may speak from over TCP, UDP and HTTP (GT06, Teltonika, H02, OsmAnd):
-- for trackers on a private APN or a known carrier range (`amb-admin add-device --allow-network`).
-- NULL or empty: any address (the binary protocols carry no credential; see docs/security.md).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS allowed_networks cidr[];
-- Offline is not "no GPS" (issue 11, item 5): the newest message of any kind, and since when the
-- tracker sends without a GPS fix (NULL: its last message had one).
ALTER TABLE vehicle_state ADD COLUMN IF NOT EXISTS heard_at timestamptz;

-- When each tracker last spoke without a fix (GT06/H02 heartbeats; gateway/contact.py): a unit
-- heard this way is connected, not offline. Written by the gateways, at most every 30 s a device.
CREATE TABLE IF NOT EXISTS device_contact (
    device_id   text PRIMARY KEY,
    vehicle_id  bigint,
    heard_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS device_contact_vehicle_idx ON device_contact (vehicle_id, heard_at);
ALTER TABLE vehicle_state ADD COLUMN IF NOT EXISTS no_fix_since timestamptz;

-- ---------------------------------------------------------------------------------------------
-- Response-time analytics (issue 15; analytics/)
-- ---------------------------------------------------------------------------------------------

-- When the 115 call came in, when the dispatcher knows it (NULL: the journey's dispatch is the
-- first timestamp); demo: made by `amb-admin backfill-demo`, never a real mission.
ALTER TABLE journeys ADD COLUMN IF NOT EXISTS call_received_at timestamptz;
ALTER TABLE journeys ADD COLUMN IF NOT EXISTS demo boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS journeys_updated_idx ON journeys (updated_at);

-- Every change of a unit's own status (available <-> out_of_service), for utilisation: time on
-- missions comes from the journeys, time out of service from here.
CREATE TABLE IF NOT EXISTS unit_status_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id  bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    status      text NOT NULL CHECK (status IN ('available', 'out_of_service')),
    at          timestamptz NOT NULL,
    demo        boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS unit_status_log_vehicle_idx ON unit_status_log (vehicle_id, at);

-- One row per journey with every interval in seconds, computed from journey_status_log (the first
-- transition into each status) by the tracker's periodic refresh (analytics/refresh.py), so a
-- year of journeys is summarised without touching the log. Local (Asia/Ho_Chi_Minh) day, hour and
-- weekday are stored for grouping. area_id: the district health centre nearest the incident
-- (docs: analytics/areas.py).
CREATE TABLE IF NOT EXISTS journey_intervals (
    journey_id          bigint PRIMARY KEY REFERENCES journeys (id) ON DELETE CASCADE,
    vehicle_id          bigint NOT NULL,
    status              text NOT NULL,
    priority            smallint NOT NULL,
    demo                boolean NOT NULL,
    area_id             bigint,
    hospital_id         bigint,
    incident_geom       geometry(Point, 4326) NOT NULL,
    call_at             timestamptz NOT NULL,  -- the call, or the dispatch when no call time is known
    local_day           date NOT NULL,
    local_hour          smallint NOT NULL,
    local_isodow        smallint NOT NULL,     -- 1 Monday .. 7 Sunday
    call_to_dispatch_s  double precision,
    turnout_s           double precision,      -- dispatched -> en_route (wheels rolling)
    travel_s            double precision,      -- en_route -> on_scene
    response_s          double precision,      -- call (or dispatch) -> on_scene
    on_scene_s          double precision,      -- on_scene -> transporting (or returning)
    transport_s         double precision,      -- transporting -> at_hospital
    handover_s          double precision,      -- at_hospital -> returning (or completed)
    mission_s           double precision,      -- dispatched -> completed (or cancelled)
    dispatched_at       timestamptz NOT NULL,
    closed_at           timestamptz,
    refreshed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS journey_intervals_call_idx ON journey_intervals (call_at);
CREATE INDEX IF NOT EXISTS journey_intervals_vehicle_idx ON journey_intervals (vehicle_id, dispatched_at);
-- Seconds from a to b; NULL when either is unknown or b comes before a.
CREATE OR REPLACE FUNCTION analytics_seconds(a timestamptz, b timestamptz) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN b >= a THEN extract(epoch FROM b - a)::double precision END $$;

-- ---------------------------------------------------------------------------------------------
-- Crews and re-dispatch (issue 13).
-- ---------------------------------------------------------------------------------------------
-- A crew account is a tablet's: bound to one vehicle, it sees only that vehicle and its journey.
-- API keys never carry the crew role (a crew signs in with its account or a sign-in code).
ALTER TABLE users ADD COLUMN IF NOT EXISTS vehicle_id bigint REFERENCES vehicles (id) ON DELETE CASCADE;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'dispatcher', 'hospital', 'viewer', 'crew'));
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_crew_vehicle_check;
ALTER TABLE users ADD CONSTRAINT users_crew_vehicle_check CHECK ((role = 'crew') = (vehicle_id IS NOT NULL));

-- Single-use sign-in codes for a vehicle's crew (the QR code a dispatcher shows, scanned by the
-- tablet): only the SHA-256 of the code is kept; a code works once, until expires_at.
CREATE TABLE IF NOT EXISTS crew_sign_in_codes (
    code_hash   text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- A status pressed on a crew tablet carries the tablet's time (`at`); one pressed while offline is
-- sent later (`queued`; `logged_at` says when it arrived). `press_id` is the tablet's id for the
-- press: a press resent after a lost answer is stored once.
ALTER TABLE journey_status_log ADD COLUMN IF NOT EXISTS queued boolean NOT NULL DEFAULT false;
ALTER TABLE journey_status_log ADD COLUMN IF NOT EXISTS press_id uuid;
CREATE UNIQUE INDEX IF NOT EXISTS journey_status_log_press ON journey_status_log (journey_id, press_id)
    WHERE press_id IS NOT NULL;

-- The parts of a journey served by a vehicle that was replaced (breakdown, accident, diverted):
-- each keeps its vehicle, when it started and ended, its status then and its NEMSIS times. The
-- journey row holds the current vehicle and its own times.
CREATE TABLE IF NOT EXISTS journey_legs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id    bigint NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    vehicle_id    bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    end_reason    text NOT NULL CHECK (end_reason IN ('breakdown', 'accident', 'diverted')),
    ended_status  text NOT NULL,
    times         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- {"en_route_at": "...", ...} of that leg
    note          text,
    ended_by      text
);
CREATE INDEX IF NOT EXISTS journey_legs_journey_idx ON journey_legs (journey_id, started_at);


-- A caller's location request (issue 13, item 2): a public, single-use link the dispatcher reads
-- out or sends; the caller's phone posts its position (with its accuracy) a few times; the
-- dispatcher accepts it as the incident's position. Only the SHA-256 of the token is kept; the
-- link ends when accepted, refused by the caller, or 30 minutes after it was made. journey_id is
-- NULL for a request made before dispatch.
CREATE TABLE IF NOT EXISTS location_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id    bigint REFERENCES journeys (id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE,
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    lat           double precision,
    lon           double precision,
    accuracy_m    real,
    located_at    timestamptz,  -- when the caller's phone last sent a position
    reports       integer NOT NULL DEFAULT 0,
    refused_at    timestamptz,  -- the caller declined to share
    accepted_at   timestamptz,
    accepted_by   text
);
-- Several units sent to one incident (issue 13, item 4): its journeys share the first one's id.
ALTER TABLE journeys ADD COLUMN IF NOT EXISTS incident_id bigint;
CREATE INDEX IF NOT EXISTS journeys_incident_idx ON journeys (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS location_requests_journey_idx ON location_requests (journey_id) WHERE journey_id IS NOT NULL;
