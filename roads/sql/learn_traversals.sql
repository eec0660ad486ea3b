-- Traversal time of the fixes whose pairs end in [%(since)s, %(until)s) (whole hours), into
-- road_traversal_hours: map-matching, pairs of consecutive fixes, time and distance attributed to
-- the edges driven, summed per (edge, direction, UTC hour), with the part of it spent stopped; the
-- period's rows were deleted just before (learning an hour again replaces what it gave). See
-- roads/speed_learning.py.
WITH fixes AS MATERIALIZED (
    -- Valid moving fixes with a course (the fixes of the %(max_gap_s)s seconds before the period
    -- too: the first pair of the period needs its earlier fix).
    SELECT p.device_id, p.vehicle_id, p.fix_time, p.speed_kmh::float8 AS kmh,
           radians(p.course) AS course,
           ST_Transform(p.geom, 3857) AS merc,
           cos(radians(ST_Y(p.geom))) AS scale  -- metres per Mercator unit
    FROM positions p
    WHERE p.fix_time >= %(since)s::timestamptz - make_interval(secs => %(max_gap_s)s)
      AND p.fix_time < %(until)s
      AND p.valid AND p.vehicle_id IS NOT NULL AND p.course IS NOT NULL
      AND p.speed_kmh >= %(min_kmh)s AND p.speed_kmh <= %(max_kmh)s
), candidates AS (
    -- Every edge within %(match_m)s metres (the GiST index on geom_merc), with how well the fix's
    -- course agrees with the edge's direction at the nearest spot (1 = along, -1 = against).
    SELECT f.device_id, f.vehicle_id, f.fix_time, f.kmh, e.id AS edge_id, e.source, e.target, e.length_m,
           e.reverse_cost_s, l.fraction,
           ST_Distance(e.geom_merc, f.merc) AS distance,
           cos(f.course - ST_Azimuth(
               ST_LineInterpolatePoint(e.geom_merc, greatest(l.fraction - 5.0 / greatest(e.length_m, 0.01), 0)),
               ST_LineInterpolatePoint(e.geom_merc, least(l.fraction + 5.0 / greatest(e.length_m, 0.01), 1))
           )) AS agree
    FROM fixes f
    JOIN road_edges e ON ST_DWithin(e.geom_merc, f.merc, %(match_m)s / f.scale)
    CROSS JOIN LATERAL (SELECT ST_LineLocatePoint(e.geom_merc, f.merc) AS fraction OFFSET 0) l
), matched AS MATERIALIZED (
    -- Each fix on the nearest edge it drives along (a one-way edge never against its direction),
    -- with its position along the direction driven (0 = where it enters, 1 = where it leaves).
    SELECT DISTINCT ON (device_id, fix_time)
           device_id, vehicle_id, fix_time, kmh, edge_id, agree > 0 AS forward, length_m,
           CASE WHEN agree > 0 THEN fraction ELSE 1 - fraction END AS pos,
           CASE WHEN agree > 0 THEN source ELSE target END AS entry,
           CASE WHEN agree > 0 THEN target ELSE source END AS exit
    FROM candidates
    WHERE agree >= %(cos_tolerance)s OR (agree <= -%(cos_tolerance)s AND reverse_cost_s >= 0)
    ORDER BY device_id, fix_time, distance, edge_id
), pairs AS (
    SELECT m.*,
           lag(fix_time) OVER w AS prev_time, lag(kmh) OVER w AS prev_kmh, lag(edge_id) OVER w AS prev_edge,
           lag(forward) OVER w AS prev_forward, lag(pos) OVER w AS prev_pos,
           lag(length_m) OVER w AS prev_length, lag(exit) OVER w AS prev_exit
    FROM matched m
    WINDOW w AS (PARTITION BY device_id ORDER BY fix_time)
), moments AS MATERIALIZED (
    -- When the vehicles' journeys changed status (dispatched, on scene, at the hospital...): a
    -- pair of fixes around one is a stop of the mission - at the scene, at the hospital's door, a
    -- dispatch while parked - not a wait in traffic. Journeys of the day before the period too.
    SELECT j.vehicle_id, m.at
    FROM journeys j
    CROSS JOIN LATERAL (
        VALUES (j.dispatched_at), (j.en_route_at), (j.on_scene_at), (j.transporting_at),
               (j.at_hospital_at), (j.returning_at), (j.completed_at), (j.cancelled_at)
    ) AS m(at)
    WHERE j.dispatched_at >= %(since)s::timestamptz - interval '1 day' AND j.dispatched_at < %(until)s
      AND m.at >= %(since)s::timestamptz - make_interval(secs => %(max_gap_s)s) AND m.at < %(until)s
), kept AS (
    -- Pairs ending in the period, close enough in time to be one drive (a red light, a queue),
    -- on one edge or on two that join (the first's exit is the second's entry), with no change of
    -- the vehicle's journey between them (`moments`); the others (a skipped edge, a parked
    -- vehicle, a lost match, a stop at the scene) are left out whole, time and distance.
    SELECT *, extract(epoch FROM fix_time - prev_time)::float8 AS dt,
           date_trunc('hour', fix_time) AS hour_start
    FROM pairs p
    WHERE fix_time >= %(since)s AND prev_time IS NOT NULL
      AND fix_time - prev_time <= make_interval(secs => %(max_gap_s)s)
      AND ((edge_id = prev_edge AND forward = prev_forward) OR entry = prev_exit)
      AND NOT EXISTS (
          SELECT 1 FROM moments m WHERE m.vehicle_id = p.vehicle_id AND m.at > p.prev_time AND m.at <= p.fix_time
      )
), crossings AS MATERIALIZED (
    -- Pairs across a junction: the second edge gets the time to drive its start at the later fix's
    -- speed (never more than its share of the distance), the first edge the rest - so a wait at
    -- the junction lands on the edge leading into it - with the turn taken there (road_turn).
    SELECT k.*, t.t2, road_turn(
               CASE WHEN k.prev_forward THEN a.end_bearing ELSE a.start_bearing + 180 END,
               CASE WHEN k.forward THEN b.start_bearing ELSE b.end_bearing + 180 END) AS turn
    FROM (
        SELECT k.*, (1 - prev_pos) * prev_length AS d1, pos * length_m AS d2
        FROM kept k
        WHERE NOT (edge_id = prev_edge AND forward = prev_forward)
    ) k
    CROSS JOIN LATERAL (
        SELECT CASE WHEN k.d1 + k.d2 > 0
                    THEN least(k.dt * k.d2 / (k.d1 + k.d2), k.d2 / greatest(k.kmh / 3.6, 1.0))
                    ELSE 0 END AS t2
    ) t
    JOIN road_edges a ON a.id = k.prev_edge
    JOIN road_edges b ON b.id = k.edge_id
), pieces AS (
    -- On one edge: all the time on it. Across a junction: split as in `crossings`, the first piece
    -- with the turn taken at its end. What the distance does not explain at the two fixes' mean
    -- speed was spent stopped (or slowing): on a crossing's first piece, the junction's delay.
    SELECT *, greatest(seconds - metres / greatest(mps, 1.0), 0) AS stopped
    FROM (
        SELECT edge_id, forward, hour_start, dt AS seconds, greatest(pos - prev_pos, 0) * length_m AS metres,
               (prev_kmh + kmh) / 7.2 AS mps, NULL::smallint AS turn
        FROM kept
        WHERE edge_id = prev_edge AND forward = prev_forward
        UNION ALL
        SELECT x.edge_id, x.forward, k.hour_start, x.seconds, x.metres, x.mps, x.turn
        FROM crossings k
        CROSS JOIN LATERAL (
            VALUES (k.prev_edge, k.prev_forward, k.dt - k.t2, k.d1, (k.prev_kmh + k.kmh) / 7.2, k.turn),
                   (k.edge_id, k.forward, k.t2, k.d2, NULL, NULL)
        ) AS x(edge_id, forward, seconds, metres, mps, turn)
    ) p
), turns_written AS (
    -- Each crossing's delay by the turn taken, and the crossings that stopped (%(stop_delay_s)s s
    -- or more: a red light, not a corner).
    INSERT INTO road_turn_hours (edge_id, forward, turn, hour_start, delay_seconds, crossings, stops, stop_seconds,
                                 stop_squares)
    SELECT edge_id, forward, turn, hour_start, sum(stopped), count(*)::int,
           count(*) FILTER (WHERE stopped >= %(stop_delay_s)s)::int,
           coalesce(sum(stopped) FILTER (WHERE stopped >= %(stop_delay_s)s), 0),
           coalesce(sum(stopped ^ 2) FILTER (WHERE stopped >= %(stop_delay_s)s), 0)
    FROM pieces
    WHERE turn IS NOT NULL
    GROUP BY edge_id, forward, turn, hour_start
    RETURNING 1
), hourly AS (
    SELECT edge_id, forward, hour_start, sum(seconds) AS seconds, sum(metres) AS metres, count(*)::int AS pairs,
           sum(stopped) AS stopped  -- NULL (not counted) on a crossing's second piece
    FROM pieces
    GROUP BY edge_id, forward, hour_start
), written AS (
    INSERT INTO road_traversal_hours AS r (edge_id, forward, hour_start, seconds, metres, pairs, stopped_seconds)
    SELECT edge_id, forward, hour_start, seconds, metres, pairs, coalesce(stopped, 0) FROM hourly
    RETURNING 1
)
SELECT (SELECT count(*) FROM fixes WHERE fix_time >= %(since)s) AS fixes,
       (SELECT count(*) FROM matched WHERE fix_time >= %(since)s) AS matched,
       (SELECT count(*) FROM kept) AS pairs,
       (SELECT count(*) FROM written) AS cells,
       (SELECT count(*) FROM turns_written) AS turn_cells
