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
    RETURNING p.fix_time, p.predicted_s,
              CASE p.target_kind WHEN 'scene' THEN j.on_scene_at ELSE j.at_hospital_at END AS arrived_at
), kept AS (
    INSERT INTO eta_outcomes (at, predicted_s, actual_s)
    SELECT fix_time, predicted_s, extract(epoch FROM arrived_at - fix_time)
    FROM done
    WHERE arrived_at > fix_time AND predicted_s > 0 AND fix_time >= %(since)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM done) AS closed, (SELECT count(*) FROM kept) AS outcomes
