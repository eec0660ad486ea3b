-- road_turn_factors rebuilt from road_turn_hours of [%(since)s, %(until)s) (emptied just before, in
-- the same transaction): what a turn costs against all the turns taken there (its delay per
-- crossing over theirs). The network's, by turn (edge_id 0), from %(min_samples)s crossings of it;
-- each edge's, where its crossings are delayed at all (half a second each on average), pooled with
-- the network's as if it had %(prior_crossings)s crossings more at the network's factor: one red
-- light's draw (5-55 s) must not make a turn dear.
WITH t AS (
    SELECT edge_id, forward, turn, sum(delay_seconds) AS delay, sum(crossings)::int AS n
    FROM road_turn_hours
    WHERE hour_start >= %(since)s AND hour_start < %(until)s
    GROUP BY edge_id, forward, turn
), approach AS (
    SELECT edge_id, forward, sum(delay) / sum(n) AS per_crossing FROM t GROUP BY edge_id, forward
), overall AS (
    SELECT sum(delay) / sum(n) AS per_crossing FROM t
), network AS (
    SELECT t.turn, least(sum(t.delay) / sum(t.n) / o.per_crossing, 10) AS factor, sum(t.n)::int AS n
    FROM t CROSS JOIN overall o
    WHERE o.per_crossing > 0
    GROUP BY t.turn, o.per_crossing
    HAVING sum(t.n) >= %(min_samples)s
)
INSERT INTO road_turn_factors (edge_id, forward, turn, factor, crossings)
SELECT t.edge_id, t.forward, t.turn,
       least((t.delay + %(prior_crossings)s * a.per_crossing * nw.factor)
             / ((t.n + %(prior_crossings)s) * a.per_crossing), 10)::real,
       t.n
FROM t
JOIN approach a USING (edge_id, forward)
JOIN network nw USING (turn)
WHERE a.per_crossing >= 0.5
UNION ALL
SELECT 0, true, turn, factor::real, n FROM network
