-- Moves the staged network into road_edges / road_vertices (inside the import's transaction): keeps
-- the edges intersecting the box, derives lengths (on the spheroid) and costs; an edge or vertex
-- already stored wins. Returns how many staged edges the box left out.
WITH box AS (
    SELECT ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326) AS geom
), staged AS (
    SELECT s.*, ST_GeomFromText(s.wkt, 4326) AS geom FROM road_import_edges s
), kept AS (
    SELECT s.*, ST_Length(s.geom::geography) AS length_m
    FROM staged s, box
    WHERE ST_Intersects(s.geom, box.geom)
), inserted_edges AS (
    INSERT INTO road_edges (id, source, target, geom, length_m, highway, name, oneway, maxspeed_kmh,
                            speed_kmh, cost_s, reverse_cost_s, source_file)
    SELECT id, source, target, geom, length_m, highway, name, oneway, maxspeed, speed,
           length_m * 3.6 / speed,
           CASE WHEN oneway = 1 THEN -1 ELSE length_m * 3.6 / speed END,
           source_file
    FROM kept
    ON CONFLICT (id) DO NOTHING
), inserted_vertices AS (
    INSERT INTO road_vertices (id, geom)
    SELECT v.id, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326)
    FROM road_import_vertices v
    WHERE v.id IN (SELECT source FROM kept UNION SELECT target FROM kept)
    ON CONFLICT (id) DO NOTHING
)
SELECT (SELECT count(*) FROM staged) - (SELECT count(*) FROM kept)
