-- pgRouting edges SQL with the turn restrictions (roads/restrictions.py), composed around the
-- plain edges (route_edges.sql): an edge with a split arc drives only as its rows of road_turn_arcs,
-- copies leave the states' vertices, each row costed as its edge in that direction (-1: not
-- allowed; road_edge_costs, the same costs as route_edges.sql, for the few edges concerned).
-- roads/routing.py adds the zero-cost connectors joining a point's places on an edge's rows.
SELECT b.id, b.source, b.target, b.cost, b.reverse_cost
FROM ({edges}) AS b
WHERE b.id NOT IN (SELECT edge_id FROM road_turn_arcs WHERE split)
UNION ALL
SELECT a.id, a.source, a.target,
       CASE WHEN a.forward THEN c.cost ELSE -1 END,
       CASE WHEN a.forward THEN -1 ELSE c.reverse_cost END
FROM road_turn_arcs a
JOIN road_edge_costs(ARRAY(SELECT DISTINCT edge_id FROM road_turn_arcs), ARRAY[{hour}], {min_samples}) AS c
  ON c.id = a.edge_id
