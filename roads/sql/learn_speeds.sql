-- Learned speeds (road_speeds) from the stored fixes of [%(since)s, %(until)s), in one statement:
-- map-matching, statistics per (edge, direction, local hour), upsert, removal of the rows no fix
-- supports any more. See tracking/speed_learning.py for the why of each choice.
WITH fixes AS MATERIALIZED (
    -- Valid fixes of a vehicle, moving, with a course and a plausible speed (each fix's Mercator
    -- point computed once, not at every use).
    SELECT p.device_id, p.fix_time, p.speed_kmh::float8 AS kmh,
           radians(p.course) AS course,
           extract(hour FROM p.fix_time AT TIME ZONE %(tz)s)::int AS hour,
           ST_Transform(p.geom, 3857) AS merc,
           cos(radians(ST_Y(p.geom))) AS scale  -- metres per Mercator unit
    FROM positions p
    WHERE p.fix_time >= %(since)s AND p.fix_time < %(until)s
      AND p.valid AND p.vehicle_id IS NOT NULL AND p.course IS NOT NULL
      AND p.speed_kmh >= %(min_kmh)s AND p.speed_kmh <= %(max_kmh)s
), candidates AS (
    -- Every edge within %(match_m)s metres of a fix (the GiST index on geom_merc), with how well
    -- the fix's course agrees with the edge's direction at the nearest spot: the cosine of the
    -- angle between them (1 = along the edge, -1 = against it).
    SELECT f.device_id, f.fix_time, f.hour, f.kmh, e.id AS edge_id, e.reverse_cost_s,
           ST_Distance(e.geom_merc, f.merc) AS distance,
           cos(f.course - ST_Azimuth(
               ST_LineInterpolatePoint(e.geom_merc, greatest(l.fraction - 5.0 / greatest(e.length_m, 0.01), 0)),
               ST_LineInterpolatePoint(e.geom_merc, least(l.fraction + 5.0 / greatest(e.length_m, 0.01), 1))
           )) AS agree
    FROM fixes f
    JOIN road_edges e ON ST_DWithin(e.geom_merc, f.merc, %(match_m)s / f.scale)
    CROSS JOIN LATERAL (SELECT ST_LineLocatePoint(e.geom_merc, f.merc) AS fraction OFFSET 0) l
), matched AS MATERIALIZED (
    -- Each fix on the nearest edge it drives along: forward within the tolerance of the edge's
    -- direction, or reverse within it of the opposite direction on a two-way edge (a one-way edge
    -- is never matched against its direction).
    SELECT DISTINCT ON (device_id, fix_time) edge_id, agree > 0 AS forward, hour, kmh
    FROM candidates
    WHERE agree >= %(cos_tolerance)s OR (agree <= -%(cos_tolerance)s AND reverse_cost_s >= 0)
    ORDER BY device_id, fix_time, distance, edge_id
), spread AS (
    -- A matched fix counts for its own hour and, to smooth thin hours, for the %(smooth_hours)s
    -- hours either side of it.
    SELECT m.edge_id, m.forward, ((m.hour + s.shift + 24) %% 24)::smallint AS hour, s.shift = 0 AS own, m.kmh
    FROM matched m
    CROSS JOIN generate_series(-%(smooth_hours)s::int, %(smooth_hours)s::int) AS s(shift)
), counts AS (
    SELECT edge_id, forward, hour, count(*) FILTER (WHERE own) AS own_n, count(*) AS pooled_n
    FROM spread
    GROUP BY edge_id, forward, hour
), chosen AS (
    -- A cell's own hour when it has enough fixes, else its hour with the hours next to it.
    -- `rank`: where the fix's speed stands among the cell's, from 0 (slowest) to 1 (fastest).
    SELECT s.edge_id, s.forward, s.hour, s.kmh,
           (row_number() OVER (PARTITION BY s.edge_id, s.forward, s.hour ORDER BY s.kmh) - 0.5)
           / count(*) OVER (PARTITION BY s.edge_id, s.forward, s.hour) AS rank
    FROM spread s
    JOIN counts c USING (edge_id, forward, hour)
    WHERE (s.own OR c.own_n < %(min_samples)s)
      AND (c.own_n > 0 OR c.pooled_n >= %(min_samples)s)
), learned AS (
    -- The mean of the middle (trimmed at both ends) and the median of the fixes' own speeds.
    SELECT edge_id, forward, hour, count(*)::int AS samples,
           round(coalesce(avg(kmh::numeric) FILTER (WHERE rank BETWEEN %(trim)s AND 1 - %(trim)s),
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY kmh)::numeric), 2)::real AS speed_kmh,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY kmh)::numeric, 2)::real AS p50_kmh
    FROM chosen
    GROUP BY edge_id, forward, hour
), upserted AS (
    INSERT INTO road_speeds AS r (edge_id, forward, hour, speed_kmh, samples, p50_kmh, updated_at)
    SELECT edge_id, forward, hour, speed_kmh, samples, p50_kmh, now() FROM learned
    ON CONFLICT (edge_id, forward, hour) DO UPDATE
        SET speed_kmh = EXCLUDED.speed_kmh, samples = EXCLUDED.samples, p50_kmh = EXCLUDED.p50_kmh,
            updated_at = EXCLUDED.updated_at
        WHERE (r.speed_kmh, r.samples, r.p50_kmh)
              IS DISTINCT FROM (EXCLUDED.speed_kmh, EXCLUDED.samples, EXCLUDED.p50_kmh)
    RETURNING 1
), removed AS (
    DELETE FROM road_speeds r
    WHERE NOT EXISTS (
        SELECT 1 FROM learned l WHERE l.edge_id = r.edge_id AND l.forward = r.forward AND l.hour = r.hour
    )
    RETURNING 1
)
SELECT (SELECT count(*) FROM fixes) AS fixes,
       (SELECT count(*) FROM matched) AS matched,
       (SELECT count(*) FROM learned) AS cells,
       (SELECT count(*) FROM learned WHERE samples >= %(min_samples)s) AS usable,
       (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM removed) AS removed
