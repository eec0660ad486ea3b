-- Every interval's count, median, 90th percentile and mean over the journeys matching the filter
-- (each interval over the journeys that have it).
SELECT count(*) AS journeys,
       count(*) FILTER (WHERE i.demo) AS demo_journeys,
{columns}
FROM journey_intervals i
WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
  AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
  AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
  AND (%(demo)s OR NOT i.demo)
