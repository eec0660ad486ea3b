-- Strongly connected components of the network (one-way edges respected): marks the edges with
-- both ends in the largest one, and returns its vertex count and the number of components.
WITH scc AS (
    SELECT node, component
    FROM pgr_strongComponents(
        'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edges')
), sizes AS (
    SELECT component, count(*) AS vertices FROM scc GROUP BY component
), main AS (
    SELECT component FROM sizes ORDER BY vertices DESC, component LIMIT 1
), marked AS (
    UPDATE road_edges e
    SET main_component = (s.component = m.component AND t.component = m.component)
    FROM scc s, scc t, main m
    WHERE s.node = e.source AND t.node = e.target
      AND e.main_component IS DISTINCT FROM (s.component = m.component AND t.component = m.component)
)
SELECT (SELECT max(vertices) FROM sizes), (SELECT count(*) FROM sizes)
