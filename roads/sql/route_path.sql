-- One path between two nodes (vertex ids, or -pid of the virtual points %(pids)s on edges),
-- driving side 'r' (see roads/routing.py). Returns its seconds, metres, geometry (GeoJSON, in
-- driving order), edges (with true when driven source -> target), each edge's seconds and metres; no row
-- when there is no path. Rows of the turn-restricted graph (road_turn_arcs) are read as their
-- road edges. Each leg runs along one edge between two
-- positions on it (0 = source, 1 = target, or a point's fraction).
WITH pts AS (
    SELECT * FROM unnest(%(pids)s::bigint[], %(fractions)s::float8[]) AS t(pid, fraction)
), path AS (
    SELECT seq, node, edge, cost, lead(node) OVER (ORDER BY seq) AS next_node
    FROM pgr_withPoints(%(edges_sql)s, %(points_sql)s, %(start)s::bigint, %(end)s::bigint,
                        directed => true, driving_side => 'r', details => true)
), legs AS (
    SELECT p.seq, e.id AS edge, p.cost, e.length_m, e.geom_merc,
           CASE p.node WHEN coalesce(t.source, e.source) THEN 0 WHEN coalesce(t.target, e.target) THEN 1
                ELSE a.fraction END AS pos_from,
           CASE p.next_node WHEN coalesce(t.source, e.source) THEN 0 WHEN coalesce(t.target, e.target) THEN 1
                ELSE b.fraction END AS pos_to
    FROM path p
    LEFT JOIN road_turn_arcs t ON t.id = p.edge  -- a row of the turn-restricted graph: its road edge
    JOIN road_edges e ON e.id = coalesce(t.edge_id, p.edge)  -- connectors have none: left out
    LEFT JOIN pts a ON a.pid = -p.node
    LEFT JOIN pts b ON b.pid = -p.next_node
), pieces AS (
    SELECT seq, edge, pos_to >= pos_from AS forward, cost, length_m * abs(pos_to - pos_from) AS length_m,
           CASE WHEN pos_from <= pos_to THEN ST_LineSubstring(geom_merc, pos_from, pos_to)
                ELSE ST_Reverse(ST_LineSubstring(geom_merc, pos_to, pos_from)) END AS geom
    FROM legs
)
SELECT sum(cost) AS duration_s, sum(length_m) AS distance_m,
       ST_AsGeoJSON(ST_Transform(ST_MakeLine(geom ORDER BY seq), 4326), 7) AS geometry,
       array_agg(edge ORDER BY seq) AS edges, array_agg(forward ORDER BY seq) AS forward,
       array_agg(cost ORDER BY seq) AS costs, array_agg(length_m ORDER BY seq) AS lengths
FROM pieces
HAVING count(*) > 0
