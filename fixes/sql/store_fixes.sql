-- Moves the staged batch (temp table incoming, filled by COPY) into positions, skipping fixes
-- already stored (same device and fix time), marks as late the fixes the device buffered or
-- that are older than the vehicle's latest, and advances vehicle_latest only forwards in time.
-- A fix stamped ahead of the database's clock by more than ahead_s (LATEST_MAX_AHEAD_S) is stored, but is
-- neither the latest position nor live for the tracking worker (queued as not valid: only its
-- alarms count), so a forged future fix cannot freeze the real ones behind it as late.
-- Returns every newly stored fix with its late and latest flags.
WITH staged AS (
    SELECT DISTINCT ON (i.device_id, i.fix_time) i.*
    FROM incoming i
    ORDER BY i.device_id, i.fix_time, i.seq
),
inserted AS (
    INSERT INTO positions (device_id, vehicle_id, fix_time, received_at, geom, speed_kmh, course,
                           altitude_m, accuracy_m, hdop, satellites, valid, late, protocol, attributes)
    SELECT s.device_id, s.vehicle_id, s.fix_time, s.received_at,
           ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), s.speed_kmh, s.course,
           s.altitude_m, s.accuracy_m, s.hdop, s.satellites, s.valid,
           s.backlog OR s.fix_time < coalesce(vl.fix_time, '-infinity'), s.protocol, s.attributes
    FROM staged s
    LEFT JOIN vehicle_latest vl ON vl.vehicle_id = s.vehicle_id
    ON CONFLICT (device_id, fix_time) DO NOTHING
    RETURNING device_id, vehicle_id, fix_time, received_at, geom, speed_kmh, course, altitude_m,
              accuracy_m, satellites, valid, late, attributes
),
queued AS (  -- for the tracking worker, in the same transaction: no committed fix is ever skipped
    INSERT INTO tracking_inbox (vehicle_id, device_id, fix_time, geom, speed_kmh, valid, attributes)
    SELECT vehicle_id, device_id, fix_time, geom, speed_kmh,
           valid AND fix_time <= now() + make_interval(secs => %(ahead_s)s), attributes
    FROM inserted
    WHERE vehicle_id IS NOT NULL
    ON CONFLICT DO NOTHING
),
newest AS (
    INSERT INTO vehicle_latest AS vl (vehicle_id, device_id, fix_time, received_at, geom, speed_kmh,
                                      course, altitude_m, accuracy_m, satellites, valid, attributes)
    SELECT DISTINCT ON (vehicle_id) vehicle_id, device_id, fix_time, received_at, geom, speed_kmh,
           course, altitude_m, accuracy_m, satellites, valid, attributes
    FROM inserted
    WHERE vehicle_id IS NOT NULL AND valid AND fix_time <= now() + make_interval(secs => %(ahead_s)s)
    ORDER BY vehicle_id, fix_time DESC
    ON CONFLICT (vehicle_id) DO UPDATE
        SET device_id = EXCLUDED.device_id, fix_time = EXCLUDED.fix_time,
            received_at = EXCLUDED.received_at, geom = EXCLUDED.geom,
            speed_kmh = EXCLUDED.speed_kmh, course = EXCLUDED.course,
            altitude_m = EXCLUDED.altitude_m, accuracy_m = EXCLUDED.accuracy_m,
            satellites = EXCLUDED.satellites, valid = EXCLUDED.valid, attributes = EXCLUDED.attributes
        WHERE EXCLUDED.fix_time > vl.fix_time
    RETURNING vehicle_id, fix_time
)
SELECT i.device_id, i.fix_time, i.late, (n.vehicle_id IS NOT NULL) AS latest
FROM inserted i
LEFT JOIN newest n ON n.vehicle_id = i.vehicle_id AND n.fix_time = i.fix_time
