"""A route costed at the time the vehicle reaches each edge, not at the departure hour.

pgRouting picks the path with every edge costed at the departure hour (one Dijkstra run). Then
the path's edges are costed again, one after the other, at the time the vehicle gets to each:
learned speeds and class factors are per local hour, taken as the value at the middle of the hour
and interpolated linearly in between (so a trip at 6:55 into a 7-8 peak slows as it goes, and a
trip at 6:30 is costed at 6 h's figures exactly). A 20-minute trip into or out of a peak is then
costed as it will be driven; the path itself may still be the one best at the departure hour.

The wait at a junction is at the end of the edge leading into it (roads/speed_learning.py learns
its share of each edge's time): pgRouting prorates an edge's cost by the part of it driven, so a
route from a vehicle 20 m before a red light would keep a tenth of the wait, and a route to a scene
just before a junction would pay all of it. The first piece of a route that starts part-way along
an edge therefore keeps the edge's whole wait, and the last piece pays none of its own: the
target is reached before the stop line. Between two pieces the wait is scaled by what the turn
taken there costs against all the turns at that end of the edge (road_turn_factors, learned with
the speeds, its own factors pooled with the network's by turn) when `turn_costs` is on: where left
turns wait for their own phase, straight on through a junction is cheaper than the left turn. The
path itself is chosen without turn costs (pgRouting's node graph); they only cost it. Off by
default: on the accuracy bench's streets, whose lights stop every turn alike, it measured worse
than the edge's average wait (docs/benchmarks.md).

The edges' costs at all 24 hours (SQL road_edge_costs, what route_edges.sql gives pgRouting) are
cached per process for `COST_CACHE_S`: the tracker routes over the same streets all day, so
routing costs no extra query once they are known, and a learning run (hourly) reaches the
re-costing within that time. `forget_costs()` drops the cache (tests that change costs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from roads.settings import RoutingSettings
from runtime.db import query

# Each piece: (road_edges.id, True when driven source -> target, seconds at the departure hour).
Piece = tuple[int, bool, float]
COST_CACHE_S = 300.0
COST_CACHE_MAX_EDGES = 200_000
HOURS = list(range(24))
# Per hour: (cost, reverse cost, wait share, reverse wait share)
HourCosts = tuple[float, float, float, float]
# (edge, min_samples) -> (when fetched, monotonic; per hour)
_costs: dict[tuple[int, int], tuple[float, tuple[HourCosts, ...]]] = {}
STRAIGHT_DEG, BACK_DEG = 35.0, 150.0  # SQL road_turn's classes: 0 straight, 1 right, 2 left, 3 back


@dataclass(frozen=True, slots=True)
class EdgeTurns:
    """An edge's direction at its ends (degrees, drawn source -> target) and its turn factors:
    (driven forward, turn class) -> factor."""

    start_bearing: float | None
    end_bearing: float | None
    factors: dict[tuple[bool, int], float]

    def arriving(self, forward: bool) -> float | None:
        if forward:
            return self.end_bearing
        return None if self.start_bearing is None else self.start_bearing + 180

    def leaving(self, forward: bool) -> float | None:
        if forward:
            return self.start_bearing
        return None if self.end_bearing is None else self.end_bearing + 180


# edge -> (when fetched, its turns); 0 -> the network's factors (bearings None)
_turns: dict[int, tuple[float, EdgeTurns]] = {}
# (edge, forward) -> (when fetched, the mean and sd of the waits of the stops at its stop line)
_stops: dict[tuple[int, bool], tuple[float, float, float]] = {}
MIN_REST_S = 5.0
NETWORK_STOPS = (0, True)  # road_junction_stops' row of the whole network


def turn_class(arrive: float | None, leave: float | None) -> int | None:
    """The turn from a direction of arrival into one of leaving (SQL road_turn)."""
    if arrive is None or leave is None:
        return None
    d = (leave - arrive + 540) % 360 - 180
    if abs(d) <= STRAIGHT_DEG:
        return 0
    if abs(d) > BACK_DEG:
        return 3
    return 1 if d > 0 else 2


def forget_costs() -> None:
    _costs.clear()
    _turns.clear()
    _stops.clear()


def local_clock_hours(at: datetime, tz: Any) -> float:
    """The local time of day in hours (6:30 -> 6.5)."""
    local = at.astimezone(tz)
    return local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600


async def edge_costs(
    conn: AsyncConnection[Any], edges: Sequence[int], settings: RoutingSettings
) -> dict[int, tuple[HourCosts, ...]]:
    """Each edge's (cost, reverse cost, wait share, reverse wait share) at every local hour, from
    the cache or one query."""
    now = time.monotonic()
    n = settings.learned_min_samples
    missing = sorted({e for e in edges if (hit := _costs.get((e, n))) is None or now - hit[0] > COST_CACHE_S})
    if missing:
        if len(_costs) > COST_CACHE_MAX_EDGES:
            _costs.clear()
        fetched: dict[int, list[HourCosts]] = {e: [(-1.0, -1.0, 0.0, 0.0)] * 24 for e in missing}
        async with conn.cursor() as cur:
            await cur.execute(
                query("roads/route_edge_costs"), {"edges": missing, "hours": HOURS, "min_samples": n}
            )
            for edge, hour, cost, reverse_cost, wait, reverse_wait in await cur.fetchall():
                fetched[int(edge)][int(hour)] = (
                    float(cost),
                    float(reverse_cost),
                    float(wait),
                    float(reverse_wait),
                )
        for edge, by_hour in fetched.items():
            _costs[(edge, n)] = (now, tuple(by_hour))
    return {e: _costs[(e, n)][1] for e in edges}


async def edge_turns(conn: AsyncConnection[Any], edges: Sequence[int]) -> dict[int, EdgeTurns]:
    """Each edge's EdgeTurns, and the network's under 0, from the cache or one query."""
    now = time.monotonic()
    wanted = {0, *edges}
    missing = sorted(e for e in wanted if (hit := _turns.get(e)) is None or now - hit[0] > COST_CACHE_S)
    if missing:
        if len(_turns) > COST_CACHE_MAX_EDGES:
            _turns.clear()
        fetched: dict[int, EdgeTurns] = {0: EdgeTurns(None, None, {})}
        async with conn.cursor() as cur:
            await cur.execute(query("roads/route_turns"), {"edges": [e for e in missing if e]})
            for edge, start, end, forward, turn, factor in await cur.fetchall():
                got = fetched.setdefault(int(edge), EdgeTurns(start, end, {}))
                if turn is not None:
                    got.factors[(bool(forward), int(turn))] = float(factor)
        for edge in missing:
            _turns[edge] = (now, fetched.get(edge, EdgeTurns(None, None, {})))
    return {e: _turns[e][1] for e in wanted}


def _turn_factor(turns: dict[int, EdgeTurns], piece: Piece, after: Piece) -> float:
    """What the turn from `piece` into `after` costs against the average at that end of the edge."""
    edge, forward, _ = piece
    turn = turn_class(turns[edge].arriving(forward), turns[after[0]].leaving(after[1]))
    if turn is None:
        return 1.0
    own = turns[edge].factors.get((forward, turn))
    return own if own is not None else turns[0].factors.get((True, turn), 1.0)


async def waiting_at(
    conn: AsyncConnection[Any], edge: int, forward: bool, stood_s: float | None = None
) -> float:
    """How long a vehicle found standing at the stop line at the end of the edge still waits, on
    average, from the waits of the stops learned there (road_junction_stops: the edge's, else the
    network's), taken as spread evenly over mean ± √3 sd (0 to twice the mean where the spread is
    not known). Having stood `stood_s` already: what is left of the waits longer than that, at
    least MIN_REST_S (a wait longer than most still ends with a start). Without it, what is left of
    a wait found at a random moment, (mean² + sd²) / (2 mean): a vehicle is found during a long
    wait more often than during a short one, and part-way through it."""
    now = time.monotonic()
    hit = _stops.get((edge, forward))
    if hit is None or now - hit[0] > COST_CACHE_S:
        if len(_stops) > COST_CACHE_MAX_EDGES:
            _stops.clear()
        cur = await conn.execute(
            "SELECT mean_stop_s, sd_stop_s FROM road_junction_stops"
            " WHERE (edge_id, forward) IN ((%s, %s), (%s, %s)) ORDER BY edge_id = %s LIMIT 1",
            (edge, forward, *NETWORK_STOPS, NETWORK_STOPS[0]),
        )
        row = await cur.fetchone()
        mean = float(row[0]) if row else 0.0
        sd = float(row[1]) if row and row[1] is not None else mean / math.sqrt(3)
        hit = (now, mean, sd)
        _stops[(edge, forward)] = hit
    _, mean, sd = hit
    if mean <= 0:
        return 0.0
    if stood_s is None:
        return (mean**2 + sd**2) / (2 * mean)
    half = min(math.sqrt(3) * sd, mean)
    rest = mean - stood_s if stood_s < mean - half else (mean + half - stood_s) / 2
    return max(min(MIN_REST_S, mean), rest)


async def timed_pieces(
    conn: AsyncConnection[Any],
    pieces: Sequence[Piece],
    clock_h: float,
    hour: int,
    settings: RoutingSettings,
    partial_start: bool = False,
    waiting_s: float | None = None,
) -> list[float]:
    """Each piece's seconds, driven from `clock_h` (local hours) on and each at the time it is
    reached; `hour` is the hour whose costs the pieces' seconds were computed at; `partial_start`
    when the first piece starts part-way along its edge (the junction waits: see the module
    docstring); `waiting_s` when the vehicle stands at the stop line at the end of the first piece
    (or, the route starting at a vertex, before it) for the rest of its wait there (`waiting_at`):
    it is in the first piece's seconds."""
    if waiting_s is not None and not partial_start:
        rest = await timed_pieces(conn, pieces, clock_h + waiting_s / 3600, hour, settings)
        return [waiting_s + rest[0], *rest[1:]] if rest else [waiting_s]
    if sum(p[2] for p in pieces) <= 0:
        return [p[2] for p in pieces]
    costs = await edge_costs(conn, [p[0] for p in pieces], settings)
    by_turn = settings.turn_costs and len(pieces) > 1
    turns = await edge_turns(conn, [p[0] for p in pieces]) if by_turn else {}
    out: list[float] = []
    elapsed = 0.0
    last = len(pieces) - 1
    for i, (edge, forward, seconds) in enumerate(pieces):
        by_hour = costs[edge]
        side = 0 if forward else 1
        waited = 0.0  # seen, not learned: not scaled by the hour
        if i == 0 and waiting_s is not None:
            seconds, waited = seconds * (1 - by_hour[hour % 24][2 + side]), waiting_s
        else:
            factor = _turn_factor(turns, pieces[i], pieces[i + 1]) if by_turn and i < last else 1.0
            seconds = _with_wait(
                seconds, by_hour[hour % 24], side, i == 0 and partial_start, i == last, factor
            )
        tau = clock_h + elapsed / 3600 - 0.5
        k = math.floor(tau)
        base, c0, c1 = by_hour[hour % 24][side], by_hour[k % 24][side], by_hour[(k + 1) % 24][side]
        if base > 0 and c0 > 0 and c1 > 0:
            w = tau - k
            seconds *= ((1 - w) * c0 + w * c1) / base
        out.append(seconds + waited)
        elapsed += seconds + waited
    return out


def _with_wait(
    seconds: float, at_hour: HourCosts, side: int, partial_start: bool, last: bool, turn_factor: float = 1.0
) -> float:
    """A piece's seconds with its edge's junction wait where it falls - all of it ahead of a piece
    that starts part-way along the edge, none of it on the last piece - scaled by the turn taken."""
    full, wait = at_hour[side], at_hour[2 + side]
    if wait <= 0 or full <= 0:
        return seconds
    moving = seconds * (1 - wait)
    if last:
        return moving
    return moving + (full if partial_start else seconds) * wait * turn_factor
