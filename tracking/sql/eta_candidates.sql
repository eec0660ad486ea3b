-- The open journeys of these vehicles that head somewhere, with the vehicle's latest fix, the
-- target (the scene, or the destination hospital once transporting), the route held so far and
-- since when the vehicle stands still (its rules' memory: text, parsed by the caller).
SELECT j.id AS journey_id, j.vehicle_id, j.status,
       CASE WHEN j.status = 'transporting' THEN 'hospital' ELSE 'scene' END AS target_kind,
       CASE WHEN j.status = 'transporting' THEN ST_Y(h.geom) ELSE ST_Y(j.incident_geom) END AS target_lat,
       CASE WHEN j.status = 'transporting' THEN ST_X(h.geom) ELSE ST_X(j.incident_geom) END AS target_lon,
       ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon, l.course, l.speed_kmh, l.fix_time,
       vs.rules ->> 'stopped_since' AS stopped_since,
       e.target_kind AS previous_target, e.computed_at, e.route_distance_m, e.route_duration_s,
       e.route_profile_m, e.route_profile_s,
       ST_Distance(e.route_geom::geography, l.geom::geography) AS off_route_m,
       ST_LineLocatePoint(e.route_geom, l.geom) AS fraction
FROM journeys j
JOIN vehicle_latest l ON l.vehicle_id = j.vehicle_id
LEFT JOIN hospitals h ON h.id = j.destination_hospital_id
LEFT JOIN journey_eta e ON e.journey_id = j.id
LEFT JOIN vehicle_state vs ON vs.vehicle_id = j.vehicle_id
WHERE j.vehicle_id = ANY(%(vehicles)s) AND j.status = ANY(%(heading)s)
