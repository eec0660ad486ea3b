-- What a caller's tracking link may show: its journey's status, the ambulance's call sign and
-- latest position, the scene, and the held ETA to the scene (nothing else: no plate, no hospital).
SELECT l.revoked_at, j.id AS journey_id, j.vehicle_id, j.status,
       ST_Y(j.incident_geom) AS scene_lat, ST_X(j.incident_geom) AS scene_lon,
       v.call_sign,
       ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon, p.course, p.speed_kmh, p.fix_time,
       e.remaining_m, e.remaining_s, e.arrival_at, e.arrival_early_at, e.arrival_late_at
FROM caller_links l
JOIN journeys j ON j.id = l.journey_id
JOIN vehicles v ON v.id = j.vehicle_id
LEFT JOIN vehicle_latest p ON p.vehicle_id = j.vehicle_id
LEFT JOIN journey_eta e ON e.journey_id = j.id AND e.target_kind = 'scene'
WHERE l.token_hash = %(token_hash)s
