"""Hospitals and ambulance stations, snapped to nodes of the road graph."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from device_emulator.config import DATA_DIR
from device_emulator.roads import RoadGraph

HOSPITALS_CSV = DATA_DIR / "hospitals.csv"
STATIONS_CSV = DATA_DIR / "stations.csv"  # the sample 115 stations the database loads too
# A hospital further than this from every junction of the extract is outside it (or on a road it lacks).
MAX_SNAP_DISTANCE_M = 400.0


@dataclass(frozen=True, slots=True)
class Hospital:
    name_en: str
    name_vi: str
    lat: float
    lon: float
    category: str

    @property
    def has_emergency_department(self) -> bool:
        return self.category.endswith("_ED")


@dataclass(frozen=True, slots=True)
class Place:
    """A named spot on the road graph: a hospital's nearest junction, or a station."""

    name: str
    node: int
    snap_distance_m: float


def load_hospitals(path: Path = HOSPITALS_CSV) -> tuple[Hospital, ...]:
    with path.open(encoding="utf-8", newline="") as stream:
        return tuple(
            Hospital(row["name_en"], row["name_vi"], float(row["lat"]), float(row["lon"]), row["category"])
            for row in csv.DictReader(stream)
        )


def hospitals_on_graph(
    graph: RoadGraph,
    hospitals: Iterable[Hospital],
    *,
    emergency_only: bool = False,
    max_snap_m: float = MAX_SNAP_DISTANCE_M,
) -> tuple[Place, ...]:
    """Hospitals inside the road extract, each at its nearest junction; ordered as in the CSV."""
    south, west, north, east = graph.bounds_latlon()
    places = []
    for hospital in hospitals:
        if emergency_only and not hospital.has_emergency_department:
            continue
        if not (south <= hospital.lat <= north and west <= hospital.lon <= east):
            continue
        node, distance = graph.nearest_node(hospital.lat, hospital.lon)
        if distance <= max_snap_m:
            places.append(Place(hospital.name_en, node, distance))
    if not places:
        raise ValueError("no hospital lies inside the road extract")
    return tuple(places)


def load_stations(graph: RoadGraph, path: Path = STATIONS_CSV) -> tuple[Place, ...]:
    """The stations of `stations.csv` (the ones `amb-admin load-danang` registers), at their junctions."""
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    places = []
    for row in rows:
        node, distance = graph.nearest_node(float(row["lat"]), float(row["lon"]))
        places.append(Place(row["name_en"], node, distance))
    return tuple(places)
