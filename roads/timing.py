"""A route costed at the time the vehicle reaches each edge, not at the departure hour.

pgRouting picks the path with every edge costed at the departure hour (one Dijkstra run). Then
the path's edges are costed again, one after the other, at the time the vehicle gets to each:
learned speeds and class factors are per local hour, taken as the value at the middle of the hour
and interpolated linearly in between (so a trip at 6:55 into a 7-8 peak slows as it goes, and a
trip at 6:30 is costed at 6 h's figures exactly). A 20-minute trip into or out of a peak is then
costed as it will be driven; the path itself may still be the one best at the departure hour.
One query fetches the costs of the path's edges at the hours the trip spans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from roads.settings import RoutingSettings
from runtime.db import query

# Each piece: (road_edges.id, True when driven source -> target, seconds at the departure hour).
Piece = tuple[int, bool, float]


def local_clock_hours(at: datetime, tz: Any) -> float:
    """The local time of day in hours (6:30 -> 6.5)."""
    local = at.astimezone(tz)
    return local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600


async def timed_seconds(
    conn: AsyncConnection[Any],
    pieces: Sequence[Piece],
    clock_h: float,
    hour: int,
    settings: RoutingSettings,
) -> float:
    """The pieces' seconds driven from `clock_h` (local hours) on, each at the time it is reached;
    `hour` is the hour whose costs the pieces' seconds were computed at."""
    flat = sum(p[2] for p in pieces)
    if flat <= 0:
        return flat
    # The hours the trip may span, with room for it to run slower than at the departure hour.
    first = math.floor(clock_h - 0.5)
    hours = sorted({hour % 24, *((first + k) % 24 for k in range(math.ceil(3 * flat / 3600) + 3))})
    costs: dict[tuple[int, int], tuple[float, float]] = {}
    async with conn.cursor() as cur:
        await cur.execute(
            query("roads/route_edge_costs"),
            {
                "edges": sorted({p[0] for p in pieces}),
                "hours": hours,
                "min_samples": settings.learned_min_samples,
            },
        )
        for edge, h, cost, reverse_cost in await cur.fetchall():
            costs[(int(edge), int(h))] = (float(cost), float(reverse_cost))
    elapsed = 0.0
    for edge, forward, seconds in pieces:
        base = _cost(costs, edge, hour, forward)
        tau = clock_h + elapsed / 3600 - 0.5
        k = math.floor(tau)
        c0, c1 = _cost(costs, edge, k % 24, forward), _cost(costs, edge, (k + 1) % 24, forward)
        if base is None or c0 is None or c1 is None or base <= 0:
            elapsed += seconds
            continue
        w = tau - k
        elapsed += seconds * ((1 - w) * c0 + w * c1) / base
    return elapsed


def _cost(
    costs: dict[tuple[int, int], tuple[float, float]], edge: int, hour: int, forward: bool
) -> float | None:
    pair = costs.get((edge, hour))
    if pair is None:
        return None
    value = pair[0] if forward else pair[1]
    return value if value > 0 else None
