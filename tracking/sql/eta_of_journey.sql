SELECT e.*, j.vehicle_id, j.destination_hospital_id AS hospital_id
FROM journey_eta e JOIN journeys j ON j.id = e.journey_id
WHERE e.journey_id = %(journey)s
