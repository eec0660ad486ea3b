-- Staging tables of one road import, dropped with its transaction (or, when the import runs as a
-- savepoint of a longer transaction, by the next import).
DROP TABLE IF EXISTS road_import_edges, road_import_vertices;
CREATE TEMP TABLE road_import_edges (
    id           bigint,
    source       bigint,
    target       bigint,
    wkt          text,
    highway      text,
    name         text,
    oneway       smallint,
    maxspeed     real,
    speed        real,
    source_file  text
) ON COMMIT DROP;
CREATE TEMP TABLE road_import_vertices (
    id   bigint,
    lon  double precision,
    lat  double precision
) ON COMMIT DROP;
