-- eta_calibration rebuilt from the outcomes since %(since)s (emptied just before, in the same
-- transaction), per (hour band, length band), per length band over all hours (-1), and over
-- everything (-1, -1), each from %(min_samples)s outcomes: p10 and p90 of actual / predicted (the
-- arrival window), and the correction factor (0.80-1.30, by 0.01) that makes the median relative
-- error of the ETAs the smallest - not the median ratio: arrivals scatter late far more than
-- early (a red light, a queue), and centring the ETA on them would move the many close ones off.
WITH o AS (
    SELECT eta_hour_band(at) AS hb, eta_length_band(predicted_s) AS lb, actual_s / predicted_s AS ratio
    FROM eta_outcomes
    WHERE at >= %(since)s
), q AS (
    SELECT coalesce(hb, -1) AS hb, coalesce(lb, -1) AS lb, count(*)::int AS n,
           percentile_cont(ARRAY[0.1, 0.9]) WITHIN GROUP (ORDER BY ratio) AS qs
    FROM o
    GROUP BY GROUPING SETS ((hb, lb), (lb), ())
), fit AS (
    SELECT coalesce(o.hb, -1) AS hb, coalesce(o.lb, -1) AS lb, c.factor,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(c.factor / o.ratio - 1)) AS error
    FROM o
    CROSS JOIN (SELECT f / 100.0::float8 AS factor FROM generate_series(80, 130) AS f) AS c
    GROUP BY GROUPING SETS ((o.hb, o.lb, c.factor), (o.lb, c.factor), (c.factor))
), best AS (
    SELECT DISTINCT ON (hb, lb) hb, lb, factor FROM fit ORDER BY hb, lb, error, abs(factor - 1)
), written AS (
    INSERT INTO eta_calibration (hour_band, length_band, q10, factor, q90, samples)
    SELECT q.hb, q.lb, q.qs[1], b.factor, q.qs[2], q.n
    FROM q JOIN best b USING (hb, lb)
    WHERE q.n >= %(min_samples)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM o) AS outcomes, (SELECT count(*) FROM written) AS bands
