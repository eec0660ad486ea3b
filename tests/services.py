"""Real services for the tests: the project's RabbitMQ node on free loopback ports, PostGIS, and
the gateway, tracker and API as subprocesses, exactly as `make run` starts them."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from admin.broker_auth import SERVICE_PERMISSIONS, ManagementApi, rabbit_hash, service_account
from messaging.connection import connect
from runtime.config import AmqpEndpoint

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "AMB_TEST_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5488/ambulance_test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stalled_websocket(port: int, key: str) -> socket.socket:
    """A websocket handshake to the API's stream on a raw socket with a tiny receive buffer, sent
    and never read from again: a screen that stops reading (the handshake's answer is the caller's
    to read, or not)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {key}\r\n\r\n"
        ).encode()
    )
    return sock


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class _Pid:
    pid: int


SERVICE_PASSWORD = "test-service-password"  # the test brokers' service accounts (loopback only)


@dataclass
class Broker:
    """The project's RabbitMQ node (scripts/broker.sh, rabbitmq/) on free loopback ports.

    Devices speak MQTT on `port`; services speak AMQP on `amqp_port` with the accounts of
    `service_env(role)`. `anonymous`: MQTT clients without credentials may publish any topic
    (only for tests that are not about authentication).
    """

    state_dir: Path
    anonymous: bool = True
    port: int = field(default_factory=free_port)  # MQTT
    amqp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    node: str = ""

    def __post_init__(self) -> None:
        self.node = self.node or f"amb-test-{self.port}@localhost"

    @property
    def url(self) -> str:
        """Where devices connect (MQTT)."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def amqp_url(self) -> str:
        return f"amqp://127.0.0.1:{self.amqp_port}/"

    def env(self) -> dict[str, str]:
        return {
            "AMB_BROKER_DIR": str(self.state_dir),
            "AMB_BROKER_NODE": self.node,
            "AMB_BROKER_MQTT_PORT": str(self.port),
            "AMB_BROKER_AMQP_PORT": str(self.amqp_port),
            "AMB_BROKER_HTTP_PORT": str(self.http_port),
            "AMB_BROKER_PROMETHEUS_PORT": str(self.prometheus_port),
            "AMB_BROKER_DIST_PORT": str(self.dist_port),
            "AMB_BROKER_EPMD_PORT": str(self.epmd_port),
            "AMB_BROKER_ADMIN_PASSWORD": self.admin_password,
            "AMB_BROKER_MQTT_ANONYMOUS": "1" if self.anonymous else "",
        }

    def script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(REPO / "scripts/broker.sh"), *args],
            env={**os.environ, **self.env()},
            check=check,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self) -> Broker:
        result = self.script("start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"broker did not start:\n{result.stdout}\n{result.stderr}")
        self.add_services()
        return self

    def stop(self) -> None:
        """Graceful stop (what SIGTERM does)."""
        self.script("stop", check=False)

    def kill(self) -> None:
        """kill -9 of the node: no chance to flush anything."""
        self.script("kill", check=False)

    def pid(self) -> int | None:
        try:
            return int((self.state_dir / "rabbitmq.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def process(self) -> _Pid | None:
        """The node's OS process (for CPU accounting), while it runs."""
        pid = self.pid()
        return _Pid(pid) if pid else None

    def management(self) -> ManagementApi:
        return ManagementApi(f"http://127.0.0.1:{self.http_port}", "amb-admin", self.admin_password)

    def add_services(self) -> None:
        """A service account per role, with the permissions production gives it."""
        accounts = [
            service_account(f"test-{role}", role, rabbit_hash(SERVICE_PASSWORD))
            for role in SERVICE_PERMISSIONS
        ]
        definitions = {"users": [u for u, _ in accounts], "permissions": [p for _, p in accounts]}
        with self.management().client() as http:
            http.post("/api/definitions", json=definitions).raise_for_status()

    def service_env(self, role: str = "gateway") -> dict[str, str]:
        return {
            "AMB_AMQP_URL": self.amqp_url,
            "AMB_BROKER_USERNAME": f"test-{role}",
            "AMB_BROKER_PASSWORD": SERVICE_PASSWORD,
        }

    def endpoint(self, role: str = "gateway") -> AmqpEndpoint:
        return AmqpEndpoint("127.0.0.1", self.amqp_port, "/", f"test-{role}", SERVICE_PASSWORD)

    def queue_depth(self, queue: str = "amb.ingest") -> int:
        """Messages ready in `queue` now (a passive declare: the management API's figures lag by seconds)."""

        async def depth() -> int:
            endpoint = AmqpEndpoint("127.0.0.1", self.amqp_port, "/", "amb-admin", self.admin_password)
            async with await connect(endpoint, "test-queue-depth") as connection:
                channel = await connection.channel()
                declared = await channel.declare_queue(queue, passive=True)
                return int(declared.declaration_result.message_count or 0)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callable from async tests too
            return pool.submit(asyncio.run, depth()).result(timeout=30)

    def purge(self, queue: str = "amb.ingest") -> None:
        with self.management().client() as http:
            http.delete(f"/api/queues/%2F/{queue}/contents").raise_for_status()


@dataclass
class ServiceProcess:
    """A gateway or API process started with `python -m <module>` and the given environment."""

    module: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        env = {**os.environ, "AMB_ENV": "test", **self.env}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush or acknowledge anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Gateway(ServiceProcess):
    metrics_port: int = 0

    def metrics(self) -> dict[str, float]:
        """The gateway's Prometheus samples, e.g. {'amb_gateway_refused_total{reason="bad_json"}': 1.0}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
        samples = {}
        for line in text.splitlines():
            m = re.match(r"^(amb_\S+)\s+(\S+)$", line)
            if m:
                samples[m.group(1)] = float(m.group(2))
        return samples

    def metric(self, name: str) -> float:
        try:
            return self.metrics().get(name, 0.0)
        except OSError:
            return 0.0

    def wait_connected(self, timeout: float = 15) -> Gateway:
        wait_for(
            lambda: self.metric("amb_gateway_broker_connected") == 1.0,
            timeout,
            f"gateway connected\n{self.log()}",
        )
        return self


def start_gateway(
    broker: Broker, log_dir: Path, name: str, database_url: str = TEST_DATABASE_URL, **settings: str
) -> Gateway:
    port = free_port()
    env = {
        "AMB_DATABASE_URL": database_url,
        **broker.service_env("gateway"),
        "AMB_GATEWAY_METRICS_PORT": str(port),
        # Device listeners off unless a test asks for them (their default ports may be taken here).
        **{f"AMB_GATEWAY_{p}_PORT": "0" for p in ("GT06", "TELTONIKA", "H02", "OSMAND")},
        "AMB_GATEWAY_TRACKING": "false",
        **{f"AMB_GATEWAY_{k.upper()}": v for k, v in settings.items()},
    }
    gw = Gateway("gateway", env, log_dir / f"gateway-{name}.log", metrics_port=port)
    gw.start()
    return gw.wait_connected()


def start_tracker(broker: Broker, log_dir: Path) -> ServiceProcess:
    """amb-tracker, as production runs it: its own process, publishing events and ETAs."""
    env = {
        "AMB_DATABASE_URL": TEST_DATABASE_URL,
        **broker.service_env("gateway"),
        "AMB_TRACKER_METRICS_PORT": "0",
    }
    return ServiceProcess("tracking", env, log_dir / f"tracker-{free_port()}.log").start()


def start_api(broker: Broker, log_dir: Path, **settings: str) -> tuple[ServiceProcess, int]:
    """An API process; `settings` are extra environment variables (e.g. small caps for a test)."""
    port = free_port()
    env = {
        "AMB_DATABASE_URL": TEST_DATABASE_URL,
        **broker.service_env("api"),
        "AMB_API_PORT": str(port),
        "AMB_API_STREAM_HEARTBEAT_S": "1",
        "AMB_API_STREAM_REAUTH_S": "1",
        **settings,
    }
    api = ServiceProcess("api", env, log_dir / f"api-{port}.log").start()

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    wait_for(healthy, 20, "API /healthz")
    return api, port
