-- The costs of edges %(edges)s in seconds at each local hour of %(hours)s, both directions: what
-- route_edges.sql gives pgRouting at that hour (keep the two in step). For costing a route at
-- the time the vehicle reaches each edge (roads/timing.py).
SELECT e.id, h.hour,
       CASE WHEN f.speed_kmh > 0 THEN e.length_m * 3.6 / f.speed_kmh
            ELSE e.cost_s * coalesce(a.factor, c.factor, 1) END AS cost,
       CASE WHEN e.reverse_cost_s < 0 THEN -1
            WHEN r.speed_kmh > 0 THEN e.length_m * 3.6 / r.speed_kmh
            ELSE e.reverse_cost_s * coalesce(a.factor, c.factor, 1) END AS reverse_cost
FROM road_edges e
CROSS JOIN unnest(%(hours)s::int[]) AS h(hour)
LEFT JOIN road_speeds f
       ON f.edge_id = e.id AND f.forward AND f.hour = h.hour AND f.samples >= %(min_samples)s
LEFT JOIN road_speeds r
       ON r.edge_id = e.id AND NOT r.forward AND r.hour = h.hour AND r.samples >= %(min_samples)s
LEFT JOIN road_area_factors a ON a.highway = e.highway AND a.area = e.area AND a.hour = h.hour
LEFT JOIN road_area_factors c ON c.highway = e.highway AND c.area = -1 AND c.hour = h.hour
WHERE e.id = ANY(%(edges)s::bigint[])
