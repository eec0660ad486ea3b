SELECT id, name_vi, name_en, category, has_emergency, ST_Y(geom) AS lat, ST_X(geom) AS lon
FROM hospitals
ORDER BY name_vi
