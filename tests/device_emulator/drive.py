"""Fixes as the emulator's GPS receiver reports them along a straight drive through central Da Nang:
the input of every per-protocol encoder test."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from device_emulator.fixes import Fix, GpsReceiver
from device_emulator.fleet import Phase, VehicleSample
from device_emulator.roads import DANANG


def emulator_fixes(
    count: int,
    start: datetime,
    *,
    seed: int,
    origin: tuple[float, float] = (16.0544, 108.2022),
    step: tuple[float, float] = (1e-4, 2e-4),
    speed_mps: float = 12.5,
    heading: float = 63.4,
    phase: Phase = Phase.TO_SCENE,
    sats: int = 1,
    interval: timedelta = timedelta(seconds=1),
    offset: timedelta = timedelta(0),
) -> list[Fix]:
    """`count` fixes, one per `interval` from `start + offset`, each `step` (lat, lon) from the last."""
    gps = GpsReceiver(random.Random(seed), DANANG)
    return [
        gps.fix(
            VehicleSample(origin[0] + i * step[0], origin[1] + i * step[1], speed_mps, heading, phase, sats),
            start + offset + i * interval,
        )
        for i in range(count)
    ]
