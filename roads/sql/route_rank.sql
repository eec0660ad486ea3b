-- One-to-many in one Dijkstra run: from node %(start)s to each of %(ends)s (vertex ids, or -pid of
-- the virtual points %(pids)s), driving side 'r'. Returns each reached end's seconds and metres;
-- unreachable ends have no row. Many-to-one runs this on the reversed graph.
WITH pts AS (
    SELECT * FROM unnest(%(pids)s::bigint[], %(fractions)s::float8[]) AS t(pid, fraction)
), path AS (
    SELECT end_pid, node, edge, cost,
           lead(node) OVER (PARTITION BY end_pid ORDER BY path_seq) AS next_node
    FROM pgr_withPoints(%(edges_sql)s, %(points_sql)s, %(start)s::bigint, %(ends)s::bigint[],
                        directed => true, driving_side => 'r', details => true)
)
SELECT p.end_pid AS node, sum(p.cost) AS duration_s,
       coalesce(sum(e.length_m * abs(
           CASE p.next_node WHEN coalesce(t.source, e.source) THEN 0 WHEN coalesce(t.target, e.target) THEN 1
                ELSE b.fraction END
           - CASE p.node WHEN coalesce(t.source, e.source) THEN 0 WHEN coalesce(t.target, e.target) THEN 1
                  ELSE a.fraction END)), 0) AS distance_m
FROM path p
LEFT JOIN road_turn_arcs t ON t.id = p.edge  -- a row of the turn-restricted graph: its road edge
LEFT JOIN road_edges e ON e.id = coalesce(t.edge_id, p.edge)  -- none for connectors
LEFT JOIN pts a ON a.pid = -p.node
LEFT JOIN pts b ON b.pid = -p.next_node
GROUP BY p.end_pid
