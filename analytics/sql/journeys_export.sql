-- Every journey of the filter with its timestamps (local time, Asia/Ho_Chi_Minh) and intervals.
SELECT j.id AS journey_id, j.demo, j.status, j.priority, v.call_sign, v.plate,
       a.name_vi AS area, h.name_vi AS destination_hospital,
       round(ST_Y(j.incident_geom)::numeric, 6) AS incident_lat, round(ST_X(j.incident_geom)::numeric, 6) AS incident_lon,
       j.call_received_at, j.dispatched_at, j.en_route_at, j.on_scene_at, j.transporting_at, j.at_hospital_at,
       j.returning_at, j.completed_at, j.cancelled_at,
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
