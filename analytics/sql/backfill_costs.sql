-- Road travel times (profile costs, seconds) for the demo back-fill: from each place's nearest
-- routable junction to every junction (direction 'from'), or from every junction to it ('to': the
-- same search on the reversed graph). Places: the stations, and the hospitals with an emergency
-- department.
WITH places AS (
    SELECT 'station' AS kind, s.id, s.geom FROM stations s
    UNION ALL
    SELECT 'hospital', h.id, h.geom FROM hospitals h WHERE h.has_emergency
), snapped AS (
    SELECT p.kind, p.id,
           (SELECT v.id FROM road_vertices v
            WHERE EXISTS (SELECT 1 FROM road_edges e WHERE e.main_component AND e.source = v.id)
            ORDER BY v.geom <-> p.geom LIMIT 1) AS vid
    FROM places p
)
SELECT s.kind, s.id AS place_id, 'from' AS direction, d.node, d.agg_cost
FROM pgr_drivingDistance(
    'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edges',
    (SELECT array_agg(DISTINCT vid) FROM snapped WHERE kind = 'station' AND vid IS NOT NULL),
    1e9, directed => true, equicost => false) d
JOIN snapped s ON s.vid = d.from_v AND s.kind = 'station'
UNION ALL
SELECT s.kind, s.id, 'to', d.node, d.agg_cost
FROM pgr_drivingDistance(
    -- Reversed: an edge source -> target of cost c becomes target -> source of cost c.
    'SELECT id, target AS source, source AS target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edges',
    (SELECT array_agg(DISTINCT vid) FROM snapped WHERE vid IS NOT NULL),
    1e9, directed => true, equicost => false) d
JOIN snapped s ON s.vid = d.from_v
