-- Whether a box holds the whole network: no edge reaches outside it (four index probes). When it
-- does, a path missing inside the box is missing everywhere.
SELECT NOT EXISTS (
    SELECT 1 FROM road_edges
    WHERE geom && ST_MakeEnvelope(-180, -90, %(west)s, 90, 4326)
       OR geom && ST_MakeEnvelope(%(east)s, -90, 180, 90, 4326)
       OR geom && ST_MakeEnvelope(-180, -90, 180, %(south)s, 4326)
       OR geom && ST_MakeEnvelope(-180, %(north)s, 180, 90, 4326)
)
