-- road_speeds (own traversals, or the class factor: `basis`) and road_area_factors rebuilt from
-- road_traversal_hours of [%(since)s, %(until)s)
-- (a small table: no read on `positions`); road_area_factors was emptied just before, in the same
-- transaction. See roads/speed_learning.py for the why.
WITH cells AS MATERIALIZED (
    -- Seconds, metres and pairs per (edge, direction, local hour).
    SELECT edge_id, forward, extract(hour FROM hour_start AT TIME ZONE %(tz)s)::int AS hour,
           sum(seconds) AS seconds, sum(metres) AS metres, sum(pairs)::int AS pairs,
           sum(stopped_seconds) AS stopped
    FROM road_traversal_hours
    WHERE hour_start >= %(since)s AND hour_start < %(until)s
    GROUP BY 1, 2, 3
), spread AS (
    -- A cell counts for its own hour and, for thin hours, for the %(smooth_hours)s hours either side.
    SELECT c.edge_id, c.forward, ((c.hour + s.shift + 24) %% 24)::smallint AS hour, abs(s.shift) AS away,
           c.seconds, c.metres, c.pairs, c.stopped
    FROM cells c
    CROSS JOIN generate_series(-%(smooth_hours)s::int, %(smooth_hours)s::int) AS s(shift)
), rings AS (
    -- Cumulated from the own hour outwards: ring r pools the hours within r of it.
    SELECT edge_id, forward, hour, away,
           sum(sum(seconds)) OVER w AS seconds, sum(sum(metres)) OVER w AS metres,
           sum(sum(pairs)) OVER w AS pairs, sum(sum(stopped)) OVER w AS stopped
    FROM spread
    GROUP BY edge_id, forward, hour, away
    WINDOW w AS (PARTITION BY edge_id, forward, hour ORDER BY away)
), learned AS (
    -- The narrowest ring with enough pairs (else the widest, kept with its count: routing
    -- ignores it), as the speed whose travel time is the mean traversal time, stops included, and
    -- the share of that time spent stopped (the wait at the junction it leads to).
    SELECT DISTINCT ON (edge_id, forward, hour) edge_id, forward, hour, pairs::int AS samples,
           round((3.6 * metres / seconds)::numeric, 2)::real AS speed_kmh,
           round(least(stopped / seconds, 0.95)::numeric, 3)::real AS wait_share
    FROM rings
    WHERE seconds > 0 AND metres > 0
    ORDER BY edge_id, forward, hour, pairs < %(min_samples)s,
             CASE WHEN pairs < %(min_samples)s THEN -away ELSE away END
), by_class AS (
    -- How much slower than its profile each class runs in each area (and network-wide, area -1)
    -- at each hour, from the hours within %(smooth_hours)s: the learned seconds over the profile's
    -- seconds for the same metres.
    SELECT e.highway, a.area, s.hour, sum(s.seconds) AS seconds, sum(s.stopped) AS stopped,
           sum(s.metres * CASE WHEN s.forward THEN e.cost_s ELSE e.reverse_cost_s END / e.length_m) AS profile_s,
           sum(s.pairs)::int AS samples
    FROM spread s
    JOIN road_edges e ON e.id = s.edge_id AND e.length_m > 0
    CROSS JOIN LATERAL (VALUES (e.area), (-1)) AS a(area)
    WHERE s.forward OR e.reverse_cost_s >= 0
    GROUP BY e.highway, a.area, s.hour
), factors AS (
    SELECT highway, area, hour, (seconds / profile_s)::real AS factor, samples,
           round(least(stopped / seconds, 0.95)::numeric, 3)::real AS wait_share
    FROM by_class
    WHERE profile_s > 0 AND seconds > 0 AND samples >= %(min_samples)s
), factors_written AS (
    INSERT INTO road_area_factors (highway, area, hour, factor, samples, wait_share)
    SELECT highway, area, hour, factor, samples, wait_share FROM factors
    RETURNING 1
), filled AS (
    -- Every edge, direction and hour without enough traversals of its own gets its class's
    -- factor in its area (else network-wide) over its profile cost: routing reads one table.
    SELECT e.id AS edge_id, d.forward, h.hour::smallint AS hour, coalesce(a.samples, c.samples) AS samples,
           round((3.6 * e.length_m / (d.cost * coalesce(a.factor, c.factor)))::numeric, 2)::real AS speed_kmh,
           coalesce(a.wait_share, c.wait_share) AS wait_share
    FROM road_edges e
    CROSS JOIN LATERAL (VALUES (true, e.cost_s), (false, e.reverse_cost_s)) AS d(forward, cost)
    CROSS JOIN generate_series(0, 23) AS h(hour)
    LEFT JOIN factors a ON a.highway = e.highway AND a.area = e.area AND a.hour = h.hour
    LEFT JOIN factors c ON c.highway = e.highway AND c.area = -1 AND c.hour = h.hour
    WHERE d.cost > 0 AND e.length_m > 0 AND coalesce(a.factor, c.factor) IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM learned l
          WHERE l.edge_id = e.id AND l.forward = d.forward AND l.hour = h.hour AND l.samples >= %(min_samples)s
      )
), chosen AS (
    SELECT edge_id, forward, hour, speed_kmh, samples, 'class' AS basis, wait_share FROM filled
    UNION ALL
    SELECT l.edge_id, l.forward, l.hour, l.speed_kmh, l.samples, 'edge', l.wait_share FROM learned l
    WHERE NOT EXISTS (SELECT 1 FROM filled f WHERE (f.edge_id, f.forward, f.hour) = (l.edge_id, l.forward, l.hour))
), upserted AS (
    INSERT INTO road_speeds AS r (edge_id, forward, hour, speed_kmh, samples, p50_kmh, basis, wait_share, updated_at)
    SELECT edge_id, forward, hour, speed_kmh, samples, NULL, basis, wait_share, now() FROM chosen
    ON CONFLICT (edge_id, forward, hour) DO UPDATE
        SET speed_kmh = EXCLUDED.speed_kmh, samples = EXCLUDED.samples, p50_kmh = NULL,
            basis = EXCLUDED.basis, wait_share = EXCLUDED.wait_share, updated_at = EXCLUDED.updated_at
        WHERE (r.speed_kmh, r.samples, r.p50_kmh, r.basis, r.wait_share)
              IS DISTINCT FROM (EXCLUDED.speed_kmh, EXCLUDED.samples, NULL, EXCLUDED.basis, EXCLUDED.wait_share)
    RETURNING 1
), removed AS (
    DELETE FROM road_speeds r
    WHERE NOT EXISTS (
        SELECT 1 FROM chosen l WHERE l.edge_id = r.edge_id AND l.forward = r.forward AND l.hour = r.hour
    )
    RETURNING 1
)
SELECT (SELECT count(*) FROM learned) AS cells,
       (SELECT count(*) FROM learned WHERE samples >= %(min_samples)s) AS usable,
       (SELECT count(*) FROM filled) AS filled,
       (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM removed) AS removed,
       (SELECT count(*) FROM factors_written) AS factors
