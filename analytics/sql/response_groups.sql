-- Response time (call or dispatch -> on scene) of the journeys matching the filter, summarised
-- once per grouping set in one scan: the whole period, per day or week (local), per area, hour of
-- day, weekday and priority. percentile_cont interpolates linearly between ranks.
SELECT GROUPING(period.start) AS g_period, GROUPING(i.area_id) AS g_area,
       GROUPING(i.local_hour) AS g_hour, GROUPING(i.local_isodow) AS g_dow,
       GROUPING(i.priority) AS g_priority,
       period.start AS period, i.area_id, i.local_hour AS hour, i.local_isodow AS isodow, i.priority,
       count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY i.response_s) AS p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY i.response_s) AS p90_s,
       avg(i.response_s) AS mean_s,
       avg((i.response_s <= %(urban_s)s)::int) AS within_8,
       avg((i.response_s <= %(rural_s)s)::int) AS within_15
FROM journey_intervals i
CROSS JOIN LATERAL (
    SELECT CASE WHEN %(bucket)s = 'week' THEN date_trunc('week', i.local_day)::date ELSE i.local_day END AS start
) period
WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
  AND i.response_s IS NOT NULL
  AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
  AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
  AND (%(demo)s OR NOT i.demo)
GROUP BY GROUPING SETS ((), (period.start), (i.area_id), (i.local_hour), (i.local_isodow), (i.priority))
