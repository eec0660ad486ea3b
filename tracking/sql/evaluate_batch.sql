-- One query per batch: the oldest fixes waiting in tracking_inbox, each with the geofences within
-- its hysteresis distance (deep inside or near the border), the road class under it, and its
-- distance to the scene of its vehicle's open journey. The open journey is read and locked in this
-- same statement (FOR NO KEY UPDATE): a dispatcher's cancel or re-dispatch waits for the batch's
-- commit, so the scene measured here is the scene of the journey the rules move (issue 11, item 7);
-- not FOR UPDATE, which would also wait for the FOR KEY SHARE locks that the ETA round's rows in
-- journey_eta (a foreign key to journeys) hold until that round commits: an SOS would wait for
-- routing (issue 11, item 6). Its
-- `manual_at` is the time of its last status change by hand (none of the automatic transitions
-- this batch makes may be stamped at or before it). Geofences are two point-in-polygon tests in
-- Web Mercator (GiST-indexed): inside the geofence grown by its hysteresis, it is seen; inside the
-- geofence shrunk by it, it is deep in (see amb_geofence_merc in db/schema.sql).
WITH batch AS (
    SELECT i.vehicle_id, i.device_id, i.fix_time, i.geom, coalesce(i.speed_kmh, 0) AS speed_kmh,
           i.valid, i.attributes, ST_Transform(i.geom, 3857) AS merc,
           1.0 / cos(radians(ST_Y(i.geom))) AS k  -- Mercator units per metre here
    FROM tracking_inbox i
    ORDER BY i.fix_time
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), journey AS MATERIALIZED (
    SELECT j.id, j.vehicle_id, j.status, j.destination_hospital_id, j.scene_radius_m, j.incident_geom,
           (SELECT max(l.at) FROM journey_status_log l
            WHERE l.journey_id = j.id AND l.source <> 'rule') AS manual_at
    FROM journeys j
    WHERE j.vehicle_id IN (SELECT vehicle_id FROM batch) AND j.status NOT IN ('completed', 'cancelled')
    FOR NO KEY UPDATE OF j
)
SELECT b.vehicle_id, b.device_id, b.fix_time, ST_Y(b.geom) AS lat, ST_X(b.geom) AS lon, b.speed_kmh, b.valid,
       b.attributes, coalesce(g.seen_ids, '{}') AS seen_ids, coalesce(g.deep, '{}') AS deep, r.highway,
       j.id AS journey_id, ST_Distance(j.incident_geom::geography, b.geom::geography) AS scene_distance_m,
       j.status AS journey_status, j.destination_hospital_id, j.scene_radius_m, j.manual_at
FROM batch b
LEFT JOIN LATERAL (
    SELECT array_agg(g.id) AS seen_ids, array_agg(ST_Intersects(g.inner_merc, b.merc)) AS deep
    FROM geofences g
    WHERE g.active AND ST_Intersects(g.outer_merc, b.merc)
) g ON true
LEFT JOIN LATERAL (
    SELECT rd.highway FROM roads rd
    WHERE ST_DWithin(rd.geom_merc, b.merc, 25 * b.k)
    ORDER BY rd.geom_merc <-> b.merc
    LIMIT 1
) r ON true
LEFT JOIN journey j ON j.vehicle_id = b.vehicle_id
ORDER BY b.vehicle_id, b.fix_time
