-- Each point snapped to its best drivable edge within %(max_m)s metres, the one minimising
--   distance + %(component_penalty_m)s outside the largest strongly connected component
--            + %(heading_weight_m)s * (1 - cos(angle between the heading and a direction the edge
--              may be driven at the snapped spot)), with a heading.
-- The direction becomes pgRouting's point side under driving side 'r': 'r' = travelling source ->
-- target there, 'l' = target -> source, 'b' = either (no heading). Distances are planar (Mercator)
-- scaled by cos(latitude): exact to well under a metre at these ranges.
WITH p AS (
    SELECT u.i, u.heading,
           ST_Transform(ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326), 3857) AS merc,
           cos(radians(u.lat)) AS scale  -- metres per Mercator unit
    FROM unnest(%(lons)s::float8[], %(lats)s::float8[], %(headings)s::float8[])
         WITH ORDINALITY AS u(lon, lat, heading, i)
)
SELECT p.i, s.edge_id, s.fraction, s.side, s.distance_m, s.vertex, s.length_m, s.source, s.target,
       ST_X(s.spot) AS lon, ST_Y(s.spot) AS lat, t.arc_ids, t.arc_forwards, t.arc_splits
FROM p
CROSS JOIN LATERAL (
    SELECT c.id AS edge_id, c.fraction, d.side, c.distance_m, c.length_m, c.source, c.target,
           CASE WHEN c.fraction * c.length_m < %(vertex_m)s THEN c.source
                WHEN (1 - c.fraction) * c.length_m < %(vertex_m)s THEN c.target END AS vertex,
           ST_Transform(ST_LineInterpolatePoint(c.geom_merc, c.fraction), 4326) AS spot
    FROM (
        SELECT e.id, e.source, e.target, e.length_m, e.geom_merc, e.reverse_cost_s, e.main_component,
               ST_LineLocatePoint(e.geom_merc, p.merc) AS fraction,
               ST_Distance(e.geom_merc, p.merc) * p.scale AS distance_m
        FROM road_edges e
        WHERE ST_DWithin(e.geom_merc, p.merc, %(max_m)s / p.scale)
        ORDER BY e.geom_merc <-> p.merc
        LIMIT 8
    ) c
    CROSS JOIN LATERAL (
        -- the edge's direction at the spot: from 5 m before it to 5 m after it
        SELECT ST_Azimuth(
                   ST_LineInterpolatePoint(c.geom_merc, greatest(c.fraction - 5.0 / greatest(c.length_m, 0.01), 0)),
                   ST_LineInterpolatePoint(c.geom_merc, least(c.fraction + 5.0 / greatest(c.length_m, 0.01), 1))
               ) AS azimuth
    ) a
    CROSS JOIN LATERAL (
        SELECT 'b' AS side, 0.0::float8 AS penalty WHERE p.heading IS NULL
        UNION ALL
        SELECT 'r', %(heading_weight_m)s * (1 - cos(radians(p.heading) - a.azimuth))
        WHERE p.heading IS NOT NULL
        UNION ALL
        SELECT 'l', %(heading_weight_m)s * (1 - cos(radians(p.heading) - a.azimuth - pi()))
        WHERE p.heading IS NOT NULL AND c.reverse_cost_s >= 0
    ) d
    -- Ties within 10 cm (a point on edges that overlap without being duplicates) go to the shorter
    -- edge: the more detailed one, with its side streets.
    ORDER BY round((c.distance_m + coalesce(d.penalty, 2 * %(heading_weight_m)s)
                    + CASE WHEN c.main_component THEN 0 ELSE %(component_penalty_m)s END)::numeric, 1),
             c.length_m
    LIMIT 1
) s
-- The edge's rows in the graph of turn restrictions (road_turn_arcs), when it has any.
LEFT JOIN LATERAL (
    SELECT array_agg(a.id ORDER BY a.id) AS arc_ids, array_agg(a.forward ORDER BY a.id) AS arc_forwards,
           array_agg(a.split ORDER BY a.id) AS arc_splits
    FROM road_turn_arcs a WHERE a.edge_id = s.edge_id
) t ON true
ORDER BY p.i
