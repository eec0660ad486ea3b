# PostGIS with pgRouting (the ETA work routes on the road network in the database).
FROM postgis/postgis:15-3.4
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-pgrouting \
 && rm -rf /var/lib/apt/lists/*
