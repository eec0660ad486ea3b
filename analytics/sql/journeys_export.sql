-- Every journey of the filter with its timestamps (ISO 8601 in Asia/Ho_Chi_Minh, offset included)
-- and intervals (seconds, 0.1 s), for COPY ... TO STDOUT (FORMAT csv, HEADER).
SELECT j.id AS journey_id, CASE WHEN j.demo THEN 'true' ELSE 'false' END AS demo, j.status, j.priority,
       v.call_sign, v.plate, a.name_vi AS area, h.name_vi AS destination_hospital,
       round(ST_Y(j.incident_geom)::numeric, 6) AS incident_lat, round(ST_X(j.incident_geom)::numeric, 6) AS incident_lon,
       {stamps},
       {intervals}
FROM journey_intervals i
JOIN journeys j ON j.id = i.journey_id
JOIN vehicles v ON v.id = j.vehicle_id
LEFT JOIN hospitals a ON a.id = i.area_id
LEFT JOIN hospitals h ON h.id = j.destination_hospital_id
WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
  AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
  AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
  AND (%(demo)s OR NOT i.demo)
ORDER BY i.call_at, j.id
