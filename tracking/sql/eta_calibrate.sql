-- eta_calibration and eta_vehicle_factors rebuilt (both emptied just before, in the same
-- transaction).
--
-- Bands, from the outcomes since %(since)s: per (target, hour band, length band) where there are
-- %(min_hour_samples)s outcomes (an hour band of a small fleet's day is too thin to say more than
-- its noise: measured, docs/benchmarks.md), per (target, length band) over all hours (-1), per
-- length band over both targets ('any') and over everything ('any', -1, -1) from
-- %(min_samples)s: p10 and p90 of actual / predicted (the arrival window), and the
-- correction factor (0.80-1.30, by 0.01) that makes the sum of the median and the 90th percentile
-- of the ETAs' relative errors the smallest - the typical ETA and the bad one, the two figures the
-- service is judged by; not the median ratio: arrivals scatter late far more than early (a red
-- light, a queue), and centring the ETA on them would move the many close ones off - shrunk towards 1 by
-- d² / (d² + se²), d its distance from 1 and se the standard error of a median of the band
-- (1.2533 sd / √n): a router that is right on the whole is not moved by a band's noise, while a
-- slow day that the band shows clearly is corrected whole.
--
-- Vehicles, from the outcomes since %(vehicle_since)s: each one's median actual / predicted over
-- the fleet's, shrunk towards 1 by n / (n + %(vehicle_shrink_n)s) (a driver, a heavier vehicle).
WITH o AS (
    SELECT target_kind AS kind, eta_hour_band(at) AS hb, eta_length_band(predicted_s) AS lb,
           actual_s / predicted_s AS ratio
    FROM eta_outcomes
    WHERE at >= %(since)s
), q AS (
    SELECT CASE WHEN grouping(kind) = 1 THEN 'any' ELSE kind END AS kind,
           coalesce(hb, -1) AS hb, coalesce(lb, -1) AS lb, count(*)::int AS n,
           percentile_cont(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY ratio) AS qs,
           (1.2533 * stddev_pop(ratio)) ^ 2 / count(*) AS se2
    FROM o
    GROUP BY GROUPING SETS ((kind, hb, lb), (kind, lb), (lb), ())
), fit AS (
    SELECT CASE WHEN grouping(o.kind) = 1 THEN 'any' ELSE o.kind END AS kind,
           coalesce(o.hb, -1) AS hb, coalesce(o.lb, -1) AS lb, c.factor,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(c.factor / o.ratio - 1))
           + percentile_cont(0.9) WITHIN GROUP (ORDER BY abs(c.factor / o.ratio - 1)) AS error
    FROM o
    CROSS JOIN (SELECT f / 100.0::float8 AS factor FROM generate_series(80, 130) AS f) AS c
    GROUP BY GROUPING SETS ((o.kind, o.hb, o.lb, c.factor), (o.kind, o.lb, c.factor), (o.lb, c.factor), (c.factor))
), best AS (
    SELECT DISTINCT ON (kind, hb, lb) kind, hb, lb, factor FROM fit ORDER BY kind, hb, lb, error, abs(factor - 1)
), written AS (
    INSERT INTO eta_calibration (target_kind, hour_band, length_band, q10, factor, q90, samples)
    SELECT q.kind, q.hb, q.lb, q.qs[1],
           CASE WHEN b.factor = 1 THEN 1
                ELSE 1 + (b.factor - 1) ^ 3 / ((b.factor - 1) ^ 2 + q.se2) END,
           q.qs[2], q.n
    FROM q JOIN best b USING (kind, hb, lb)
    WHERE q.kind IS NOT NULL  -- outcomes of no known target count only for 'any'
      AND q.n >= CASE WHEN q.hb = -1 THEN %(min_samples)s ELSE %(min_hour_samples)s END
    RETURNING 1
), recent AS (
    SELECT vehicle_id, actual_s / predicted_s AS ratio FROM eta_outcomes WHERE at >= %(vehicle_since)s
), fleet AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio) AS ratio FROM recent
), vehicles_written AS (
    INSERT INTO eta_vehicle_factors (vehicle_id, factor, samples)
    SELECT v.vehicle_id, 1 + (v.ratio / f.ratio - 1) * v.n / (v.n + %(vehicle_shrink_n)s), v.n
    FROM (
        SELECT vehicle_id, count(*)::int AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY ratio) AS ratio
        FROM recent
        WHERE vehicle_id IS NOT NULL
        GROUP BY vehicle_id
    ) v
    CROSS JOIN fleet f
    WHERE f.ratio > 0 AND EXISTS (SELECT 1 FROM vehicles x WHERE x.id = v.vehicle_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM o) AS outcomes, (SELECT count(*) FROM written) AS bands,
       (SELECT count(*) FROM vehicles_written) AS vehicles
