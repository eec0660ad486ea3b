"""ETA accuracy benchmark (not a test): prints figures.

Emulated ambulances drive central Da Nang with traffic the router does not know (rush hours on the
simulated clock and a fixed speed factor per road segment: device_emulator/traffic.py) and
through streets (bench/streets.py: signalised junctions where they sometimes stop, peaks at other
hours, a factor per day, incidents), all in simulated time, as fast as the machine goes:

1. Training: `--vehicles` ambulances run missions for `--training-days` simulated days; their
   fixes (every `--interval` s while moving, every minute while stopped) are stored into
   `positions` with their simulated times, as the gateway stores them (fixes.positions).
2. A calibration day, then an evaluation day: `--journeys` of each day's journeys to a scene or
   to a hospital, spread over the 24 hours, are kept with the vehicle's actual arrival.
3. At every `--every`th fix of the evaluation journeys the arrival is predicted with
   roads.routing.route(position and heading -> target, at the fix's simulated time): first
   with `road_speeds` empty (the default class profile), then after `learn_speeds` over the
   training days ("raw"), and as the API shows it ("learned": calibrated every simulated hour by
   the arrivals known then - the calibration day's and the evaluation day's so far - with its
   p10-p90 window: bench/eta_calibrated.py). The error is reported in seconds and as a share of
   the time actually remaining, median and p90, with the bias and the window's coverage, against
   issue 16's targets (bench/eta_figures.py), by hour and by point of the trip; beside them the
   floor, what an oracle knowing everything but the red lights' draws would predict.

The routed network, `--network`: `central` is the emulator's own road graph (roads-central.geojson),
so the router and the vehicles choose among the same roads; `make-run` is what `make run` imports,
plus the Hải Châu extract, whose small streets the emulated vehicles never drive (their speeds are
never learned, and the router may take them); `both` (default) evaluates on each in turn,
re-importing the network and learning again in between (edge ids differ: the extract's streets
split the main roads where they join them).

Runs on its own database (AMB_BENCH_ETA_DATABASE_URL, `ambulance_bench_eta`, created when
missing), loopback only, and stops by itself (10-25 minutes for `--network central` on 2 shared
cores with the defaults).

    .venv/bin/python bench/eta_accuracy.py [--vehicles 30] [--training-days 4] [--journeys 240]
                                           [--every 2] [--network central|make-run|both] [--explain]
                                           [--reuse FILE] [--no-default]

`--reuse FILE` keeps the simulated days in FILE (and the fixes in the database) and, when FILE
exists, only learns and predicts again (2-3 minutes); AMB_ROUTING_TURN_COSTS=1 predicts with turn
costs (roads/timing.py).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import pickle
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin.places import load_hospitals, load_stations
from bench.database import ensure_database
from bench.eta_calibrated import calibrated
from bench.eta_figures import Prediction, print_table
from bench.streets import Streets, expected_red_wait_s
from device_emulator.fleet import Phase, VehicleSample
from device_emulator.roads import RoadGraph, load_road_graph
from device_emulator.tracker import EmulatedTracker, FleetConfig, build_fleet
from fixes.model import Fix
from fixes.positions import PartitionCache, prepare_connection, store_fixes
from roads.importer import import_roads
from roads.routing import LOCAL_TIME, NoRouteError, RoutePoint, route
from roads.settings import RoutingSettings
from roads.speed_learning import LEARN_SETTINGS, LearnReport, learn_speeds, traversal_params
from roads.timing import forget_costs
from runtime.config import DEFAULT_DATA_DIR
from runtime.db import apply_schema, query
from tracking.fleet import register_device, register_vehicle

URL = os.environ.get("AMB_BENCH_ETA_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_bench_eta")
CENTRAL = DEFAULT_DATA_DIR / "roads-central.geojson"
NETWORKS = {"central": [CENTRAL], "make-run": [CENTRAL, DEFAULT_DATA_DIR / "haichau-central.osm.pbf"]}
STOPPED_FIX_S = 60  # a stopped tracker reports once a minute
MOVING_KMH = 5.0  # below this a fix's heading is stale: the router gets the last moving fix's of the journey
STORE_BATCH = 5000
# Everything learning leaves behind: the default profile must see none of it.
FORGET_LEARNED = (
    "TRUNCATE road_speeds, road_traversal_hours, road_learning_state, road_area_factors,"
    " road_turn_hours, road_turn_factors, road_junction_stops"
)


@dataclass(slots=True)
class Journey:
    """One drive to a scene or a hospital: its fixes (time, lat, lon, heading, km/h) and arrival."""

    device_id: str
    phase: Phase
    target: tuple[float, float]  # lat, lon of the emulator's target junction
    fixes: list[tuple[datetime, float, float, float, float]] = field(default_factory=list)
    arrival: datetime | None = None
    # (when, seconds waited) at each signalised junction passed on the way (bench/streets.py)
    signals: list[tuple[datetime, float]] = field(default_factory=list)

    def trip_share(self, when: datetime) -> float:
        assert self.arrival is not None
        start = self.fixes[0][0]
        return (when - start).total_seconds() / max(1.0, (self.arrival - start).total_seconds())

    def floor_s(self, when: datetime) -> float:
        """What an oracle would predict at `when` that knows the path, every speed and every
        factor, but not the lights: the time actually left with each red light still ahead
        replaced by a signal's expected wait."""
        assert self.arrival is not None
        ahead = [wait for at, wait in self.signals if at > when]
        actual = (self.arrival - when).total_seconds()
        return actual - sum(ahead) + len(ahead) * expected_red_wait_s()


def prepare(network: str) -> None:
    """The database with the schema, Da Nang's places and the routable `network`; no fixes, no
    learned speeds."""
    ensure_database(URL)
    apply_schema(URL)
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("TRUNCATE positions, vehicle_latest, tracking_inbox, devices, vehicles CASCADE")
        conn.execute(FORGET_LEARNED)
        conn.execute("DELETE FROM eta_outcomes")
        conn.execute("DELETE FROM eta_calibration")
        load_hospitals(conn, DEFAULT_DATA_DIR / "hospitals.csv")
        load_stations(conn, DEFAULT_DATA_DIR / "stations.csv")
    import_network(network)


def import_network(network: str) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        report = import_roads(conn, NETWORKS[network], replace=True)
        conn.execute(FORGET_LEARNED)
    print(f"   network {network}: {report.summary()}", flush=True)


# The journey timestamp set when a vehicle's emulated phase becomes this one (as amb-tracker's
# rules set them from the fixes); IDLE: back at the station, the journey completed.
PHASE_MOMENTS = {
    Phase.TO_SCENE: "dispatched_at",
    Phase.AT_SCENE: "on_scene_at",
    Phase.TO_HOSPITAL: "transporting_at",
    Phase.AT_HOSPITAL: "at_hospital_at",
    Phase.RETURNING: "returning_at",
    Phase.IDLE: "completed_at",
}


@dataclass(slots=True)
class Missions:
    """The training fleet's journeys, as amb-tracker records them: the learner leaves out the
    pairs of fixes around a change of a journey's status (a stop at the scene is not a red light)."""

    phases: dict[int, Phase] = field(default_factory=dict)
    open_: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: list[dict[str, Any]] = field(default_factory=list)

    def see(self, vehicle_id: int, phase: Phase, when: datetime, target: int, graph: RoadGraph) -> None:
        before = self.phases.get(vehicle_id)
        self.phases[vehicle_id] = phase
        if before is None or phase is before:
            return
        if phase is Phase.TO_SCENE:
            if vehicle_id in self.open_:
                self.done.append(self.open_.pop(vehicle_id))
            lat, lon = graph.node_latlon(target)
            self.open_[vehicle_id] = {"vehicle_id": vehicle_id, "lat": lat, "lon": lon}
        journey = self.open_.get(vehicle_id)
        if journey is not None:
            journey.setdefault(PHASE_MOMENTS[phase], when)
            if phase is Phase.IDLE:
                self.done.append(self.open_.pop(vehicle_id))

    async def store(self, conn: psycopg.AsyncConnection[Any]) -> None:
        rows = [*self.done, *self.open_.values()]
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO journeys (vehicle_id, status, incident_geom, dispatched_at, en_route_at,"
                " on_scene_at, transporting_at, at_hospital_at, returning_at, completed_at)"
                " VALUES (%(vehicle_id)s, 'completed', ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),"
                " %(dispatched_at)s, %(dispatched_at)s, %(on_scene_at)s, %(transporting_at)s,"
                " %(at_hospital_at)s, %(returning_at)s, %(completed_at)s)",
                [dict.fromkeys(PHASE_MOMENTS.values()) | j for j in rows],
            )
        print(f"   {len(rows)} journeys recorded", flush=True)


def plate(i: int) -> str:
    return f"43E{i:05d}"


def register(count: int) -> list[tuple[int, str]]:
    with psycopg.connect(URL) as conn:
        fleet = []
        for i in range(1, count + 1):
            vehicle = register_vehicle(conn, plate(i), f"E-{i:04d}")
            register_device(conn, f"eta-{i:04d}", "mqtt_json", vehicle.plate)
            fleet.append((vehicle.id, f"eta-{i:04d}"))
    return fleet


def stored_fix(
    vehicle_id: int, device_id: str, tracker: EmulatedTracker, sample: VehicleSample, when: datetime
) -> Fix:
    fix = tracker.gps.fix(sample, when)
    return Fix(
        device_id,
        vehicle_id,
        when,
        when,
        fix.lat,
        fix.lon,
        "mqtt_json",
        speed_kmh=fix.speed_kmh,
        course=float(fix.heading),
        accuracy_m=float(fix.accuracy_m),
        satellites=fix.sats,
    )


async def train(
    trackers: list[EmulatedTracker],
    fleet: list[tuple[int, str]],
    streets: Streets,
    start: datetime,
    args: argparse.Namespace,
) -> int:
    """Drive the fleet over the training days and store its fixes; returns how many."""
    conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
    await prepare_connection(conn)
    partitions = PartitionCache()
    pending: list[Fix] = []
    stored = 0
    steps = int(args.training_days * 86400 / args.interval)
    started = time.perf_counter()

    async def flush() -> None:
        nonlocal stored
        await partitions.ensure(conn, pending)
        stored += len(await store_fixes(conn, pending))
        pending.clear()

    missions = Missions()
    for step in range(1, steps + 1):
        when = start + timedelta(seconds=step * args.interval)
        for tracker, (vehicle_id, device_id) in zip(trackers, fleet, strict=True):
            sample = streets.step(tracker.vehicle, args.interval, when)
            missions.see(vehicle_id, sample.phase, when, tracker.vehicle.target, tracker.vehicle.graph)
            if sample.speed_mps > 0 or step % (STOPPED_FIX_S // args.interval) == 0:
                pending.append(stored_fix(vehicle_id, device_id, tracker, sample, when))
        if len(pending) >= STORE_BATCH:
            await flush()
        if step % int(6 * 3600 / args.interval) == 0:
            print(
                f"   trained {step * args.interval / 86400:.2f} of {args.training_days} simulated days:"
                f" {stored + len(pending)} fixes stored ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    await flush()
    await missions.store(conn)
    await conn.execute("TRUNCATE tracking_inbox")  # no worker evaluates them here
    await conn.execute("ANALYZE positions")
    await conn.close()
    return stored


def drive_evaluation_day(
    trackers: list[EmulatedTracker],
    graph: RoadGraph,
    streets: Streets,
    start: datetime,
    args: argparse.Namespace,
) -> list[Journey]:
    """One more simulated day (1 s steps: arrivals to the second); the journeys to a scene or a
    hospital that started and ended within it."""
    done: list[Journey] = []
    open_: dict[str, Journey] = {}
    keys = {tracker.device_id: id(tracker.vehicle) for tracker in trackers}
    streets.passes = {}
    for step in range(1, 86400 + 1):
        when = start + timedelta(seconds=step)
        for tracker in trackers:
            vehicle = tracker.vehicle
            sample = streets.step(vehicle, 1.0, when)
            journey = open_.get(tracker.device_id)
            if journey is not None and sample.phase is not journey.phase:
                journey.arrival = when
                done.append(open_.pop(tracker.device_id))
                journey = None
            if journey is None and sample.phase in (Phase.TO_SCENE, Phase.TO_HOSPITAL):
                journey = Journey(tracker.device_id, sample.phase, graph.node_latlon(vehicle.target))
                open_[tracker.device_id] = journey
            if journey is not None and step % args.interval == 0:
                fix = tracker.gps.fix(sample, when)
                journey.fixes.append((when, fix.lat, fix.lon, float(fix.heading), fix.speed_kmh))
            else:
                tracker.gps.fix(sample, when)  # keeps the GPS error drifting second by second
    for j in done:
        if j.fixes and j.arrival is not None:
            first = j.fixes[0][0]
            passes = streets.passes.get(keys[j.device_id], [])
            j.signals = [(at, w) for at, w in passes if first <= at <= j.arrival]
    streets.passes = None
    return [j for j in done if j.fixes]


def pick_journeys(journeys: list[Journey], count: int, rng: random.Random) -> list[Journey]:
    """`count` journeys spread evenly over the local hours of their departures."""
    by_hour: dict[int, list[Journey]] = defaultdict(list)
    for j in journeys:
        by_hour[j.fixes[0][0].astimezone(LOCAL_TIME).hour].append(j)
    per_hour = math.ceil(count / 24)
    picked = [
        j for hour in sorted(by_hour) for j in rng.sample(by_hour[hour], min(per_hour, len(by_hour[hour])))
    ]
    return picked[:count] if len(picked) > count else picked


async def predict(
    journeys: list[Journey], every: int, label: str, vehicles: dict[str, int]
) -> tuple[list[Prediction], int, float]:
    """Route from every `every`th fix of each journey to its target; (predictions, no-route count,
    mean ms per route)."""
    predictions: list[Prediction] = []
    failures = 0
    total = sum(len(j.fixes[::every]) for j in journeys)
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        done = 0
        for journey in journeys:
            assert journey.arrival is not None
            target = RoutePoint(*journey.target)
            moving_heading = None  # a vehicle waiting at a light still faces the way it drove
            stopped_since = None  # its first fix of standing still, as amb-tracker's rules keep it
            for i, (when, lat, lon, heading, kmh) in enumerate(journey.fixes):
                if kmh >= MOVING_KMH:
                    moving_heading, stopped_since = heading, None
                elif stopped_since is None:
                    stopped_since = when
                if i % every:
                    continue
                done += 1
                actual = (journey.arrival - when).total_seconds()
                if actual <= 0:
                    continue
                stopped = kmh < MOVING_KMH and moving_heading is not None  # waiting on the way
                stood = (when - stopped_since).total_seconds() if stopped and stopped_since else None
                start = RoutePoint(lat, lon, moving_heading, stopped=stopped, stood_s=stood)
                try:
                    r = await route(conn, start, target, when)
                except NoRouteError:
                    failures += 1
                    continue
                predictions.append(
                    Prediction(
                        when.astimezone(LOCAL_TIME).hour,
                        actual,
                        r.duration_s,
                        at=when,
                        trip_share=journey.trip_share(when),
                        vehicle=vehicles.get(journey.device_id),
                        target="scene" if journey.phase is Phase.TO_SCENE else "hospital",
                    )
                )
                if done % 2000 == 0:
                    print(f"   {label}: {done} of {total} fixes routed", flush=True)
    elapsed = time.perf_counter() - started
    return predictions, failures, elapsed * 1000 / max(1, done)


def save(path: Path, what: object) -> None:
    path.write_bytes(pickle.dumps(what))


def load(path: Path) -> Any:
    return pickle.loads(path.read_bytes())


def floor(journeys: list[Journey], every: int) -> list[Prediction]:
    """The oracle's predictions (Journey.floor_s) from the fixes the profiles predict from: the
    error no router can remove, the red lights' draws."""
    return [
        Prediction(
            when.astimezone(LOCAL_TIME).hour,
            (j.arrival - when).total_seconds(),
            j.floor_s(when),
            at=when,
            trip_share=j.trip_share(when),
        )
        for j in journeys
        if j.arrival is not None
        for when, *_ in j.fixes[::every]
        if j.arrival > when
    ]


async def explain_learning(since: datetime, until: datetime, settings: RoutingSettings) -> None:
    """EXPLAIN ANALYZE of the learning statement on the period's busiest hour, rolled back."""
    async with await psycopg.AsyncConnection.connect(URL) as conn:
        for setting in LEARN_SETTINGS:
            await conn.execute(setting)
        cur = await conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query("roads/learn_traversals"),
            traversal_params(until - timedelta(hours=14), until - timedelta(hours=13), settings),
        )
        print("\n".join(r[0] for r in await cur.fetchall()))
        await conn.rollback()


async def evaluate_network(
    network: str,
    journeys: list[Journey],
    calibration: list[Journey],
    vehicles: dict[str, int],
    since: datetime,
    until: datetime,
    args: argparse.Namespace,
) -> tuple[dict[str, list[Prediction]], LearnReport]:
    results: dict[str, list[Prediction]] = {"floor": floor(journeys, args.every)}
    if not args.no_default:
        predictions, failures, ms = await predict(journeys, args.every, f"{network}/default", vehicles)
        results["default"] = predictions
        print(
            f"   default profile: {len(predictions)} predictions, {failures} without a route, {ms:.1f} ms per route"
        )
    settings = RoutingSettings()
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        await conn.execute(FORGET_LEARNED)
        report = await learn_speeds(conn, since, until, settings)
    forget_costs()  # as amb-tracker does after learning: its routes see the new costs at once
    print(f"   {report.summary()}", flush=True)
    if args.explain:
        await explain_learning(since, until, settings)
    # Calibration: the learned profile's predictions on the day before, against its arrivals,
    # then the evaluation day's own as they arrive (amb-tracker calibrates every hour).
    history, _, _ = await predict(calibration, args.every * 2, f"{network}/calibration", vehicles)
    predictions, failures, ms = await predict(journeys, args.every, f"{network}/learned", vehicles)
    results["raw"] = predictions
    if args.reuse:  # for studying calibration without routing again
        save(Path(f"{args.reuse}.{network}.predictions"), (history, predictions))
    results["learned"] = await calibrated(URL, predictions, history)
    print(
        f"   learned profile: {len(predictions)} predictions, {failures} without a route, {ms:.1f} ms per route"
    )
    return results, report


async def simulate(
    network: str,
    graph: RoadGraph,
    trackers: list[EmulatedTracker],
    start: datetime,
    until: datetime,
    args: argparse.Namespace,
) -> tuple[list[Journey], list[Journey]]:
    """Training days stored, then a calibration day and an evaluation day driven by the fleet of
    `trackers`; the journeys kept of each of the two days."""
    prepare(network)
    fleet = register(args.vehicles)
    streets = Streets.build(graph, args.seed)
    for tracker in trackers:
        streets.adopt(tracker.vehicle)
    print(
        f"1. training: {args.vehicles} ambulances, {args.training_days} simulated days from"
        f" {start.astimezone(LOCAL_TIME):%Y-%m-%d %H:%M} (Da Nang), a fix every {args.interval} s while moving",
        flush=True,
    )
    t = time.perf_counter()
    stored = await train(trackers, fleet, streets, start, args)
    print(f"   {stored} fixes stored in {time.perf_counter() - t:.0f} s", flush=True)

    t = time.perf_counter()
    stops = streets.stops
    calibration = pick_journeys(
        drive_evaluation_day(trackers, graph, streets, until, args), args.journeys, random.Random(args.seed)
    )
    journeys = drive_evaluation_day(trackers, graph, streets, until + timedelta(days=1), args)
    picked = pick_journeys(journeys, args.journeys, random.Random(args.seed))
    fixes = sum(len(j.fixes[:: args.every]) for j in picked)
    minutes = statistics.median((j.arrival - j.fixes[0][0]).total_seconds() / 60 for j in picked if j.arrival)
    print(
        f"2. a calibration day and an evaluation day driven in {time.perf_counter() - t:.0f} s ({streets.stops - stops} red"
        f" lights stopped at): {len(journeys)} journeys to a scene or hospital on the evaluation day;"
        f" {len(picked)} kept over the 24 hours (median {minutes:.1f} min), {fixes} fixes to predict from",
        flush=True,
    )
    return calibration, picked


async def run(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    networks = ["central", "make-run"] if args.network == "both" else [args.network]
    print(
        f"== ETA accuracy benchmark on {URL.rsplit('/', 1)[-1]}: networks {', '.join(networks)}", flush=True
    )
    today = datetime.now(LOCAL_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
    graph = load_road_graph()
    trackers = build_fleet(FleetConfig(vehicles=args.vehicles, seed=args.seed, traffic=True), graph)
    # The emulated trackers' ids -> the vehicles registered for them, in fleet order (register()).
    plates = {t.device_id: plate(i) for i, t in enumerate(trackers, start=1)}
    cache = Path(args.reuse) if args.reuse else None
    if cache is not None and cache.exists():
        start, calibration, picked = load(cache)
        until = start + timedelta(days=args.training_days)
        apply_schema(URL)
        import_network(networks[0])
        print(f"1-2. training and driving reused from {cache} and the database's fixes", flush=True)
    else:
        start = (today - timedelta(days=args.training_days + 2)).astimezone(UTC)
        until = start + timedelta(days=args.training_days)
        calibration, picked = await simulate(networks[0], graph, trackers, start, until, args)
        if cache is not None:
            save(cache, (start, calibration, picked))
    with psycopg.connect(URL) as conn:
        ids: dict[str, int] = dict(conn.execute("SELECT plate, id FROM vehicles").fetchall())
    vehicles = {device: ids[p] for device, p in plates.items()}
    learned_ok = True
    for i, network in enumerate(networks):
        if i:
            import_network(network)
        print(f"3. predictions on the {network} network", flush=True)
        results, report = await evaluate_network(network, picked, calibration, vehicles, start, until, args)
        learned_ok = print_table(network, results) and learned_ok
        print(
            f"   learn_speeds: {report.fixes} fixes, {report.seconds:.1f} s ({1e6 * report.seconds / max(1, report.fixes):.0f} µs per fix)"
        )
    print(f"\nwhole run {time.perf_counter() - wall:.0f} s on {os.cpu_count()} cores", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vehicles", type=int, default=30)
    parser.add_argument("--training-days", type=float, default=4.0)
    parser.add_argument("--interval", type=int, default=5, choices=(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30))
    parser.add_argument("--journeys", type=int, default=240, help="evaluation journeys, spread over 24 hours")
    parser.add_argument("--every", type=int, default=2, help="predict from every Nth fix of a journey")
    parser.add_argument("--network", choices=("central", "make-run", "both"), default="both")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the learning statement"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--reuse",
        metavar="FILE",
        help="keep the simulated days in FILE (and the fixes in the database) and start from them when"
        " FILE exists: only learning and predicting run again",
    )
    parser.add_argument("--no-default", action="store_true", help="skip the default profile's predictions")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
