-- Where each station's ambulances get within %(limit_s)s seconds of road time (pgr_drivingDistance
-- from each station's nearest routable junction, outbound, profile costs; equicost: a junction
-- belongs to the station that reaches it first), the hull of the junctions each reaches, and the
-- junctions no station reaches in time (the gaps).
WITH starts AS (
    SELECT s.id AS station_id, s.name, s.is_sample, ST_Y(s.geom) AS lat, ST_X(s.geom) AS lon,
           (SELECT v.id FROM road_vertices v
            WHERE EXISTS (SELECT 1 FROM road_edges e WHERE e.main_component AND e.source = v.id)
            ORDER BY v.geom <-> s.geom LIMIT 1) AS vid
    FROM stations s
), reached AS (
    SELECT d.from_v, d.node, d.agg_cost
    FROM pgr_drivingDistance(
        'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edges',
        (SELECT coalesce(array_agg(DISTINCT vid), '{}') FROM starts WHERE vid IS NOT NULL),
        %(limit_s)s, directed => true, equicost => true) d
), per_station AS (
    SELECT st.station_id, st.name, st.is_sample, st.lat, st.lon, count(r.node) AS junctions,
           ST_AsGeoJSON(ST_ConcaveHull(ST_Collect(v.geom), 0.3), 6)::json AS hull
    FROM starts st
    LEFT JOIN reached r ON r.from_v = st.vid
    LEFT JOIN road_vertices v ON v.id = r.node
    GROUP BY st.station_id, st.name, st.is_sample, st.lat, st.lon
), gaps AS (
    SELECT count(*) AS junctions, ST_AsGeoJSON(ST_Collect(v.geom), 6)::json AS points
    FROM road_vertices v
    WHERE NOT EXISTS (SELECT 1 FROM reached r WHERE r.node = v.id)
      AND EXISTS (SELECT 1 FROM road_edges e WHERE e.main_component AND e.source = v.id)
)
SELECT (SELECT coalesce(json_agg(p ORDER BY p.station_id), '[]') FROM per_station p) AS stations,
       (SELECT row_to_json(g) FROM gaps g) AS gaps,
       (SELECT count(*) FROM road_vertices v
        WHERE EXISTS (SELECT 1 FROM road_edges e WHERE e.main_component AND e.source = v.id)) AS junctions
