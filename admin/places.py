"""Imports of places and road lines: hospitals, sample stations and roads from the Da Nang data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg


def load_hospitals(conn: psycopg.Connection, csv_path: Path) -> int:
    """Upsert the hospitals of a `name_vi,name_en,lat,lon,category,osm_ref` CSV; returns the row count."""
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        conn.execute(
            """
            INSERT INTO hospitals (name_vi, name_en, category, has_emergency, osm_ref, geom)
            VALUES (%(name_vi)s, %(name_en)s, %(category)s, %(has_ed)s, nullif(%(osm_ref)s, ''),
                    ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
            ON CONFLICT (name_vi) DO UPDATE
                SET name_en = EXCLUDED.name_en, category = EXCLUDED.category,
                    has_emergency = EXCLUDED.has_emergency, osm_ref = EXCLUDED.osm_ref, geom = EXCLUDED.geom
            """,
            {**r, "lat": float(r["lat"]), "lon": float(r["lon"]), "has_ed": r["category"].endswith("_ED")},
        )
    return len(rows)


def load_stations(conn: psycopg.Connection, csv_path: Path) -> int:
    """Upsert the stations of a `name_vi,name_en,lat,lon,near` CSV and drop sample stations no longer
    in it (with their geofences). Da Nang's 115 station sites are not public: the shipped file holds
    samples, labelled as such, at the junction nearest a district health centre."""
    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        conn.execute(
            """
            INSERT INTO stations (name, is_sample, geom)
            VALUES (%s, true, ST_SetSRID(ST_MakePoint(%s, %s), 4326))
            ON CONFLICT (name) DO UPDATE SET geom = EXCLUDED.geom
            """,
            (r["name_vi"], float(r["lon"]), float(r["lat"])),
        )
    conn.execute(
        "DELETE FROM stations WHERE is_sample AND NOT name = ANY(%s)", ([r["name_vi"] for r in rows],)
    )
    return len(rows)


def load_road_lines(conn: psycopg.Connection, geojson_path: Path) -> int:
    """Replace the road lines from one GeoJSON file, atomically; returns the line count."""
    features = json.loads(geojson_path.read_text(encoding="utf-8"))["features"]
    source = geojson_path.name
    with conn.transaction():
        conn.execute("DELETE FROM roads WHERE source = %s", (source,))
        with conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO roads (name, highway, oneway, length_m, source, geom)
                VALUES (%s, %s, %s, %s, %s, ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326))
                """,
                [
                    (
                        f["properties"].get("name"),
                        f["properties"].get("highway", "unclassified"),
                        bool(f["properties"].get("oneway", False)),
                        float(f["properties"].get("length_m") or 0.0),
                        source,
                        json.dumps(f["geometry"]),
                    )
                    for f in features
                    if f["geometry"]["type"] == "LineString"
                ],
            )
    return len(features)
