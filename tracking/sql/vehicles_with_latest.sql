-- Every vehicle (or the one %(vehicle)s names) with its current device, latest position, unit
-- status and open journey.
SELECT v.id, v.plate, v.call_sign, v.kind,
       d.id AS device_id,
       l.fix_time, l.received_at, ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon,
       l.speed_kmh, l.course, l.accuracy_m, l.satellites,
       extract(epoch FROM clock_timestamp() - l.fix_time)::float8 AS age_s,
       -- When the tracker last spoke, with a GPS fix or without (heartbeats and invalid fixes
       -- count: a unit in a garage is connected without a fix, not offline).
       extract(epoch FROM clock_timestamp() - greatest(l.fix_time, s.heard_at, c.heard_at))::float8 AS heard_age_s,
       s.no_fix_since,
       coalesce(s.unit_status, 'available') AS unit_status,
       j.id AS journey_id, j.status AS journey_status
FROM vehicles v
LEFT JOIN LATERAL (
    SELECT id FROM devices WHERE vehicle_id = v.id AND enabled ORDER BY created_at DESC LIMIT 1
) d ON true
LEFT JOIN vehicle_latest l ON l.vehicle_id = v.id
LEFT JOIN vehicle_state s ON s.vehicle_id = v.id
LEFT JOIN LATERAL (
    SELECT max(heard_at) AS heard_at FROM device_contact WHERE vehicle_id = v.id
) c ON true
LEFT JOIN journeys j ON j.vehicle_id = v.id AND j.status NOT IN ('completed', 'cancelled')
WHERE %(vehicle)s::bigint IS NULL OR v.id = %(vehicle)s
ORDER BY v.call_sign
