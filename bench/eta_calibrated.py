"""The ETA accuracy benchmark's calibration: the learned profile's predictions calibrated and given
their p10-p90 window hour by hour, from the arrivals known at each hour (tracking/eta_calibration.py),
as amb-tracker does."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

import psycopg

from bench.eta_figures import Prediction
from tracking.eta_calibration import calibrate, eta_windows


async def calibrated(url: str, predictions: list[Prediction], history: list[Prediction]) -> list[Prediction]:
    """The predictions as the tracker writes them: calibrated, with their p10-p90 window, by the
    outcomes known at the time - those of `history` and of the predictions themselves whose
    arrival had passed - calibrated again every hour as amb-tracker does."""

    def arrival(p: Prediction) -> datetime:
        assert p.at is not None
        return p.at + timedelta(seconds=p.actual_s)

    pending = sorted((p for p in [*history, *predictions] if p.predicted_s > 0), key=arrival)
    by_hour: dict[datetime, list[Prediction]] = defaultdict(list)
    for p in predictions:
        assert p.at is not None
        by_hour[p.at.replace(minute=0, second=0, microsecond=0)].append(p)
    out: list[Prediction] = []
    bands: list[int] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DELETE FROM eta_outcomes")
        i = 0
        for hour in sorted(by_hour):
            known = []
            while i < len(pending) and arrival(pending[i]) <= hour:
                known.append(pending[i])
                i += 1
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO eta_outcomes (at, predicted_s, actual_s, vehicle_id, target_kind)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [(p.at, p.predicted_s, p.actual_s, p.vehicle, p.target) for p in known],
                )
            bands.append((await calibrate(conn, hour))[1])
            batch = by_hour[hour]
            windows = await eta_windows(
                conn,
                [p.at for p in batch if p.at],
                [p.predicted_s for p in batch],
                [p.vehicle for p in batch],
                [p.target for p in batch],
            )
            out += [
                replace(p, predicted_s=expected, low_s=low, high_s=high)
                for p, (expected, low, high) in zip(batch, windows, strict=True)
            ]
    print(f"   calibrated every hour: {min(bands)}-{max(bands)} bands", flush=True)
    return out
