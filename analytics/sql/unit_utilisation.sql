-- Per unit over [start, end): seconds on missions (dispatch to close, the open one to now) and
-- out of service (from unit_status_log; the status in force at `start` counts from `start`);
-- available is the rest. Mission time inside an out-of-service spell is counted once, as mission.
WITH span AS (
    SELECT %(start)s::timestamptz AS s, least(%(end)s::timestamptz, now()) AS e
), missions AS (
    SELECT i.vehicle_id,
           sum(extract(epoch FROM least(coalesce(i.closed_at, span.e), span.e) - greatest(i.dispatched_at, span.s)))
               AS mission_s,
           count(*) AS missions
    FROM journey_intervals i, span
    WHERE i.dispatched_at < span.e AND coalesce(i.closed_at, span.e) > span.s
      AND (%(demo)s OR NOT i.demo)
    GROUP BY i.vehicle_id
), spells AS (
    SELECT u.vehicle_id, u.status, u.at,
           lead(u.at) OVER (PARTITION BY u.vehicle_id ORDER BY u.at, u.id) AS until
    FROM unit_status_log u, span
    WHERE u.at < span.e AND (%(demo)s OR NOT u.demo)
), out_of_service AS (
    SELECT sp.vehicle_id,
           sum(extract(epoch FROM least(coalesce(sp.until, span.e), span.e) - greatest(sp.at, span.s))) AS oos_s
    FROM spells sp, span
    WHERE sp.status = 'out_of_service' AND coalesce(sp.until, span.e) > span.s
    GROUP BY sp.vehicle_id
)
SELECT v.id AS vehicle_id, v.call_sign, v.plate,
       extract(epoch FROM span.e - span.s) AS period_s,
       coalesce(m.mission_s, 0) AS mission_s, coalesce(m.missions, 0) AS missions,
       coalesce(o.oos_s, 0) AS out_of_service_s
FROM vehicles v CROSS JOIN span
LEFT JOIN missions m ON m.vehicle_id = v.id
LEFT JOIN out_of_service o ON o.vehicle_id = v.id
WHERE span.e > span.s
ORDER BY v.call_sign
