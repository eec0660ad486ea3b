-- The imported road lines as one GeoJSON FeatureCollection (coordinates to ~1 m).
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'geometry', ST_AsGeoJSON(geom, 6)::json,
        'properties', json_build_object('name', name, 'highway', highway, 'oneway', oneway)
    ) ORDER BY id), '[]'::json)
)::text
FROM roads
