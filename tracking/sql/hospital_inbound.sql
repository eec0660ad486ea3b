-- Every ambulance whose open journey ends at this hospital, with its ETA when it is on its way there.
SELECT j.id AS journey_id, j.vehicle_id, v.call_sign, v.plate, j.status, j.priority,
       ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon, l.speed_kmh, l.course AS heading, l.fix_time,
       extract(epoch FROM clock_timestamp() - l.fix_time)::float8 AS fix_age_s,
       e.target_kind, e.remaining_m, e.remaining_s, e.arrival_at, e.computed_at,
       e.arrival_early_at, e.arrival_late_at
FROM journeys j
JOIN vehicles v ON v.id = j.vehicle_id
LEFT JOIN vehicle_latest l ON l.vehicle_id = j.vehicle_id
LEFT JOIN journey_eta e ON e.journey_id = j.id
WHERE j.destination_hospital_id = %(hospital)s AND j.status NOT IN ('completed', 'cancelled', 'returning')
ORDER BY (j.status = 'transporting') DESC, e.arrival_at NULLS LAST, j.priority, j.dispatched_at
