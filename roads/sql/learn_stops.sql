-- road_junction_stops rebuilt from road_turn_hours of [%(since)s, %(until)s) (emptied just before,
-- in the same transaction): the mean wait of the crossings that stopped at the end of each edge,
-- from %(min_samples)s stops, and the network's (edge_id 0); with the waits' standard deviation,
-- NULL where hours learned before stop_squares was kept leave the sum of squares short (a sum of
-- squares below n * mean² cannot be one).
WITH s AS (
    SELECT edge_id, forward, sum(stop_seconds) AS seconds, sum(stop_squares) AS squares, sum(stops)::int AS n
    FROM road_turn_hours
    WHERE hour_start >= %(since)s AND hour_start < %(until)s AND stops > 0
    GROUP BY edge_id, forward
), m AS (
    SELECT edge_id, forward, seconds / n AS mean, squares / n - (seconds / n) ^ 2 AS variance, n
    FROM s WHERE n >= %(min_samples)s
    UNION ALL
    SELECT 0, true, sum(seconds) / sum(n), sum(squares) / sum(n) - (sum(seconds) / sum(n)) ^ 2, sum(n)::int
    FROM s HAVING sum(n) > 0
)
INSERT INTO road_junction_stops (edge_id, forward, mean_stop_s, stops, sd_stop_s)
SELECT edge_id, forward, mean::real, n,
       CASE WHEN variance >= -1e-6 * mean ^ 2 THEN sqrt(greatest(variance, 0))::real END
FROM m
