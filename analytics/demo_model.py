"""The demo month's model, pure: when calls come (a daily profile), how long each step of a
journey takes (log-normal around figures of urban EMS, road times from pgRouting slowed at rush
hours), which unit goes (the fastest free one from its station, or the first to come free), and
where the patient is taken. `simulate` turns calls into journeys with every status timestamp."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
# Relative call rate per local hour (quiet before dawn, peaks mid-morning and early evening).
HOURLY_CALLS = (
    0.5, 0.4, 0.35, 0.3, 0.35, 0.5, 0.8, 1.1, 1.3, 1.4, 1.4, 1.3,
    1.2, 1.2, 1.2, 1.25, 1.35, 1.45, 1.5, 1.4, 1.2, 1.0, 0.8, 0.6,
)  # fmt: skip
PRIORITIES = ((1, 0.2), (2, 0.5), (3, 0.3))
TRANSPORT_SHARE = 0.82  # the rest are treated on scene and the unit returns
CANCEL_SHARE = 0.03  # called off on the way
OUT_OF_SERVICE_PER_30_DAYS = 2.0  # maintenance spells per unit


def congestion(local: datetime) -> float:
    """Road times at this local time over the free-flow profile: rush hours slow, nights quick."""
    h = local.hour
    factor = 1.45 if h in (7, 8, 17, 18) else 1.15 if h in (11, 12, 16) else 0.85 if h >= 22 or h < 5 else 1.0
    return factor * (0.92 if local.isoweekday() >= 6 else 1.0)


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


@dataclass(frozen=True, slots=True)
class Network:
    """Road times in seconds: from each station to each junction, and from each junction to each
    station and emergency hospital; the junctions incidents may happen at."""

    from_station: dict[int, dict[int, float]]
    to_station: dict[int, dict[int, float]]
    to_hospital: dict[int, dict[int, float]]
    junctions: list[tuple[int, float, float]]  # (id, lat, lon)
    hospital_nodes: dict[int, int]  # each hospital's junction


@dataclass(slots=True)
class Unit:
    vehicle_id: int
    station_id: int
    free_at: datetime
    out_of_service: list[tuple[datetime, datetime]] = field(default_factory=list)

    def blocked(self, at: datetime) -> datetime | None:
        """The end of an out-of-service spell covering `at`, if any."""
        return next((end for start, end in self.out_of_service if start <= at < end), None)


@dataclass(frozen=True, slots=True)
class DemoJourney:
    vehicle_id: int
    priority: int
    lat: float
    lon: float
    hospital_id: int | None
    call_at: datetime
    stamps: tuple[tuple[str, datetime], ...]  # (status, when) in order, first "dispatched"


def call_times(rng: random.Random, start: datetime, end: datetime, per_day: float) -> list[datetime]:
    """Poisson calls over [start, end) following the daily profile, `per_day` on average."""
    mean_weight = sum(HOURLY_CALLS) / 24
    out: list[datetime] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        rate = per_day / 24 * HOURLY_CALLS[hour.astimezone(LOCAL).hour] / mean_weight  # calls per hour
        t = hour + timedelta(hours=rng.expovariate(rate)) if rate > 0 else hour + timedelta(hours=1)
        while t < hour + timedelta(hours=1):
            if start <= t < end:
                out.append(t)
            t += timedelta(hours=rng.expovariate(rate))
        hour += timedelta(hours=1)
    return out


def out_of_service_spells(
    rng: random.Random, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    days = (end - start).total_seconds() / 86400
    count = sum(1 for _ in range(int(days * 10)) if rng.random() < OUT_OF_SERVICE_PER_30_DAYS / 300)
    spells = []
    for _ in range(count):
        begin = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
        spells.append((begin, min(begin + timedelta(hours=rng.uniform(2, 10)), end)))
    return sorted(spells)


def simulate(
    rng: random.Random, network: Network, units: list[Unit], calls: list[datetime]
) -> list[DemoJourney]:
    """Dispatch every call to the unit that gets there first (free now, or the first to be free)."""
    hospital_handover = {h: 12 + (i * 7) % 25 for i, h in enumerate(sorted(network.to_hospital))}  # minutes
    journeys = []
    for call in calls:
        node, lat, lon = rng.choice(network.junctions)
        lat += rng.uniform(-0.0004, 0.0004)
        lon += rng.uniform(-0.0004, 0.0004)
        priority = rng.choices([p for p, _ in PRIORITIES], [w for _, w in PRIORITIES])[0]
        decided = call + timedelta(seconds=lognormal(rng, 70 if priority > 1 else 50, 0.5))
        unit, leave_at, drive = _choose(network, units, node, decided)
        if unit is None:
            continue  # no unit can reach this junction
        factor = congestion(leave_at.astimezone(LOCAL)) * (0.9 if priority == 1 else 1.0)
        dispatched = max(decided, leave_at)
        en_route = dispatched + timedelta(seconds=min(max(lognormal(rng, 55, 0.45), 15), 400))
        travel = drive * factor * lognormal(rng, 1.0, 0.18) + rng.uniform(15, 60)  # + finding the door
        stamps = [("dispatched", dispatched), ("en_route", en_route)]
        hospital = None
        if rng.random() < CANCEL_SHARE:
            stamps.append(("cancelled", en_route + timedelta(seconds=travel * rng.uniform(0.2, 0.8))))
            back_from = node
        else:
            on_scene = en_route + timedelta(seconds=travel)
            leave = on_scene + timedelta(seconds=lognormal(rng, 14 * 60, 0.35))
            stamps.append(("on_scene", on_scene))
            hospital = _hospital(rng, network, node) if rng.random() < TRANSPORT_SHARE else None
            if hospital is None:
                stamps.append(("returning", leave))
                back_from = node
            else:
                transport = network.to_hospital[hospital][node] * congestion(leave.astimezone(LOCAL))
                arrive = leave + timedelta(seconds=transport * lognormal(rng, 1.05, 0.15) + 30)
                handed = arrive + timedelta(seconds=lognormal(rng, hospital_handover[hospital] * 60, 0.4))
                stamps += [("transporting", leave), ("at_hospital", arrive), ("returning", handed)]
                back_from = -hospital  # a hospital: its time home is looked up by the hospital's junction
        last = stamps[-1][1]
        if stamps[-1][0] == "returning":
            home = _time_home(network, unit.station_id, back_from)
            done = last + timedelta(
                seconds=home * congestion(last.astimezone(LOCAL)) * lognormal(rng, 1.15, 0.15) + 60
            )
            stamps.append(("completed", done))
            unit.free_at = done
        else:  # cancelled: back at the station after driving home
            unit.free_at = last + timedelta(seconds=_time_home(network, unit.station_id, back_from) * 1.1)
        _postpone_spells(unit, dispatched)
        journeys.append(DemoJourney(unit.vehicle_id, priority, lat, lon, hospital, call, tuple(stamps)))
    return journeys


def _choose(
    network: Network, units: list[Unit], node: int, at: datetime
) -> tuple[Unit | None, datetime, float]:
    """The unit arriving first: free units by road time, else the one free soonest; (unit, when it
    can leave, road time from its station)."""
    best: tuple[float, datetime, Unit, datetime, float] | None = None
    for unit in units:
        drive = network.from_station.get(unit.station_id, {}).get(node)
        if drive is None:
            continue
        leave = max(at, unit.free_at)
        while (spell_end := unit.blocked(leave)) is not None:
            leave = spell_end
        arrival = (leave - at).total_seconds() + drive
        # Equal arrivals (units of one station): the one back the longest goes.
        if best is None or (arrival, unit.free_at) < best[:2]:
            best = (arrival, unit.free_at, unit, leave, drive)
    if best is None:
        return None, at, 0.0
    return best[2], best[3], best[4]


def _postpone_spells(unit: Unit, dispatched: datetime) -> None:
    """A maintenance spell that would begin during a mission begins when the unit is back."""
    shifted = []
    for begin, end in unit.out_of_service:
        if dispatched <= begin < unit.free_at:
            begin, end = unit.free_at, unit.free_at + (end - begin)
        shifted.append((begin, end))
    unit.out_of_service = shifted


def _hospital(rng: random.Random, network: Network, node: int) -> int | None:
    ranked = sorted((times[node], h) for h, times in network.to_hospital.items() if node in times)
    if not ranked:
        return None
    return ranked[0][1] if len(ranked) == 1 or rng.random() < 0.7 else ranked[1][1]


def _time_home(network: Network, station_id: int, origin: int) -> float:
    """Road time back to the station from a junction (origin >= 0) or a hospital (-hospital id)."""
    times = network.to_station.get(station_id, {})
    if origin >= 0:
        return times.get(origin, 600.0)
    hospital_node = network.hospital_nodes.get(-origin)
    return times.get(hospital_node, 600.0) if hospital_node is not None else 600.0
