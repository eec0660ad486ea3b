"""Real services for the tests: the project's Mosquitto on a free loopback port, PostGIS, and the
gateway and API as subprocesses, exactly as `make run` starts them."""

from __future__ import annotations

import os
import re
import shutil
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

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "AMB_TEST_DATABASE_URL", "postgresql://amb:amb@127.0.0.1:5432/ambulance_test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass
class Broker:
    """Mosquitto with the project's configuration (mosquitto/mosquitto.conf)."""

    state_dir: Path
    auth_dir: Path | None = None  # passwd and acl from `amb-admin broker-auth`; None: anonymous
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        conf = self.state_dir / "mosquitto.conf"
        text = subprocess.run(
            [
                "bash",
                str(REPO / "scripts/broker_conf.sh"),
                str(self.port),
                str(self.state_dir),
                str(self.auth_dir) if self.auth_dir else "--anonymous",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        conf.write_text(text)
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: port_open(self.port), 10, "mosquitto")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def reload(self) -> None:
        """SIGHUP: re-read the password and ACL files."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)


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
            lambda: self.metric("amb_gateway_mqtt_connected") == 1.0,
            timeout,
            f"gateway connected\n{self.log()}",
        )
        return self


def start_gateway(
    broker: Broker, log_dir: Path, client_id: str, share_group: str, **settings: str
) -> Gateway:
    port = free_port()
    env = {
        "AMB_DATABASE_URL": TEST_DATABASE_URL,
        "AMB_MQTT_URL": broker.url,
        "AMB_GATEWAY_CLIENT_ID": client_id,
        "AMB_GATEWAY_SHARE_GROUP": share_group,
        "AMB_GATEWAY_METRICS_PORT": str(port),
        # Device listeners off unless a test asks for them (their default ports may be taken here).
        **{f"AMB_GATEWAY_{p}_PORT": "0" for p in ("GT06", "TELTONIKA", "H02", "OSMAND")},
        "AMB_GATEWAY_TRACKING": "false",
        **{f"AMB_GATEWAY_{k.upper()}": v for k, v in settings.items()},
    }
    gw = Gateway("gateway", env, log_dir / f"gateway-{client_id}.log", metrics_port=port)
    gw.start()
    return gw.wait_connected()


def start_tracker(broker: Broker, log_dir: Path) -> ServiceProcess:
    """amb-tracker, as production runs it: its own process, publishing events and ETAs."""
    env = {"AMB_DATABASE_URL": TEST_DATABASE_URL, "AMB_MQTT_URL": broker.url, "AMB_TRACKER_METRICS_PORT": "0"}
    return ServiceProcess("tracking", env, log_dir / f"tracker-{free_port()}.log").start()


def start_api(broker: Broker, log_dir: Path) -> tuple[ServiceProcess, int]:
    port = free_port()
    env = {
        "AMB_DATABASE_URL": TEST_DATABASE_URL,
        "AMB_MQTT_URL": broker.url,
        "AMB_API_PORT": str(port),
        "AMB_API_STREAM_HEARTBEAT_S": "1",
        "AMB_API_STREAM_REAUTH_S": "1",
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
