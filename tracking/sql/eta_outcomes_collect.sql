-- The routed predictions (eta_predictions) of journeys that have reached their target become
-- outcomes (eta_outcomes: predicted vs. actual seconds); those of journeys that ended otherwise
-- (cancelled, target changed and closed) or older than %(since)s go without one.
WITH done AS (
    DELETE FROM eta_predictions p
    USING journeys j
    WHERE j.id = p.journey_id
      AND (p.fix_time < %(since)s
           OR j.status IN ('completed', 'cancelled')
           OR (p.target_kind = 'scene' AND j.on_scene_at IS NOT NULL)
           OR (p.target_kind = 'hospital' AND j.at_hospital_at IS NOT NULL))
    RETURNING p.journey_id, j.vehicle_id, p.target_kind, p.fix_time, p.predicted_s, p.shown_s, p.early_s, p.late_s,
              CASE p.target_kind WHEN 'scene' THEN j.on_scene_at ELSE j.at_hospital_at END AS arrived_at
), legs AS (
    SELECT *, fix_time = min(fix_time) OVER (PARTITION BY journey_id, target_kind) AS first_of_leg FROM done
), kept AS (
    INSERT INTO eta_outcomes (at, predicted_s, actual_s, journey_id, vehicle_id, target_kind, first_of_leg,
                              shown_s, early_s, late_s)
    SELECT fix_time, predicted_s, extract(epoch FROM arrived_at - fix_time), journey_id, vehicle_id, target_kind,
           first_of_leg, shown_s, early_s, late_s
    FROM legs
    WHERE arrived_at > fix_time AND predicted_s > 0 AND fix_time >= %(since)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM done) AS closed, (SELECT count(*) FROM kept) AS outcomes
