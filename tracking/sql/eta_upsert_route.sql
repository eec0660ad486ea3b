-- A freshly computed route becomes the journey's ETA, calibrated (tracking/eta_calibration.py:
-- the expected seconds and the p10-p90 arrival window); the raw prediction is kept for calibration,
-- with what was shown (for amb-admin eta-accuracy).
WITH up AS (
    INSERT INTO journey_eta AS e (journey_id, target_kind, route_geom, route_distance_m, route_duration_s,
                                  computed_at, fix_time, remaining_m, remaining_s, arrival_at,
                                  arrival_early_at, arrival_late_at, route_profile_m, route_profile_s)
    VALUES (%(journey)s, %(kind)s, ST_SetSRID(ST_GeomFromText(%(line)s), 4326), %(distance)s, %(duration)s,
            now(), %(fix_time)s, %(distance)s, %(expected)s, %(arrival)s, %(early)s, %(late)s,
            %(profile_m)s, %(profile_s)s)
    ON CONFLICT (journey_id) DO UPDATE
        SET target_kind = EXCLUDED.target_kind, route_geom = EXCLUDED.route_geom,
            route_distance_m = EXCLUDED.route_distance_m, route_duration_s = EXCLUDED.route_duration_s,
            computed_at = EXCLUDED.computed_at, fix_time = EXCLUDED.fix_time,
            remaining_m = EXCLUDED.remaining_m, remaining_s = EXCLUDED.remaining_s,
            arrival_at = EXCLUDED.arrival_at, arrival_early_at = EXCLUDED.arrival_early_at,
            arrival_late_at = EXCLUDED.arrival_late_at, route_profile_m = EXCLUDED.route_profile_m,
            route_profile_s = EXCLUDED.route_profile_s
    RETURNING e.*
), predicted AS (
    INSERT INTO eta_predictions (journey_id, target_kind, fix_time, predicted_s, shown_s, early_s, late_s)
    SELECT journey_id, target_kind, fix_time, %(duration)s, %(expected)s, %(early_s)s, %(late_s)s
    FROM up WHERE %(duration)s > 0
    ON CONFLICT (journey_id, fix_time) DO UPDATE
        SET target_kind = EXCLUDED.target_kind, predicted_s = EXCLUDED.predicted_s,
            shown_s = EXCLUDED.shown_s, early_s = EXCLUDED.early_s, late_s = EXCLUDED.late_s
)
SELECT up.*, j.vehicle_id, j.destination_hospital_id AS hospital_id FROM up JOIN journeys j ON j.id = up.journey_id
