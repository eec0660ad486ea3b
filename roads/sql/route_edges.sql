-- pgRouting edges SQL, composed with literals (psycopg.sql) because pgRouting runs it as text: the
-- edges in a box with their costs in seconds at one hour of the day. A learned speed (road_speeds,
-- with enough samples: the edge's own traversals, or its class's factor) replaces the profile cost
-- of its edge and direction; -1 = not allowed. Keep in step with SQL road_edge_costs (db/schema.sql).
SELECT e.id, e.source, e.target,
       CASE WHEN f.speed_kmh > 0 THEN e.length_m * 3.6 / f.speed_kmh ELSE e.cost_s END AS cost,
       CASE WHEN e.reverse_cost_s < 0 THEN -1
            WHEN r.speed_kmh > 0 THEN e.length_m * 3.6 / r.speed_kmh
            ELSE e.reverse_cost_s END AS reverse_cost
FROM road_edges e
LEFT JOIN road_speeds f
       ON f.edge_id = e.id AND f.forward AND f.hour = {hour} AND f.samples >= {min_samples}
LEFT JOIN road_speeds r
       ON r.edge_id = e.id AND NOT r.forward AND r.hour = {hour} AND r.samples >= {min_samples}
WHERE e.geom && ST_MakeEnvelope({west}, {south}, {east}, {north}, 4326)
