-- Upsert one journey_intervals row per journey that is new or changed since %(since)s: the first
-- transition into each status, from journey_status_log (NEMSIS-style timestamps), and the
-- intervals between them in seconds. A negative interval (a manual correction out of order) is
-- stored as NULL rather than distorting the percentiles.
WITH changed AS (
    SELECT j.id FROM journeys j WHERE j.updated_at >= %(since)s
    UNION
    SELECT j.id FROM journeys j
    WHERE NOT EXISTS (SELECT 1 FROM journey_intervals i WHERE i.journey_id = j.id)
), firsts AS (
    SELECT c.id AS journey_id,
           min(l.at) FILTER (WHERE l.to_status = 'dispatched')   AS dispatched,
           min(l.at) FILTER (WHERE l.to_status = 'en_route')     AS en_route,
           min(l.at) FILTER (WHERE l.to_status = 'on_scene')     AS on_scene,
           min(l.at) FILTER (WHERE l.to_status = 'transporting') AS transporting,
           min(l.at) FILTER (WHERE l.to_status = 'at_hospital')  AS at_hospital,
           min(l.at) FILTER (WHERE l.to_status = 'returning')    AS returning,
           min(l.at) FILTER (WHERE l.to_status = 'completed')    AS completed,
           min(l.at) FILTER (WHERE l.to_status = 'cancelled')    AS cancelled
    FROM changed c LEFT JOIN journey_status_log l ON l.journey_id = c.id
    GROUP BY c.id
), stamps AS (
    SELECT f.*, j.vehicle_id, j.status, j.priority, j.demo, j.destination_hospital_id, j.incident_geom,
           j.call_received_at,
           coalesce(f.dispatched, j.dispatched_at) AS disp,
           coalesce(j.call_received_at, f.dispatched, j.dispatched_at) AS call_at
    FROM firsts f JOIN journeys j ON j.id = f.journey_id
)
INSERT INTO journey_intervals AS i (
    journey_id, vehicle_id, status, priority, demo, area_id, hospital_id, incident_geom, call_at,
    local_day, local_hour, local_isodow, call_to_dispatch_s, turnout_s, travel_s, response_s,
    on_scene_s, transport_s, handover_s, mission_s, dispatched_at, closed_at, refreshed_at
)
SELECT s.journey_id, s.vehicle_id, s.status, s.priority, s.demo,
       (SELECT h.id FROM hospitals h WHERE h.category = 'district_health_centre'
        ORDER BY h.geom <-> s.incident_geom LIMIT 1),
       s.destination_hospital_id, s.incident_geom, s.call_at,
       (s.call_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
       extract(hour FROM s.call_at AT TIME ZONE 'Asia/Ho_Chi_Minh'),
       extract(isodow FROM s.call_at AT TIME ZONE 'Asia/Ho_Chi_Minh'),
       analytics_seconds(s.call_received_at, s.disp),
       analytics_seconds(s.disp, s.en_route),
       analytics_seconds(s.en_route, s.on_scene),
       analytics_seconds(s.call_at, s.on_scene),
       analytics_seconds(s.on_scene, coalesce(s.transporting, s.returning)),
       analytics_seconds(s.transporting, s.at_hospital),
       analytics_seconds(s.at_hospital, coalesce(s.returning, s.completed)),
       analytics_seconds(s.disp, coalesce(s.completed, s.cancelled)),
       s.disp, coalesce(s.completed, s.cancelled), now()
FROM stamps s
ON CONFLICT (journey_id) DO UPDATE SET
    vehicle_id = EXCLUDED.vehicle_id, status = EXCLUDED.status, priority = EXCLUDED.priority,
    demo = EXCLUDED.demo, area_id = EXCLUDED.area_id, hospital_id = EXCLUDED.hospital_id,
    incident_geom = EXCLUDED.incident_geom, call_at = EXCLUDED.call_at, local_day = EXCLUDED.local_day,
    local_hour = EXCLUDED.local_hour, local_isodow = EXCLUDED.local_isodow,
    call_to_dispatch_s = EXCLUDED.call_to_dispatch_s, turnout_s = EXCLUDED.turnout_s,
    travel_s = EXCLUDED.travel_s, response_s = EXCLUDED.response_s, on_scene_s = EXCLUDED.on_scene_s,
    transport_s = EXCLUDED.transport_s, handover_s = EXCLUDED.handover_s, mission_s = EXCLUDED.mission_s,
    dispatched_at = EXCLUDED.dispatched_at, closed_at = EXCLUDED.closed_at, refreshed_at = now()
