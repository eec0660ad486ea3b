"""The tracking worker: evaluates committed fixes from `tracking_inbox` in fix-time order, stores
events, geofence memberships and journey transitions in one transaction with the removal of the
fixes from the inbox, then hands the new events on (to the websocket relay).

One worker at a time holds the leader lock (a PostgreSQL advisory lock), so several gateway
processes may each run one: the others wait, and take over if the leader dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tracking import metrics
from tracking import tracking_store as store
from tracking.db import query
from tracking.eta import EtaPolicy, update_etas
from tracking.evaluation import BatchFix, GeofenceInfo, evaluate_vehicle
from tracking.geofencing import Zone
from tracking.settings import TrackingSettings

log = logging.getLogger(__name__)

LEADER_LOCK = 7_216_115  # advisory lock key of the tracking leader
OFFLINE_CHECK_S = 10.0
POLL_S = 0.25  # without a wake (the worker in its own process), look for new fixes this often
OnEvents = Callable[[list[dict[str, Any]]], Awaitable[None]]


class TrackingWorker:
    def __init__(
        self,
        conninfo: str,
        settings: TrackingSettings,
        on_events: OnEvents | None = None,
        on_etas: OnEvents | None = None,
        eta_policy: EtaPolicy | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._settings = settings
        self._on_events = on_events
        self._on_etas = on_etas
        # ETAs are kept only when someone listens for them (the gateway), or a policy is given.
        self._eta_policy = eta_policy or (EtaPolicy() if on_etas is not None else None)
        self._wake = asyncio.Event()
        self._conn: psycopg.AsyncConnection | None = None
        self._leader = False
        self.evaluated = 0

    def wake(self) -> None:
        """New fixes were committed: evaluate them now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        """Evaluate what waits, every `batch_interval_ms` at most: a vehicle's state is loaded and
        saved once per batch, so batches of several fixes per vehicle cost far less per fix than
        one batch per commit. A wake (or the poll period) starts the next round."""
        next_offline_check = 0.0
        interval = self._settings.batch_interval_ms / 1000
        while True:
            started = time.monotonic()
            try:
                if await self._lead():
                    while await self.process_once() == self._settings.batch_size:
                        pass  # a full batch: more are waiting
                    if time.monotonic() >= next_offline_check:
                        await self.check_offline()
                        next_offline_check = time.monotonic() + OFFLINE_CHECK_S
            except psycopg.Error as exc:
                log.warning("tracking worker: %s; retrying", exc)
                await self._reset()
            await asyncio.sleep(max(0.0, started + interval - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()

    async def _lead(self) -> bool:
        conn = await self._connection()
        if not self._leader:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
            row = await cur.fetchone()
            self._leader = bool(row and row[0])
            if self._leader:
                log.info("tracking worker is the leader")
        return self._leader

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name="amb-tracking-worker"
            )
            self._leader = False
        return self._conn

    async def _reset(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn, self._leader = None, False

    async def close(self) -> None:
        await self._reset()

    async def process_once(self) -> int:
        """Evaluate one batch of waiting fixes; returns how many."""
        conn = await self._connection()
        cfg = self._settings
        started = time.perf_counter()
        async with conn.transaction():
            # The planner's estimates for the spatial joins are high enough to trigger JIT, whose
            # compilation costs more than the whole query.
            await conn.execute("SET LOCAL jit = off")
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query("evaluate_batch"), {"limit": cfg.batch_size})
                rows = await cur.fetchall()
            if not rows:
                return 0
            memories = await store.load_memories(conn, list({row["vehicle_id"] for row in rows}))
            seen = {g for row in rows for g in row["seen_ids"]}
            known = await store.load_geofences(conn, seen | {g for m in memories.values() for g in m.inside})
            by_vehicle: defaultdict[int, list[BatchFix]] = defaultdict(list)
            for row in rows:
                by_vehicle[row["vehicle_id"]].append(_batch_fix(row, known))
            outcomes = [evaluate_vehicle(memories[v], fixes, cfg, known) for v, fixes in by_vehicle.items()]
            events = await store.save_outcomes(conn, outcomes)
            await store.delete_from_inbox(conn, rows)
        self.evaluated += len(rows)
        metrics.EVALUATED.inc(len(rows))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        await self._publish(events)
        if self._eta_policy is not None:
            await self._update_etas(conn, list(by_vehicle))
        return len(rows)

    async def _update_etas(self, conn: psycopg.AsyncConnection, vehicle_ids: list[int]) -> None:
        """After the batch's commit (a routing failure never holds evaluation back)."""
        assert self._eta_policy is not None
        try:
            async with conn.transaction():
                etas = await update_etas(conn, vehicle_ids, self._eta_policy)
        except psycopg.Error:
            log.exception("updating ETAs failed")
            return
        if etas and self._on_etas is not None:
            try:
                await self._on_etas(etas)
            except Exception:
                log.exception("publishing %d ETAs failed", len(etas))

    async def check_offline(self) -> int:
        """Open a device-offline event for each vehicle silent past its threshold."""
        conn = await self._connection()
        async with conn.transaction():
            events = await store.open_offline_events(conn, self._settings)
        await self._publish(events)
        return len(events)

    async def _publish(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            metrics.EVENTS.labels(event["kind"]).inc()
        if events and self._on_events is not None:
            try:
                await self._on_events(events)
            except Exception:  # the events are stored; the live feed is best effort
                log.exception("publishing %d events failed", len(events))


def _batch_fix(row: dict[str, Any], known: dict[int, GeofenceInfo]) -> BatchFix:
    zones = zip(row["seen_ids"], row["deep"], strict=True)
    seen = {gid: Zone.DEEP_IN if deep else Zone.BORDER for gid, deep in zones}
    geofences = {gid: known[gid] for gid in seen if gid in known}
    return BatchFix(
        vehicle_id=row["vehicle_id"],
        device_id=row["device_id"],
        fix_time=row["fix_time"],
        lat=row["lat"],
        lon=row["lon"],
        speed_kmh=float(row["speed_kmh"]),
        valid=row["valid"],
        attributes=row["attributes"] or {},
        seen=seen,
        geofences=geofences,
        highway=row["highway"],
        journey_id=row["journey_id"],
        scene_distance_m=row["scene_distance_m"],
    )
