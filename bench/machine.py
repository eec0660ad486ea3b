"""What the figures were measured on: cores, memory, OS, the versions of the moving parts and the
project's commit."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent


def describe_machine(database_url: str) -> dict[str, Any]:
    lscpu = _command("lscpu").splitlines()
    cpu_model = next((line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")), "?")
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with psycopg.connect(database_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()
    return {
        "cores": int(_command("nproc") or 0),
        "cpu": cpu_model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": _os_name(),
        "python": platform.python_version(),
        "postgresql": str(pg[0]) if pg else "?",
        "postgis": str(postgis[0]) if postgis else "?",
        "rabbitmq": _package_version("rabbitmq-server"),
        "erlang": _package_version("erlang-base"),
        "commit": _command("git", "-C", str(REPO), "describe", "--always", "--dirty") or "?",
    }


def _command(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def _package_version(package: str) -> str:
    """The Debian package's version (scripts/broker.sh runs the packaged RabbitMQ)."""
    return _command("dpkg-query", "-W", "-f", "${Version}", package) or "?"


def _os_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()
