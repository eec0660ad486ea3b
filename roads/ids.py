"""Stable ids of the road network, derived from coordinates."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from roads.osm import Coord


def stable_id(*values: int) -> int:
    """A positive 63-bit id derived from integers (coordinates): the same data gets the same ids on
    every import, so learned speeds keyed by edge id survive re-imports."""
    digest = hashlib.blake2b(struct.pack(f"<{len(values)}q", *values), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) or 1


def vertex_id(coord: Coord) -> int:
    return stable_id(*coord)


def edge_id(coords: Sequence[Coord]) -> int:
    return stable_id(*(v for c in coords for v in c))
