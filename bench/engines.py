"""Which message engine keeps a tracker's PUBACKed fix through faults? A bounded probe on loopback.

For each engine (Mosquitto, RabbitMQ with its MQTT plugin and a quorum queue, NATS with JetStream
and its MQTT listener) it starts its OWN broker on ports 19100-19199 with its data under a temp dir
(the machine's own services on 1883/5672/4222 are never touched), then, for each row:

- 20 MQTT 3.1.1 publishers (paho, clean_session=False, so paho resends whatever had no PUBACK
  after a reconnect) send QoS 1 messages, each carrying a unique sequence id;
- two competing consumers, each its own process, append every id to their own file and fsync it
  BEFORE acknowledging (Mosquitto: a `$share/g/...` subscription with manual ack; RabbitMQ: AMQP
  0-9-1 on one quorum queue, prefetch 1000, manual ack; NATS: see `NatsEngine`);
- a fault ~40 % into the stream: none, broker kill -9 then restart, broker SIGTERM then restart,
  one consumer kill -9 (kept down); plus a throughput row (no pacing, no fault).

After the stream it waits for the publishers to flush and the consumers to drain, then counts:
published, PUBACKed, stored (distinct ids in the consumers' files), acknowledged-but-missing
(PUBACKed, never stored) and duplicates. Every row has a deadline; every process it started is
killed at the end, even on error.

    .venv/bin/python bench/engines.py [--messages N] [--engines mosquitto,rabbitmq,nats] [--cluster] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

HOST = "127.0.0.1"
PUBLISHERS = 20
CONSUMERS = 2
FAULT_AT = 0.4  # the fault is injected once this share of the messages has been published
QUIET_S = 3.0  # settled: every PUBACKed id stored and nothing new stored for this long
STUCK_S = 40.0  # ... or nothing new stored for this long although some PUBACKed ids are missing (NATS redelivers after its MQTT ack_wait, 30 s)
CONSUMER_TOPIC = "trackers/+/position"

MOSQUITTO_PORT = 19110
# RabbitMQ node n of the probe (1; 2 and 3 only in the cluster row): (AMQP, MQTT, distribution) ports.
RABBIT_NODE_PORTS = {1: (19120, 19121, 19125), 2: (19130, 19131, 19135), 3: (19170, 19171, 19175)}
RABBIT_AMQP_PORT, RABBIT_MQTT_PORT, _ = RABBIT_NODE_PORTS[1]
RABBIT_EPMD_PORT = 19126
RABBIT_CLI_PORTS = (19150, 19159)  # rabbitmqctl's own distribution ports
NATS_MQTT_PORT = 19140
NATS_CLIENT_PORT = 19141

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
RABBIT_QUEUE = "probe.positions"
RABBIT_UNROUTED = "probe.unrouted"
TRACKER_USER, TRACKER_PASSWORD = "tracker", "tracker-secret"
GATEWAY_USER, GATEWAY_PASSWORD = "gateway", "gateway-secret"

FAULTS = ("none", "broker kill -9", "broker SIGTERM", "consumer kill -9", "throughput")


# --------------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is killed at exit.


_PROCESSES: list[subprocess.Popen[bytes]] = []


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own process group (so it and its children can be killed together)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    _PROCESSES.append(proc)
    return proc


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@atexit.register
def kill_everything() -> None:
    for proc in _PROCESSES:
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in _PROCESSES:
        with contextlib.suppress(Exception):
            proc.wait(5)
    _PROCESSES.clear()


def wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


# --------------------------------------------------------------------------------------------
# Engines: start, kill -9, SIGTERM, restart, close. Each keeps its data in `workdir`.


@dataclass
class ConsumerSpec:
    """How consumer `index` of this engine is started (arguments for `--consumer`)."""

    kind: str  # "mqtt" or "amqp"
    port: int
    topics: list[str]
    client_id: str = ""
    username: str = ""
    password: str = ""


class Engine:
    name = "?"
    mqtt_port = 0
    mqtt_user = ""
    mqtt_password = ""
    consumer_note = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)

    def start(self, deadline: float) -> None:
        raise NotImplementedError

    def kill9(self) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.kill9()

    def consumer_spec(self, index: int) -> ConsumerSpec:
        raise NotImplementedError

    def extra(self) -> str:
        """Anything worth reporting once the row has settled."""
        return ""


class SingleProcessEngine(Engine):
    """A broker that is one process: kill -9 is SIGKILL, graceful is SIGTERM and wait."""

    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, deadline: float) -> None:
        self.proc = spawn(self.command(), self.workdir / "broker.log")
        wait_for_port(self.mqtt_port, deadline)

    def kill9(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def terminate(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)


class MosquittoEngine(SingleProcessEngine):
    name = "Mosquitto 2.0.11"
    mqtt_port = MOSQUITTO_PORT
    consumer_note = "`$share/g/trackers/+/position`, clean_session=False, manual ack"

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {MOSQUITTO_PORT} {HOST}",
                    "allow_anonymous true",
                    "user root",  # stay root: the data dir is root's
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "autosave_interval 1",  # the tightest time-based save (default 1800 s)
                    "max_queued_messages 0",  # no drops from the per-client queue limit
                    "max_inflight_messages 100",
                    f"log_dest file {self.workdir}/mosquitto.log",
                    "",
                ]
            )
        )
        return ["/usr/sbin/mosquitto", "-c", str(conf)]

    def consumer_spec(self, index: int) -> ConsumerSpec:
        return ConsumerSpec(
            "mqtt", MOSQUITTO_PORT, [f"$share/g/{CONSUMER_TOPIC}"], client_id=f"consumer-{index}"
        )


class NatsEngine(SingleProcessEngine):
    """NATS has no MQTT shared subscriptions: the two consumers split the devices between them
    (consumer 0 subscribes to devices 00-09, consumer 1 to 10-19), each as a persistent QoS 1
    MQTT session with manual ack; there is no failover between them."""

    name = "NATS 2.9.10 JetStream MQTT"
    mqtt_port = NATS_MQTT_PORT
    consumer_note = "MQTT QoS 1, clean_session=False, manual ack; devices split 10/10 (no shared subs)"

    def command(self) -> list[str]:
        conf = self.workdir / "nats.conf"
        store = self.workdir / "jetstream"
        conf.write_text(
            f'server_name: "probe_nats"\nlisten: "{HOST}:{NATS_CLIENT_PORT}"\n'
            f'jetstream {{ store_dir: "{store}" }}\nmqtt {{ listen: "{HOST}:{NATS_MQTT_PORT}" }}\n'
        )
        return ["/usr/sbin/nats-server", "-c", str(conf)]

    def consumer_spec(self, index: int) -> ConsumerSpec:
        share = PUBLISHERS // CONSUMERS
        topics = [device_topic(d) for d in range(index * share, (index + 1) * share)]
        return ConsumerSpec("mqtt", NATS_MQTT_PORT, topics, client_id=f"consumer-{index}")


def rabbit_password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def rabbit_definitions() -> dict[str, object]:
    """Users, permissions, the alternate exchange, the quorum queue and its binding, loaded at boot."""
    users = [
        (TRACKER_USER, TRACKER_PASSWORD),
        (GATEWAY_USER, GATEWAY_PASSWORD),
        ("probe-admin", "probe-admin"),
    ]
    return {
        "users": [
            {
                "name": name,
                "password_hash": rabbit_password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "administrator" if name == "probe-admin" else "",
            }
            for name, password in users
        ],
        "vhosts": [{"name": "/"}],
        "permissions": [
            # A tracker may publish to amq.topic only (and the alternate exchange behind it).
            {"user": TRACKER_USER, "vhost": "/", "configure": "^$", "write": "^amq\\.topic$", "read": "^$"},
            {
                "user": GATEWAY_USER,
                "vhost": "/",
                "configure": "^probe\\.",
                "write": "^$",
                "read": "^probe\\.",
            },
            {"user": "probe-admin", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
        ],
        "topic_permissions": [
            {
                "user": TRACKER_USER,
                "vhost": "/",
                "exchange": "amq.topic",
                "write": "^(trackers\\.[^.]+\\.position|probe\\.check\\..+)$",
                "read": "^$",
            }
        ],
        "policies": [
            {
                "vhost": "/",
                "name": "AE",
                "pattern": "^amq\\.topic$",
                "apply-to": "exchanges",
                "definition": {"alternate-exchange": RABBIT_UNROUTED},
                "priority": 0,
            }
        ],
        "exchanges": [
            {
                "name": RABBIT_UNROUTED,
                "vhost": "/",
                "type": "fanout",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "queues": [
            {
                "name": name,
                "vhost": "/",
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-queue-type": "quorum"},
            }
            for name in (RABBIT_QUEUE, RABBIT_UNROUTED)
        ],
        "bindings": [
            {
                "source": "amq.topic",
                "vhost": "/",
                "destination": RABBIT_QUEUE,
                "destination_type": "queue",
                "routing_key": "trackers.*.position",
                "arguments": {},
            },
            {
                "source": RABBIT_UNROUTED,
                "vhost": "/",
                "destination": RABBIT_UNROUTED,
                "destination_type": "queue",
                "routing_key": "",
                "arguments": {},
            },
        ],
    }


class RabbitEngine(Engine):
    """A private RabbitMQ node (probe1@localhost) with its own epmd (node 1 starts it), config and
    mnesia. Devices publish MQTT 3.1.1 to amq.topic; gateways consume ONE quorum queue over AMQP.
    Nodes 2 and 3 exist only to join node 1 in the cluster row (no definitions of their own)."""

    name = "RabbitMQ 3.10.8 + MQTT, quorum queue"
    mqtt_port = RABBIT_MQTT_PORT
    mqtt_user = TRACKER_USER
    mqtt_password = TRACKER_PASSWORD
    consumer_note = "AMQP 0-9-1 (aio-pika), one quorum queue, prefetch 1000, manual ack"

    def __init__(self, workdir: Path, index: int = 1, cookie: str | None = None) -> None:
        super().__init__(workdir)
        self.index = index
        self.node = f"probe{index}@localhost"
        self.amqp_port, self.mqtt_port, self.dist_port = RABBIT_NODE_PORTS[index]
        self.server: subprocess.Popen[bytes] | None = None
        self.epmd: subprocess.Popen[bytes] | None = None
        if cookie:  # cluster nodes share one Erlang cookie
            (workdir / ".erlang.cookie").write_text(cookie)
            (workdir / ".erlang.cookie").chmod(0o400)
        (workdir / "env.conf").write_text("")
        (workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        conf = [
            f"listeners.tcp.1 = {HOST}:{self.amqp_port}",
            f"mqtt.listeners.tcp.1 = {HOST}:{self.mqtt_port}",
            "mqtt.allow_anonymous = false",
        ]
        if index == 1:
            (workdir / "definitions.json").write_text(json.dumps(rabbit_definitions(), indent=1))
            conf.append(f"load_definitions = {workdir}/definitions.json")
        (workdir / "rabbitmq.conf").write_text("\n".join([*conf, ""]))

    def env(self) -> dict[str, str]:
        d = str(self.workdir)
        return {
            **os.environ,
            "HOME": d,
            "RABBITMQ_CONF_ENV_FILE": f"{d}/env.conf",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": f"{d}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{d}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{d}/enabled_plugins",
            "RABBITMQ_MNESIA_BASE": f"{d}/mnesia",
            "RABBITMQ_LOG_BASE": f"{d}/log",
            "RABBITMQ_PID_FILE": f"{d}/pid",
            "ERL_EPMD_ADDRESS": HOST,
            "ERL_EPMD_PORT": str(RABBIT_EPMD_PORT),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(RABBIT_CLI_PORTS[0]),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(RABBIT_CLI_PORTS[1]),
        }

    def ctl(self, *args: str, timeout: float = 90.0, tool: str = "rabbitmqctl") -> str:
        run = subprocess.run(
            [str(RABBIT_BIN / tool), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if run.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {run.stdout}{run.stderr}")
        return run.stdout

    def start(self, deadline: float) -> None:
        if self.index == 1 and (self.epmd is None or self.epmd.poll() is not None):
            self.epmd = spawn(
                ["epmd", "-port", str(RABBIT_EPMD_PORT), "-address", HOST],
                self.workdir / "epmd.log",
                self.env(),
            )
            wait_for_port(RABBIT_EPMD_PORT, deadline)
        (self.workdir / "pid").unlink(missing_ok=True)
        self.server = spawn([str(RABBIT_BIN / "rabbitmq-server")], self.workdir / "server.log", self.env())
        self.ctl(
            "wait",
            str(self.workdir / "pid"),
            "--timeout",
            "60",
            timeout=max(5.0, deadline - time.monotonic()),
        )
        wait_for_port(self.mqtt_port, deadline)
        if "guest" in self.ctl("list_users", "--quiet"):
            self.ctl("delete_user", "guest")

    def beam_pid(self) -> int:
        return int((self.workdir / "pid").read_text().strip())

    def kill9(self) -> None:
        if self.server is not None:
            kill_group(self.server, signal.SIGKILL)

    def terminate(self) -> None:
        if self.server is None:
            return
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            os.kill(self.beam_pid(), signal.SIGTERM)
        try:
            self.server.wait(60)
        except subprocess.TimeoutExpired:
            kill_group(self.server)
        kill_group(self.server)  # the wrapper's leftovers, if any

    def close(self) -> None:
        self.kill9()
        if self.epmd is not None:
            kill_group(self.epmd)

    def consumer_spec(self, index: int) -> ConsumerSpec:
        return ConsumerSpec(
            "amqp", self.amqp_port, [RABBIT_QUEUE], username=GATEWAY_USER, password=GATEWAY_PASSWORD
        )

    def extra(self) -> str:
        try:
            unrouted = queue_depth(RABBIT_UNROUTED, self.amqp_port)
        except Exception as exc:
            return f"could not count {RABBIT_UNROUTED}: {exc}"
        return f"{unrouted} unrouted (kept by the alternate exchange)" if unrouted else ""


class RabbitClusterEngine(Engine):
    """Three RabbitMQ nodes on loopback (probe1..3@localhost), the quorum queue on all three.

    Publishers and consumers connect to the two nodes that do NOT lead the queue, so that the
    fault (kill -9 of the leader's node, kept down) hits the queue, not their connections."""

    name = "RabbitMQ 3.10.8 3-node cluster, quorum queue x3"
    mqtt_user = TRACKER_USER
    mqtt_password = TRACKER_PASSWORD
    consumer_note = RabbitEngine.consumer_note

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        cookie = hashlib.sha256(os.urandom(16)).hexdigest()[:20].upper()
        self.nodes = [RabbitEngine(workdir / f"node{i}", i, cookie) for i in (1, 2, 3)]
        self.publish_node = self.consume_node = self.nodes[0]

    def start(self, deadline: float) -> None:
        first = self.nodes[0]
        for node in self.nodes:
            node.start(deadline)
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
            wait_for_port(node.mqtt_port, deadline)
        for node in self.nodes[1:]:
            first.ctl("grow", node.node, "all", tool="rabbitmq-queues")
        leader = self.leader()
        others = [node for node in self.nodes if node.node != leader]
        self.publish_node, self.consume_node = others[0], others[-1]
        self.mqtt_port = self.publish_node.mqtt_port

    def queue_info(self) -> str:
        """`leader members` of the positions queue, as a node that is up sees them."""
        for node in (self.consume_node, self.publish_node, *self.nodes):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                out = node.ctl("list_queues", "name", "leader", "members", "--quiet", "--no-table-headers")
                for line in out.splitlines():
                    if line.split(None, 1)[:1] == [RABBIT_QUEUE]:
                        return line.split(None, 1)[1]
        return "?"

    def leader(self) -> str:
        return self.queue_info().split()[0]

    def kill_leader(self) -> str:
        leader = self.leader()
        victim = next(node for node in self.nodes if node.node == leader)
        victim.kill9()
        return f"killed {leader} (queue leader), kept down"

    def kill9(self) -> None:
        for node in self.nodes:
            node.kill9()

    def close(self) -> None:
        for node in reversed(self.nodes):  # node 1 owns epmd: last
            node.close()

    def consumer_spec(self, index: int) -> ConsumerSpec:
        return self.consume_node.consumer_spec(index)

    def extra(self) -> str:
        return f"publishers on {self.publish_node.node}, consumers on {self.consume_node.node}; queue after: leader, members {self.queue_info()}"


ENGINES: dict[str, Callable[[Path], Engine]] = {
    "mosquitto": MosquittoEngine,
    "rabbitmq": RabbitEngine,
    "nats": NatsEngine,
    "rabbitmq-cluster": RabbitClusterEngine,
}
CLUSTER_FAULTS = ("leader kill -9",)


# --------------------------------------------------------------------------------------------
# Consumers: a process each. They append ids to their file and fsync BEFORE acknowledging.


class DurableLog:
    """Append-only file of stored ids; `save` returns once the ids are on disk (fsync)."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - kept open for the process's life

    def save(self, ids: list[bytes]) -> None:
        self.file.write(b"".join(i + b"\n" for i in ids))
        self.file.flush()
        os.fsync(self.file.fileno())


def message_id(payload: bytes) -> bytes:
    return str(json.loads(payload)["id"]).encode()


def run_mqtt_consumer(spec: ConsumerSpec, out: Path, ready: Path) -> None:
    """Paho with manual ack: a saver thread saves what arrived, fsyncs, then PUBACKs it. A message
    received on an earlier connection is saved but not acked (its mid may mean something else now);
    the broker redelivers it."""
    log = DurableLog(out)
    inbox: queue.Queue[tuple[int, int, bytes]] = queue.Queue()
    generation = 0

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        nonlocal generation
        generation += 1
        client.subscribe([(topic, 1) for topic in spec.topics])

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, _codes: object, _p: object) -> None:
        ready.touch()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        inbox.put((generation, msg.mid, msg.payload))

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=spec.client_id, clean_session=False, protocol=mqtt.MQTTv311
    )
    client.manual_ack_set(True)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.reconnect_delay_set(0.2, 1)
    client.connect_async(HOST, spec.port, keepalive=10)
    client.loop_start()
    while True:
        batch = [inbox.get()]
        with contextlib.suppress(queue.Empty):
            while len(batch) < 1000:
                batch.append(inbox.get_nowait())
        log.save([message_id(payload) for _, _, payload in batch])
        for gen, mid, _ in batch:
            if gen == generation:
                client.ack(mid, 1)


async def run_amqp_consumer(spec: ConsumerSpec, out: Path, ready: Path) -> None:
    """aio-pika, robust connection, prefetch 1000: save a batch, fsync, then ack it (multiple=True
    on the last delivery of each channel)."""
    import aio_pika

    log = DurableLog(out)
    pending: list[aio_pika.abc.AbstractIncomingMessage] = []
    arrived = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        pending.append(message)
        arrived.set()

    url = f"amqp://{spec.username}:{spec.password}@{HOST}:{spec.port}/"
    connection = await aio_pika.connect_robust(url, reconnect_interval=0.5)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1000)
    source = await channel.declare_queue(
        spec.topics[0], durable=True, arguments={"x-queue-type": "quorum"}, passive=True
    )
    await source.consume(on_message)
    await asyncio.to_thread(ready.touch)
    while True:
        await arrived.wait()
        arrived.clear()
        batch, pending[:] = list(pending), []
        if not batch:
            continue
        await asyncio.to_thread(log.save, [message_id(m.body) for m in batch])
        last_per_channel = {id(m.channel): m for m in batch}
        for message in last_per_channel.values():
            with contextlib.suppress(Exception):  # a channel closed since: the broker redelivers
                await message.ack(multiple=True)


def consumer_main(args: argparse.Namespace) -> None:
    spec = ConsumerSpec(**json.loads(args.consumer))
    out, ready = Path(args.out), Path(args.ready)
    if spec.kind == "mqtt":
        run_mqtt_consumer(spec, out, ready)
    else:
        asyncio.run(run_amqp_consumer(spec, out, ready))


class StoreReader:
    """What the consumers have stored so far (their files, read incrementally)."""

    def __init__(self, paths: list[Path]) -> None:
        self.offsets = dict.fromkeys(paths, 0)
        self.ids: set[int] = set()
        self.lines = 0
        self.last_change = time.monotonic()

    def poll(self) -> None:
        for path, offset in self.offsets.items():
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a killed consumer may have left half a line
            for line in data[:end].split():
                self.ids.add(int(line))
                self.lines += 1
            if end:
                self.offsets[path] = offset + end
                self.last_change = time.monotonic()

    @property
    def duplicates(self) -> int:
        return self.lines - len(self.ids)


# --------------------------------------------------------------------------------------------
# Publishers: 20 paho clients (each its own network thread), one pacing thread.


def device_topic(index: int) -> str:
    return f"trackers/dev{index:02d}/position"


@dataclass
class Publishers:
    engine: Engine
    messages: int
    rate: float | None  # msgs/s in all; None: as fast as paho takes them
    clients: list[mqtt.Client] = field(default_factory=list)
    # sent[c][k]: the id of client c's (k+1)-th publish, which paho gives mid k+1 (mids are only
    # used by publishes here and stay the same when paho resends); acked_mids[c]: mids PUBACKed.
    sent: list[list[int]] = field(default_factory=list)
    acked_mids: list[set[int]] = field(default_factory=list)
    published: int = 0
    mid_mismatches: int = 0
    first_publish: float = 0.0
    last_ack: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def connect(self, deadline: float) -> None:
        connected = [threading.Event() for _ in range(PUBLISHERS)]
        for index in range(PUBLISHERS):
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"pub-{index:02d}",
                clean_session=False,
                protocol=mqtt.MQTTv311,
            )
            if self.engine.mqtt_user:
                client.username_pw_set(self.engine.mqtt_user, self.engine.mqtt_password)
            client.max_inflight_messages_set(100)
            client.reconnect_delay_set(0.2, 1)
            client.on_connect = lambda *_a, e=connected[index]: e.set()
            self.sent.append([])
            self.acked_mids.append(set())
            client.on_publish = lambda _c, _u, mid, *_r, i=index: self._on_publish(i, mid)
            client.connect_async(HOST, self.engine.mqtt_port, keepalive=10)
            client.loop_start()
            self.clients.append(client)
        for event in connected:
            if not event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("publishers could not connect")

    def _on_publish(self, client_index: int, mid: int) -> None:
        self.acked_mids[client_index].add(mid)
        self.last_ack = time.monotonic()

    def start(self) -> None:
        threading.Thread(target=self._run, name="pacer", daemon=True).start()

    def _run(self) -> None:
        self.first_publish = start = time.monotonic()
        for seq in range(self.messages):
            if self.stop.is_set():
                break
            if self.rate:
                delay = start + seq / self.rate - time.monotonic()
                if delay > 0.002:
                    time.sleep(delay)
            device = seq % PUBLISHERS
            payload = json.dumps({"id": seq, "device": f"dev{device:02d}", "ms": int(time.time() * 1000)})
            self.sent[device].append(seq)
            info = self.clients[device].publish(device_topic(device), payload, qos=1)
            self.mid_mismatches += info.mid != len(self.sent[device])
            self.published += 1
        self.done.set()

    def acked_ids(self) -> set[int]:
        return {self.sent[c][mid - 1] for c, mids in enumerate(self.acked_mids) for mid in list(mids)}

    def close(self) -> None:
        self.stop.set()
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


# --------------------------------------------------------------------------------------------
# One row.


@dataclass
class RowResult:
    engine: str
    fault: str
    published: int = 0
    acked: int = 0
    stored: int = 0
    missing: int = 0  # PUBACKed, never stored
    duplicates: int = 0
    seconds: float = 0.0
    acked_per_s: float = 0.0
    note: str = ""


@dataclass
class ConsumerProcesses:
    engine: Engine
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def out(self, index: int) -> Path:
        return self.workdir / f"stored-{index}.log"

    def start(self, deadline: float) -> None:
        for index in range(CONSUMERS):
            spec = self.engine.consumer_spec(index)
            ready = self.workdir / f"ready-{index}"
            args = [sys.executable, __file__, "--consumer", json.dumps(spec.__dict__)]
            args += ["--out", str(self.out(index)), "--ready", str(ready)]
            self.procs.append(spawn(args, self.workdir / f"consumer-{index}.err"))
        for index in range(CONSUMERS):
            while not (self.workdir / f"ready-{index}").exists():
                if time.monotonic() > deadline or self.procs[index].poll() is not None:
                    raise TimeoutError(f"consumer {index} did not subscribe (see consumer-{index}.err)")
                time.sleep(0.05)

    def kill(self, index: int) -> None:
        kill_group(self.procs[index])

    def close(self) -> None:
        for proc in self.procs:
            kill_group(proc)


def inject(fault: str, engine: Engine, consumers: ConsumerProcesses, deadline: float) -> str:
    """Do the fault; return what happened, with timings."""
    t0 = time.monotonic()
    if fault == "broker kill -9":
        engine.kill9()
    elif fault == "broker SIGTERM":
        engine.terminate()
    elif fault == "leader kill -9" and isinstance(engine, RabbitClusterEngine):
        return engine.kill_leader()
    elif fault == "consumer kill -9":
        consumers.kill(0)
        return "consumer 0 killed, kept down"
    else:
        return ""
    down = time.monotonic() - t0
    engine.start(deadline)
    return f"stop {down:.1f} s, start {time.monotonic() - t0 - down:.1f} s"


def settle(publishers: Publishers, store: StoreReader, deadline: float) -> None:
    """Wait for the publishers to flush (every message PUBACKed) and the consumers to drain."""
    while time.monotonic() < deadline:
        store.poll()
        if publishers.done.is_set():
            acked = publishers.acked_ids()
            quiet = time.monotonic() - store.last_change
            flushed = len(acked) == publishers.published
            if flushed and acked <= store.ids and quiet >= QUIET_S:
                return
            if quiet >= STUCK_S and (flushed or time.monotonic() - publishers.last_ack >= STUCK_S):
                return
        time.sleep(0.2)


def run_row(
    name: str, factory: Callable[[Path], Engine], fault: str, args: argparse.Namespace, root: Path
) -> RowResult:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-{fault.replace(' ', '_')}-", dir=root))
    engine = factory(workdir / "broker")
    result = RowResult(engine.name, fault)
    timeout = args.cluster_timeout if fault in CLUSTER_FAULTS else args.row_timeout
    deadline = time.monotonic() + timeout
    consumers = ConsumerProcesses(engine, workdir)
    throughput = fault == "throughput"
    publishers = Publishers(
        engine, args.throughput_messages if throughput else args.messages, None if throughput else args.rate
    )
    store = StoreReader([consumers.out(i) for i in range(CONSUMERS)])
    notes: list[str] = []
    try:
        engine.start(deadline)
        consumers.start(deadline)
        publishers.connect(deadline)
        started = time.monotonic()
        publishers.start()
        while publishers.published < publishers.messages * FAULT_AT and time.monotonic() < deadline:
            time.sleep(0.005)
        notes.append(inject(fault, engine, consumers, deadline))
        settle(publishers, store, deadline)
        if time.monotonic() >= deadline:
            notes.append(f"row timeout ({timeout:.0f} s) before settling")
        notes.append(engine.extra())
        if publishers.mid_mismatches:
            notes.append(f"{publishers.mid_mismatches} unexpected paho mids: acked counts unreliable")
        result.seconds = time.monotonic() - started
    except Exception as exc:
        notes.append(f"error: {type(exc).__name__}: {exc}")
    finally:
        publishers.stop.set()
        store.poll()
        acked = publishers.acked_ids()
        result.published, result.acked = publishers.published, len(acked)
        result.stored, result.duplicates = len(store.ids), store.duplicates
        result.missing = len(acked - store.ids)
        if acked and publishers.last_ack > publishers.first_publish:
            result.acked_per_s = len(acked) / (publishers.last_ack - publishers.first_publish)
        result.note = "; ".join(n for n in notes if n)
        publishers.close()
        consumers.close()
        engine.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------------------------
# RabbitMQ side checks: does the MQTT plugin PUBACK only once the queue confirmed? What happens to
# a message no queue takes?


def publish_and_count(port: int, topic: str, count: int, wait_s: float) -> int:
    """Publish `count` QoS 1 messages as the tracker user; return how many were PUBACKed."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"check-{topic}", protocol=mqtt.MQTTv311)
    client.username_pw_set(TRACKER_USER, TRACKER_PASSWORD)
    acked: set[int] = set()
    client.on_publish = lambda _c, _u, mid, *_r: acked.add(mid)
    client.connect(HOST, port)
    client.loop_start()
    try:
        for i in range(count):
            client.publish(topic, json.dumps({"id": i}), qos=1)
        end = time.monotonic() + wait_s
        while time.monotonic() < end and len(acked) < count:
            time.sleep(0.1)
        return len(acked)
    finally:
        client.disconnect()
        client.loop_stop()


def queue_depth(name: str, port: int = RABBIT_AMQP_PORT) -> int:
    """Messages in a queue, as the queue itself answers a passive declare (list_queues lags)."""
    import aio_pika

    async def depth() -> int:
        url = f"amqp://probe-admin:probe-admin@{HOST}:{port}/"
        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(name, passive=True)
            return declared.declaration_result.message_count or 0

    time.sleep(1.0)
    return asyncio.run(depth())


def rabbit_checks(root: Path, args: argparse.Namespace) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="rabbit-checks-", dir=root))
    engine = RabbitEngine(workdir / "broker")
    lines: list[str] = []
    try:
        engine.start(time.monotonic() + args.row_timeout)
        # 1. A quorum queue that refuses (max 10, reject-publish): are refused messages PUBACKed?
        engine.ctl(
            "eval",
            'rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, <<"probe.full">>), true, false,'
            ' [{<<"x-queue-type">>, longstr, <<"quorum">>}, {<<"x-max-length">>, long, 10},'
            ' {<<"x-overflow">>, longstr, <<"reject-publish">>}], none, <<"probe-admin">>).',
        )
        engine.ctl(
            "eval",
            'rabbit_binding:add({binding, rabbit_misc:r(<<"/">>, exchange, <<"amq.topic">>),'
            ' <<"probe.check.full">>, rabbit_misc:r(<<"/">>, queue, <<"probe.full">>), []}, <<"probe-admin">>).',
        )
        acked = publish_and_count(RABBIT_MQTT_PORT, "probe/check/full", 30, 10.0)
        lines.append(
            f"quorum queue with max-length 10 + reject-publish: 30 published, {acked} PUBACKed, "
            f"{queue_depth('probe.full')} in the queue"
        )
        # 2. No queue takes it, alternate exchange set: PUBACKed and kept?
        acked = publish_and_count(RABBIT_MQTT_PORT, "probe/check/nowhere", 20, 5.0)
        lines.append(
            f"unroutable, alternate exchange set: 20 published, {acked} PUBACKed, "
            f"{queue_depth(RABBIT_UNROUTED)} kept in {RABBIT_UNROUTED}"
        )
        # 3. Same without the alternate exchange.
        engine.ctl("clear_policy", "AE")
        time.sleep(1.0)
        before = queue_depth(RABBIT_UNROUTED)
        acked = publish_and_count(RABBIT_MQTT_PORT, "probe/check/nowhere", 20, 5.0)
        lines.append(
            f"unroutable, no alternate exchange: 20 published, {acked} PUBACKed, "
            f"{queue_depth(RABBIT_UNROUTED) - before} kept anywhere"
        )
    except Exception as exc:
        lines.append(f"check failed: {type(exc).__name__}: {exc}")
    finally:
        engine.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return lines


# --------------------------------------------------------------------------------------------
# Report.


def markdown_table(results: list[RowResult]) -> Iterator[str]:
    yield "| engine | fault | published | PUBACKed | stored | acked-but-missing | duplicates | acked msg/s | s | notes |"
    yield "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for r in results:
        yield (
            f"| {r.engine} | {r.fault} | {r.published:,} | {r.acked:,} | {r.stored:,} | {r.missing:,} | "
            f"{r.duplicates:,} | {r.acked_per_s:,.0f} | {r.seconds:.1f} | {r.note} |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages per fault row")
    parser.add_argument("--throughput-messages", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=1000.0, help="msgs/s, all publishers, fault rows")
    parser.add_argument("--engines", default="mosquitto,rabbitmq,nats")
    parser.add_argument("--cluster", action="store_true", help="add the 3-node RabbitMQ row (leader kill -9)")
    parser.add_argument("--cluster-timeout", type=float, default=240.0)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--row-timeout", type=float, default=120.0)
    parser.add_argument("--no-checks", action="store_true", help="skip the RabbitMQ PUBACK checks")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs, data)")
    parser.add_argument("--consumer", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.consumer:
        consumer_main(args)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="engines-probe-"))
    results: list[RowResult] = []
    checks: list[str] = []
    try:
        engines = args.engines.split(",")
        rows = [(name, fault) for name in engines if name in ENGINES for fault in args.faults.split(",")]
        if args.cluster:
            rows += [("rabbitmq-cluster", fault) for fault in CLUSTER_FAULTS]
        for name, fault in rows:
            result = run_row(name, ENGINES[name], fault, args, root)
            results.append(result)
            print(progress_line(result), flush=True)
        if "rabbitmq" in engines and not args.no_checks:
            checks = rabbit_checks(root, args)
    finally:
        kill_everything()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print("\n".join(markdown_table(results)))
    for line in checks:
        print(f"- RabbitMQ check: {line}")


def progress_line(r: RowResult) -> str:
    return (
        f"# {r.engine} / {r.fault}: {r.published} published, {r.acked} acked, {r.stored} stored, "
        f"{r.missing} missing, {r.duplicates} dup, {r.acked_per_s:.0f}/s, {r.seconds:.1f} s; {r.note}"
    )


if __name__ == "__main__":
    main()
