"""The emulated fleet and the dispatch desk, through the real API.

`DispatchFollower` makes each emulated ambulance drive the journey a dispatcher assigned to its
vehicle (the scene, then the destination hospital), as a crew would; with `Breakdowns`, some break
down on the way to the scene and the desk re-dispatches their journey (`--breakdown-rate`). `DemoCalls` plays the 115
call-taker for demos: emergency calls at random places in Da Nang, each given to the available
ambulance fastest by road, with the emergency department nearest by road as its destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from device_emulator.fleet import Phase
from device_emulator.roads import RoadGraph
from device_emulator.tracker import EmulatedTracker

log = logging.getLogger(__name__)

POLL_S = 2.0
FRESH_S = 60.0
# A destination is reachable by the emulator only if the road network passes close to it: the
# vehicle stops at the junction nearest the hospital, which must lie inside its 300 m area.
MAX_HOSPITAL_SNAP_M = 250.0
PRIORITIES = (1, 2, 3)
PRIORITY_WEIGHTS = (0.3, 0.5, 0.2)


class ApiClient:
    """The few calls the emulator makes, with its API key."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=10
        )

    async def get(self, path: str, **params: Any) -> Any:
        response = await self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self._http.post(path, json=body)

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self._http.put(path, json=body)

    async def close(self) -> None:
        await self._http.aclose()


@dataclass
class Breakdowns:
    """Which followed journeys end in a breakdown on the way to the scene, and when (seconds into
    the drive); `repair_s` later the vehicle is put back in service."""

    rate: float = 0.0
    repair_s: float = 600.0
    rng: random.Random = field(default_factory=random.Random)
    delay_s: tuple[float, float] = (15.0, 90.0)

    def draw(self) -> float | None:
        """Seconds after departure at which this journey's vehicle breaks down, or None."""
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        return self.rng.uniform(*self.delay_s)


class DispatchFollower:
    def __init__(
        self,
        api: ApiClient,
        trackers: Sequence[EmulatedTracker],
        graph: RoadGraph,
        breakdowns: Breakdowns | None = None,
    ) -> None:
        self._api = api
        self._breakdowns = breakdowns or Breakdowns()
        self._breaks_at: dict[str, float] = {}  # device id -> monotonic time it breaks down
        self._repaired_at: dict[int, float] = {}  # vehicle id -> monotonic time it is back
        self._by_device = {t.device_id: t for t in trackers}
        self._graph = graph
        self._following: dict[str, int] = {}  # device id -> journey id being driven
        self._hospital_nodes: dict[int, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("dispatch follower: %s", exc)
            await _sleep_or_stop(stop, POLL_S)

    async def poll(self) -> None:
        await self._repairs()
        vehicles = (await self._api.get("/api/v1/vehicles"))["vehicles"]
        journeys = {
            j["vehicle_id"]: j for j in (await self._api.get("/api/v1/journeys", open="true"))["journeys"]
        }
        if not self._hospital_nodes:
            for h in (await self._api.get("/api/v1/hospitals"))["hospitals"]:
                self._hospital_nodes[h["id"]] = self._graph.nearest_node(h["lat"], h["lon"])[0]
        for v in vehicles:
            tracker = self._by_device.get(v["device_id"] or "")
            if tracker is None:
                continue
            journey = journeys.get(v["id"])
            following = self._following.get(tracker.device_id)
            if journey is not None and following == journey["id"]:
                await self._maybe_break_down(tracker, v, journey)
            if journey is None:
                if following is not None:
                    tracker.vehicle.recall()
                    del self._following[tracker.device_id]
            elif following != journey["id"]:
                self._take(tracker, journey)
            else:
                self._update_destination(tracker, journey)

    def _take(self, tracker: EmulatedTracker, journey: dict[str, Any]) -> None:
        scene = self._graph.nearest_node(journey["incident_lat"], journey["incident_lon"])[0]
        hospital = self._hospital_nodes.get(journey["destination_hospital_id"] or -1)
        label = f"journey {journey['id']}: {journey.get('incident_address') or 'incident'}"
        if tracker.vehicle.assign(scene, hospital, label):
            self._following[tracker.device_id] = journey["id"]
            log.info("%s takes %s", tracker.device_id, label)
            delay = self._breakdowns.draw()
            if delay is not None:
                self._breaks_at[tracker.device_id] = time.monotonic() + delay

    async def _maybe_break_down(
        self, tracker: EmulatedTracker, vehicle: dict[str, Any], journey: dict[str, Any]
    ) -> None:
        """A breakdown due on the way to the scene: the vehicle stops and the crew calls the desk,
        which re-dispatches the journey to the fastest available unit."""
        due = self._breaks_at.get(tracker.device_id)
        if due is None or time.monotonic() < due:
            return
        if tracker.vehicle.phase is not Phase.TO_SCENE:
            return  # not on the road to the scene (yet): wait for it
        del self._breaks_at[tracker.device_id]
        tracker.vehicle.break_down(self._breakdowns.repair_s)
        body = {"vehicle_id": None, "reason": "breakdown", "note": "emulated breakdown"}
        response = await self._api.post(f"/api/v1/journeys/{journey['id']}/reassign", body)
        if response.status_code != 200:
            log.warning(
                "breakdown of %s: re-dispatch refused: %s %s",
                vehicle["call_sign"],
                response.status_code,
                response.text[:200],
            )
            return
        self._repaired_at[vehicle["id"]] = time.monotonic() + self._breakdowns.repair_s
        log.info(
            "%s broke down on journey %s: re-dispatched to vehicle %s",
            vehicle["call_sign"],
            journey["id"],
            response.json()["vehicle_id"],
        )

    async def _repairs(self) -> None:
        """Broken vehicles back in service once repaired."""
        now = time.monotonic()
        for vehicle_id, at in list(self._repaired_at.items()):
            if now >= at:
                response = await self._api.put(
                    f"/api/v1/vehicles/{vehicle_id}/status", {"status": "available"}
                )
                if response.status_code < 300 or response.status_code == 404:
                    del self._repaired_at[vehicle_id]

    def _update_destination(self, tracker: EmulatedTracker, journey: dict[str, Any]) -> None:
        current = tracker.vehicle.assignment
        hospital = self._hospital_nodes.get(journey["destination_hospital_id"] or -1)
        if current is not None and current[1] != hospital:
            tracker.vehicle.assignment = (current[0], hospital, current[2])  # taken at the next departure


class DemoCalls:
    """Emergency calls at a given mean rate (a Poisson process), each dispatched through the API."""

    def __init__(self, api: ApiClient, graph: RoadGraph, calls_per_hour: float, rng: random.Random) -> None:
        self._api = api
        self._graph = graph
        self._mean_gap_s = 3600.0 / calls_per_hour
        self._rng = rng

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _sleep_or_stop(stop, self._rng.expovariate(1.0 / self._mean_gap_s))
            if stop.is_set():
                return
            try:
                await self.call()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("demo call: %s", exc)

    async def call(self) -> dict[str, Any] | None:
        """One call: the fastest available ambulance by road, to the emergency department nearest by road."""
        node = self._rng.randrange(len(self._graph.nodes))
        lat, lon = self._graph.node_latlon(node)
        units = (await self._api.get("/api/v1/units/fastest", lat=lat, lon=lon, limit=1))["units"]
        if not units:
            log.info("demo call at %.5f,%.5f: no ambulance available", lat, lon)
            return None
        ranked = (await self._api.get("/api/v1/hospitals", near=f"{lat},{lon}", emergency="true"))[
            "hospitals"
        ]
        hospital = self._destination(ranked)
        roads = [self._graph.edges[e].name for e in self._graph.out_edges[node] if self._graph.edges[e].name]
        body = {
            "vehicle_id": units[0]["id"],
            "incident": {
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "address": f"Gần {roads[0]}" if roads else None,
            },
            "priority": self._rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0],
            "destination_hospital_id": hospital["id"] if hospital else None,
            "note": "Cuộc gọi mô phỏng (demo)",
            # The desk answered, located the caller and chose a unit: the call came in a minute or two ago.
            "call_received_at": (
                datetime.now(UTC) - timedelta(seconds=self._rng.uniform(40, 150))
            ).isoformat(),
        }
        response = await self._api.post("/api/v1/journeys", body)
        if response.status_code != 201:
            log.warning("demo call refused: %s %s", response.status_code, response.text[:200])
            return None
        journey: dict[str, Any] = response.json()
        log.info(
            "demo call: %s sent to %s (%.0f s away by road)",
            units[0]["call_sign"], body["incident"]["address"] or (lat, lon), units[0]["duration_s"],
        )  # fmt: skip
        return journey

    def _destination(self, ranked: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first hospital (ranked by road time) whose grounds the emulated roads reach."""
        reachable = (
            h for h in ranked if self._graph.nearest_node(h["lat"], h["lon"])[1] <= MAX_HOSPITAL_SNAP_M
        )
        return next(reachable, None)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
