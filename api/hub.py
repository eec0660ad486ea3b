"""Fan-out of live messages to websocket clients, through one bounded queue per client.

Each client has a view (a StreamFilter, or None after it unsubscribed). Clients are grouped by
view, so a message is filtered and serialised once per distinct view, not once per client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from api import metrics
from api.stream_filter import StreamFilter, default_filter

log = logging.getLogger(__name__)

# A queued frame: its text, or a snapshot still being read (sent when ready, in its place).
Outgoing = str | asyncio.Future[str]


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue, its view, and whether it fell behind."""

    name: str
    queue: asyncio.Queue[Outgoing]
    view: StreamFilter | None = None
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    """Publishing never waits: a client whose queue is full is marked overflowed (its handler then
    closes it), so one slow dispatcher screen never slows the others."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._by_view: dict[StreamFilter, set[Subscriber]] = {}

    def subscribe(self, name: str, hospital_id: int | None = None) -> Subscriber:
        """A new client with the default view of its scope (the fleet, or its hospital)."""
        sub = Subscriber(name, asyncio.Queue(self._queue_size))
        self._subscribers.add(sub)
        self.set_view(sub, default_filter(hospital_id))
        return sub

    def set_view(self, sub: Subscriber, view: StreamFilter | None) -> None:
        """From now on `sub` gets what `view` lets through (None: nothing but its own replies)."""
        if sub.view is not None:
            group = self._by_view.get(sub.view)
            if group is not None:
                group.discard(sub)
                if not group:
                    del self._by_view[sub.view]
        sub.view = view
        if view is not None and sub in self._subscribers:
            self._by_view.setdefault(view, set()).add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.set_view(sub, None)
        self._subscribers.discard(sub)

    def send(self, sub: Subscriber, item: Outgoing) -> None:
        """Queue one frame for one client (a reply, or a snapshot to come)."""
        if sub.overflowed.is_set():
            return
        try:
            sub.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("websocket client %s fell behind; disconnecting it", sub.name)
            metrics.WS_OVERFLOWS.inc()
            sub.overflowed.set()

    def publish(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Send `{"type": kind, kind: [...]}` to every client, each getting the items its view lets
        through (nothing when none does)."""
        whole: str | None = None  # views that let everything through share one text
        for view, group in list(self._by_view.items()):
            selected = view.select(kind, items)
            if not selected:
                continue
            if selected is items:
                whole = whole or _message(kind, items)
                text = whole
            else:
                text = _message(kind, selected)
            for sub in list(group):
                self.send(sub, text)

    @property
    def views(self) -> int:
        """How many distinct views the clients hold (each costs one serialisation per publish)."""
        return len(self._by_view)

    def __len__(self) -> int:
        return len(self._subscribers)


class ConnectionCaps:
    """How many websockets each principal and each client address holds open in this process, and
    whether one more is allowed (`admit` answers the refusal reason, or None and counts it)."""

    def __init__(self, per_principal: int, per_address: int) -> None:
        self.per_principal = per_principal
        self.per_address = per_address
        self._principals: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()

    def admit(self, principal: str, address: str) -> str | None:
        if self._principals[principal] >= self.per_principal:
            return "principal_cap"
        if self._addresses[address] >= self.per_address:
            return "address_cap"
        self._principals[principal] += 1
        self._addresses[address] += 1
        metrics.WS_OPEN.inc()
        return None

    def release(self, principal: str, address: str) -> None:
        for counts, key in ((self._principals, principal), (self._addresses, address)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
        metrics.WS_OPEN.dec()


def _message(kind: str, items: list[dict[str, Any]]) -> str:
    return json.dumps({"type": kind, kind: items}, separators=(",", ":"), default=str)
