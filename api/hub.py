"""Fan-out of live messages to websocket clients, through one bounded queue per client."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue, and whether it fell behind."""

    name: str
    queue: asyncio.Queue[str]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    """Publishing never waits: a client whose queue is full is marked overflowed (its handler then
    closes it), so one slow dispatcher screen never slows the others."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()

    def subscribe(self, name: str) -> Subscriber:
        sub = Subscriber(name, asyncio.Queue(self._queue_size))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, message: str) -> None:
        for sub in list(self._subscribers):
            if sub.overflowed.is_set():
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("websocket client %s fell behind; disconnecting it", sub.name)
                sub.overflowed.set()

    def __len__(self) -> int:
        return len(self._subscribers)
