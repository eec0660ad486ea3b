-- road_junction_stops rebuilt from road_turn_hours of [%(since)s, %(until)s) (emptied just before,
-- in the same transaction): the mean wait of the crossings that stopped at the end of each edge,
-- from %(min_samples)s stops, and the network's (edge_id 0).
WITH s AS (
    SELECT edge_id, forward, sum(stop_seconds) AS seconds, sum(stops)::int AS n
    FROM road_turn_hours
    WHERE hour_start >= %(since)s AND hour_start < %(until)s AND stops > 0
    GROUP BY edge_id, forward
)
INSERT INTO road_junction_stops (edge_id, forward, mean_stop_s, stops)
SELECT edge_id, forward, (seconds / n)::real, n FROM s WHERE n >= %(min_samples)s
UNION ALL
SELECT 0, true, (sum(seconds) / sum(n))::real, sum(n)::int FROM s HAVING sum(n) > 0
