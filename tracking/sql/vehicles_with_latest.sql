-- Every vehicle with its current device and latest position (NULLs when it has none yet).
SELECT v.id, v.plate, v.call_sign, v.kind,
       d.id AS device_id,
       l.fix_time, l.received_at, ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon,
       l.speed_kmh, l.course, l.accuracy_m, l.satellites,
       extract(epoch FROM clock_timestamp() - l.fix_time)::float8 AS age_s
FROM vehicles v
LEFT JOIN LATERAL (
    SELECT id FROM devices WHERE vehicle_id = v.id AND enabled ORDER BY created_at DESC LIMIT 1
) d ON true
LEFT JOIN vehicle_latest l ON l.vehicle_id = v.id
ORDER BY v.call_sign
