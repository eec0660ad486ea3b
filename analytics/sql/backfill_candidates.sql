-- Where demo incidents happen: junctions of the main routable component (denser where the
-- street grid is), with their coordinates.
SELECT v.id, ST_Y(v.geom) AS lat, ST_X(v.geom) AS lon
FROM road_vertices v
WHERE EXISTS (SELECT 1 FROM road_edges e WHERE e.main_component AND e.source = v.id)
ORDER BY v.id
