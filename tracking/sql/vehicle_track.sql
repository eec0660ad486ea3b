-- The stored fixes of one vehicle in [from, to), in fix-time order, at most `limit` of them.
SELECT fix_time, ST_X(geom) AS lon, ST_Y(geom) AS lat, speed_kmh, course, late, device_id
FROM positions
WHERE vehicle_id = %(vehicle_id)s AND fix_time >= %(from)s AND fix_time < %(to)s AND valid
ORDER BY fix_time
LIMIT %(limit)s
