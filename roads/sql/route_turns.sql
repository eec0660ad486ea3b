-- The directions of edges %(edges)s at their ends and what each turn at their ends costs against
-- their average junction wait (road_turn_factors); then the network's factors by turn (id 0).
SELECT e.id, e.start_bearing, e.end_bearing, f.forward, f.turn, f.factor
FROM road_edges e
LEFT JOIN road_turn_factors f ON f.edge_id = e.id
WHERE e.id = ANY(%(edges)s)
UNION ALL
SELECT 0, NULL, NULL, forward, turn, factor FROM road_turn_factors WHERE edge_id = 0
