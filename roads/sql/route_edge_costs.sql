-- The costs of edges %(edges)s at the local hours %(hours)s (db/schema.sql: road_edge_costs).
SELECT id, hour, cost, reverse_cost FROM road_edge_costs(%(edges)s::bigint[], %(hours)s::int[], %(min_samples)s::int)
