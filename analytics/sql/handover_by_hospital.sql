-- Handover time at each destination hospital (at_hospital -> leaving it) over the period.
SELECT h.id AS hospital_id, h.name_vi, h.name_en, count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY i.handover_s) AS p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY i.handover_s) AS p90_s,
       avg(i.handover_s) AS mean_s
FROM journey_intervals i JOIN hospitals h ON h.id = i.hospital_id
WHERE i.call_at >= %(start)s AND i.call_at < %(end)s
  AND i.handover_s IS NOT NULL
  AND (%(priority)s::smallint IS NULL OR i.priority = %(priority)s)
  AND (%(area_id)s::bigint IS NULL OR i.area_id = %(area_id)s)
  AND (%(demo)s OR NOT i.demo)
GROUP BY h.id, h.name_vi, h.name_en
ORDER BY p50_s DESC
