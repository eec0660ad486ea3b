"""The project's RabbitMQ node, or a cluster of them, on loopback for a benchmark run.

One node is the tests' `Broker` (scripts/broker.sh on free ports). A cluster is N such nodes with a
shared Erlang cookie, admin password and epmd (nodes find each other by name through epmd, so they
must register with the same one): node 1 starts first and declares the topology from
rabbitmq/definitions.json at boot, nodes 2..N `join` it (scripts/broker.sh join), and the quorum
queue `amb.ingest`, created on node 1 alone before the others existed, is given a replica on each
of them (`rabbit_quorum_queue:add_member`, what `rabbitmq-queues add_member` calls), then checked
through the management API.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import tests.services as services

INGEST_QUEUE = "amb.ingest"
MEMBER_TIMEOUT_MS = 60_000


@dataclass
class ClusterNode(services.Broker):
    """A `Broker` that shares an Erlang cookie (AMB_BROKER_COOKIE) with the other nodes."""

    cookie: str = field(default_factory=lambda: secrets.token_hex(16))

    def env(self) -> dict[str, str]:
        return {**super().env(), "AMB_BROKER_COOKIE": self.cookie}


class BrokerCluster:
    """`size` nodes (1: a plain single node) with amb.ingest replicated on every one of them."""

    def __init__(self, workdir: Path, size: int) -> None:
        first = ClusterNode(workdir / "node1", anonymous=False)
        self.nodes = [first] + [
            ClusterNode(
                workdir / f"node{i}",
                anonymous=False,
                epmd_port=first.epmd_port,
                admin_password=first.admin_password,
                cookie=first.cookie,
            )
            for i in range(2, size + 1)
        ]

    @property
    def first(self) -> ClusterNode:
        return self.nodes[0]

    def start(self) -> BrokerCluster:
        """Start node 1, then each other node and join it to node 1; replicate amb.ingest on all.
        Raises if the queue does not end up with a member on every node."""
        self.first.start()
        for node in self.nodes[1:]:
            node.start()
            _check(node.script("join", self.first.node, check=False), f"join {node.node}")
        for node in self.nodes[1:]:
            self._add_member(node.node)
        members = self.ingest_members()
        missing = {n.node for n in self.nodes} - set(members)
        if missing:
            raise RuntimeError(f"{INGEST_QUEUE} has no replica on {sorted(missing)} (members {members})")
        return self

    def _add_member(self, node: str) -> None:
        expression = (
            f'rabbit_quorum_queue:add_member(<<"/">>, <<"{INGEST_QUEUE}">>, \'{node}\', {MEMBER_TIMEOUT_MS}).'
        )
        result = self.first.script("ctl", "eval", expression, check=False)
        _check(result, f"add_member {node}")
        if "ok" not in result.stdout and "already_a_member" not in result.stdout:
            raise RuntimeError(f"add_member {node}: {result.stdout.strip()}")

    def ingest_members(self, timeout_s: float = 30.0) -> list[str]:
        """The nodes holding a replica of amb.ingest, as the management API reports them (its
        figures lag a few seconds behind a change)."""
        deadline = time.monotonic() + timeout_s
        members: list[str] = []
        while time.monotonic() < deadline:
            with self.first.management().client() as http:
                response = http.get(f"/api/queues/%2F/{INGEST_QUEUE}")
            if response.status_code == 200:
                members = list(response.json().get("members") or [])
                if len(members) >= len(self.nodes):
                    return members
            time.sleep(1)
        return members

    def ingest_leader(self) -> str | None:
        with self.first.management().client() as http:
            response = http.get(f"/api/queues/%2F/{INGEST_QUEUE}")
        return response.json().get("leader") if response.status_code == 200 else None

    def pids(self) -> list[int]:
        return [pid for pid in (node.pid() for node in self.nodes) if pid]

    def stop(self) -> None:
        """Stop the nodes (the last joined first), then their epmd (started by node 1's VM, on a port
        of our own)."""
        for node in reversed(self.nodes):
            node.stop()
        subprocess.run(
            ["epmd", "-kill"],
            env={**os.environ, "ERL_EPMD_PORT": str(self.first.epmd_port)},
            capture_output=True,
            timeout=10,
            check=False,
        )


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout}\n{result.stderr}")
