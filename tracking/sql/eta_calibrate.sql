-- eta_calibration rebuilt from the outcomes since %(since)s (emptied just before, in the same
-- transaction): p10, p50 and p90 of actual / predicted per (hour band, length band), per length
-- band over all hours (-1), and over everything (-1, -1), each from %(min_samples)s outcomes.
WITH o AS (
    SELECT eta_hour_band(at) AS hb, eta_length_band(predicted_s) AS lb, actual_s / predicted_s AS ratio
    FROM eta_outcomes
    WHERE at >= %(since)s
), q AS (
    SELECT coalesce(hb, -1) AS hb, coalesce(lb, -1) AS lb, count(*)::int AS n,
           percentile_cont(ARRAY[0.1, 0.5, 0.9]) WITHIN GROUP (ORDER BY ratio) AS qs
    FROM o
    GROUP BY GROUPING SETS ((hb, lb), (lb), ())
), written AS (
    INSERT INTO eta_calibration (hour_band, length_band, q10, q50, q90, samples)
    SELECT hb, lb, qs[1], qs[2], qs[3], n FROM q WHERE n >= %(min_samples)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM o) AS outcomes, (SELECT count(*) FROM written) AS bands
