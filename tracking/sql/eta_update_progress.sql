-- A fix on the held route: only what is left of it changes (calibrated as a fresh route is).
WITH w AS (
    SELECT * FROM eta_window(%(fix_time)s, %(remaining_s)s)
), up AS (
    UPDATE journey_eta SET fix_time = %(fix_time)s, remaining_m = %(remaining_m)s,
                           remaining_s = w.expected_s,
                           arrival_at = %(fix_time)s + make_interval(secs => w.expected_s),
                           arrival_early_at = %(fix_time)s + make_interval(secs => w.low_s),
                           arrival_late_at = %(fix_time)s + make_interval(secs => w.high_s)
    FROM w
    WHERE journey_id = %(journey)s AND fix_time < %(fix_time)s
    RETURNING journey_eta.*
)
SELECT up.*, j.vehicle_id, j.destination_hospital_id AS hospital_id FROM up JOIN journeys j ON j.id = up.journey_id
