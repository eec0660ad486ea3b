"""Journeys with a known status log, written as the dispatcher and the tracker write them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tracking.fleet import register_vehicle

# A Wednesday 09:00 in Da Nang (02:00 UTC), a week into the month.
T0 = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)

AddJourney = Callable[..., int]


@pytest.fixture
def add_journey(db: psycopg.Connection) -> AddJourney:
    """add_journey(steps, ...): a closed journey whose log has each (status, seconds after T0)."""
    vehicles: dict[str, int] = {}

    def add(
        steps: list[tuple[str, float]],
        *,
        unit: str = "115-A1",
        lat: float = 16.06,
        lon: float = 108.21,
        priority: int = 2,
        call_s: float | None = None,
        hospital: int | None = None,
        demo: bool = False,
        day: int = 0,
    ) -> int:
        if unit not in vehicles:
            vehicles[unit] = register_vehicle(db, f"43A{10000 + len(vehicles)}", unit).id
        base = T0 + timedelta(days=day)
        stamps = {status: base + timedelta(seconds=s) for status, s in steps}
        columns = {f"{status}_at": at for status, at in stamps.items()}
        row = db.execute(
            f"""
            INSERT INTO journeys (vehicle_id, status, priority, incident_geom, destination_hospital_id,
                                  call_received_at, demo, {", ".join(columns)})
            VALUES (%s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s,
                    {", ".join(["%s"] * len(columns))})
            RETURNING id
            """,
            (
                vehicles[unit],
                steps[-1][0],
                priority,
                lon,
                lat,
                hospital,
                base + timedelta(seconds=call_s) if call_s is not None else None,
                demo,
                *columns.values(),
            ),
        ).fetchone()
        assert row is not None
        previous = None
        for status, at in stamps.items():
            db.execute(
                "INSERT INTO journey_status_log (journey_id, from_status, to_status, at, source, rule)"
                " VALUES (%s, %s, %s, %s, %s, 'test')",
                (row[0], previous, status, at, "dispatcher" if previous is None else "rule"),
            )
            previous = status
        return int(row[0])

    return add
