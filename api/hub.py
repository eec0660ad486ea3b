"""Fan-out of live messages to websocket clients, through one bounded queue per client."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue, and whether it fell behind."""

    name: str
    queue: asyncio.Queue[str]
    hospital_id: int | None = None  # a hospital's client sees only what concerns that hospital
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    """Publishing never waits: a client whose queue is full is marked overflowed (its handler then
    closes it), so one slow dispatcher screen never slows the others."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()

    def subscribe(self, name: str, hospital_id: int | None = None) -> Subscriber:
        sub = Subscriber(name, asyncio.Queue(self._queue_size), hospital_id)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Send `{"type": kind, kind: items}` to every fleet-wide client, and to each hospital's
        clients the items whose `hospital_id` is theirs (fixes carry none: hospitals get positions
        through the ETAs of the ambulances coming to them). Each message is serialised once."""
        texts: dict[int | None, str | None] = {None: _message(kind, items)}
        for sub in list(self._subscribers):
            if sub.overflowed.is_set():
                continue
            if sub.hospital_id not in texts:
                mine = [i for i in items if i.get("hospital_id") == sub.hospital_id]
                texts[sub.hospital_id] = _message(kind, mine) if mine else None
            text = texts[sub.hospital_id]
            if text is None:
                continue
            try:
                sub.queue.put_nowait(text)
            except asyncio.QueueFull:
                log.warning("websocket client %s fell behind; disconnecting it", sub.name)
                sub.overflowed.set()

    def __len__(self) -> int:
        return len(self._subscribers)


def _message(kind: str, items: list[dict[str, Any]]) -> str:
    return json.dumps({"type": kind, kind: items}, separators=(",", ":"), default=str)
