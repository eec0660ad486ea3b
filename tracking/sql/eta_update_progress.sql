-- A fix on the held route: only what is left of it changes (calibrated as a fresh route is).
WITH up AS (
    UPDATE journey_eta SET fix_time = %(fix_time)s, remaining_m = %(remaining_m)s,
                           remaining_s = %(expected)s, arrival_at = %(arrival)s,
                           arrival_early_at = %(early)s, arrival_late_at = %(late)s
    WHERE journey_id = %(journey)s AND fix_time < %(fix_time)s
    RETURNING *
)
SELECT up.*, j.vehicle_id, j.destination_hospital_id AS hospital_id FROM up JOIN journeys j ON j.id = up.journey_id
