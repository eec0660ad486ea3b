-- How the ETAs did against the arrivals (eta_outcomes since %(since)s): per leg (scene, hospital)
-- and for the first ETA of each leg apart (at dispatch for the scene, on leaving it for the
-- hospital), then all together. Errors are shares of the time that was left: the median and p90
-- of |ETA - actual| / actual, the bias (median of (ETA - actual) / actual: negative = too early),
-- for the ETA as shown (calibrated) and the router's own (raw); and how many arrivals fell inside
-- the p10-p90 window that was shown.
WITH o AS (
    SELECT coalesce(target_kind, '?') AS leg, first_of_leg, actual_s, predicted_s,
           coalesce(shown_s, predicted_s) AS shown_s, early_s, late_s
    FROM eta_outcomes
    WHERE at >= %(since)s
)
SELECT coalesce(leg, 'all') AS leg, coalesce(first_of_leg::text, 'any') AS which, count(*)::int AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(shown_s - actual_s) / actual_s) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY abs(shown_s - actual_s) / actual_s) AS p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (shown_s - actual_s) / actual_s) AS bias,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(predicted_s - actual_s) / actual_s) AS raw_median,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (predicted_s - actual_s) / actual_s) AS raw_bias,
       avg((actual_s BETWEEN early_s AND late_s)::int) FILTER (WHERE early_s IS NOT NULL) AS window,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY actual_s) AS median_actual_s
FROM o
GROUP BY GROUPING SETS ((leg, first_of_leg), (first_of_leg), ())
ORDER BY grouping(o.leg), o.leg, grouping(o.first_of_leg), o.first_of_leg DESC
