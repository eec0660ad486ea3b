-- The road network as one GeoJSON FeatureCollection (coordinates to ~1 m): the routable network
-- when one is imported (every class the ambulances may drive), else the plain road lines.
WITH lines AS (
    SELECT id, name, highway, oneway = 1 AS oneway, geom FROM road_edges
    UNION ALL
    SELECT id, name, highway, oneway, geom FROM roads WHERE NOT EXISTS (SELECT 1 FROM road_edges)
)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'geometry', ST_AsGeoJSON(geom, 6)::json,
        'properties', json_build_object('name', name, 'highway', highway, 'oneway', oneway)
    ) ORDER BY id), '[]'::json)
)::text
FROM lines
