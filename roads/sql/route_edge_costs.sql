-- The costs of edges %(edges)s at the local hours %(hours)s, with their junction wait shares
-- (db/schema.sql: road_edge_costs).
SELECT id, hour, cost, reverse_cost, wait_share, reverse_wait_share
FROM road_edge_costs(%(edges)s::bigint[], %(hours)s::int[], %(min_samples)s::int)
