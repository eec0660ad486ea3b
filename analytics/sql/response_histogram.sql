-- Response times in whole minutes (the last bin holds everything from %(max_minutes)s on).
SELECT least(floor(i.response_s / 60), %(max_minutes)s)::int AS minute, count(*) AS n
FROM journey_intervals i
WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
  AND i.response_s IS NOT NULL
  AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
  AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
  AND (%(demo)s OR NOT i.demo)
GROUP BY 1 ORDER BY 1
