-- One query per batch: the oldest fixes waiting in tracking_inbox, each with the geofences within
-- its hysteresis distance (deep inside or near the border), the speed limit in force, and its
-- distance to the scene of its vehicle's open journey. GiST indexes on geography do the search.
WITH batch AS (
    SELECT i.vehicle_id, i.device_id, i.fix_time
    FROM tracking_inbox i
    ORDER BY i.fix_time
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
fixes AS (
    SELECT p.vehicle_id, p.device_id, p.fix_time, p.geom, p.geom::geography AS geog,
           coalesce(p.speed_kmh, 0) AS speed_kmh, p.valid, p.attributes
    FROM batch b
    JOIN positions p ON p.device_id = b.device_id AND p.fix_time = b.fix_time
)
SELECT f.vehicle_id, f.device_id, f.fix_time, ST_Y(f.geom) AS lat, ST_X(f.geom) AS lon, f.speed_kmh, f.valid,
       f.attributes, coalesce(g.seen, '[]'::jsonb) AS seen, r.highway,
       j.id AS journey_id, ST_Distance(j.incident_geom::geography, f.geog) AS scene_distance_m
FROM fixes f
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
        'id', g.id, 'kind', g.kind, 'name', g.name, 'hospital_id', g.hospital_id,
        'speed_limit_kmh', g.speed_limit_kmh,
        'zone', CASE WHEN ST_Intersects(g.geom, f.geom)
                      AND ST_Distance(ST_Boundary(g.geom)::geography, f.geog) >= g.hysteresis_m
                     THEN 'deep_in' ELSE 'border' END)) AS seen
    FROM geofences g
    WHERE g.active
      AND ST_DWithin(g.geom::geography, f.geog, %(max_hysteresis_m)s)
      AND ST_DWithin(g.geom::geography, f.geog, g.hysteresis_m)
) g ON true
LEFT JOIN LATERAL (
    SELECT rd.highway FROM roads rd
    WHERE ST_DWithin(rd.geom::geography, f.geog, 25)
    ORDER BY rd.geom::geography <-> f.geog
    LIMIT 1
) r ON true
LEFT JOIN journeys j ON j.vehicle_id = f.vehicle_id AND j.status NOT IN ('completed', 'cancelled')
ORDER BY f.vehicle_id, f.fix_time
