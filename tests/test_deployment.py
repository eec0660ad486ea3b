"""Issue 10, item 7 (deployment), written as the attacks that used to work:

- the services connected to PostgreSQL as the schema's owner (a superuser in the compose image): a
  SQL injection or a stolen service credential could drop tables or create roles. Now they connect
  as `amb_app` (admin/db_role.py), which writes rows and nothing else;
- the demo fleet and emulator started with production; MQTT and the API were plain text;
- a service password was expanded onto the init container's command line (`ps`, `docker inspect`);
- the dev database credentials were refused only when the whole URL matched the default string
  (`?sslmode=require` or another host slipped through).

docker-compose.yml and the Caddyfile are checked by reading them (no Docker engine in the tests);
the database role is checked for real when the test can reach a superuser (the project server's socket).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import ValidationError

from admin.cli import main as amb_admin
from admin.db_role import grant_app_role
from fixes.model import Fix
from fixes.positions import PartitionCache, maintain_partitions, prepare_connection, store_fixes
from runtime.config import DatabaseSettings
from tests.services import REPO, TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("gateway", "tracker", "api")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


# --- docker-compose.yml --------------------------------------------------------------------------------


def test_the_services_connect_as_the_dml_role_and_only_migrations_as_the_owner(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in (*APP_SERVICES, "emulator"):
        url = env_of(services[name])["AMB_DATABASE_URL"]
        assert url.startswith("postgresql://amb_app:${AMB_APP_DB_PASSWORD:?"), (name, url)
    owners = {n for n, s in services.items() if "postgresql://amb:" in env_of(s).get("AMB_DATABASE_URL", "")}
    assert owners == {"init", "partitions", "demo-seed"}
    assert "python -m admin.db_role grant" in " ".join(services["init"]["command"])


def test_no_demo_fleet_or_emulator_in_the_production_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    demo = {n for n, s in services.items() if s.get("profiles")}
    assert demo == {"emulator", "demo-seed"} and all(services[n]["profiles"] == ["demo"] for n in demo)
    production = " ".join(str(s.get("command")) for n, s in services.items() if n not in demo)
    assert "seed-fleet" not in production and "amb-emulator" not in production


def test_no_password_on_a_command_line(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        command = " ".join(service.get("command") or [])
        assert not re.search(r"\$\$?\{?[A-Z_]*(PASSWORD|SECRET|TOKEN)", command), (name, command)
        # A healthcheck is a command line too.
        assert "PASSWORD" not in str(service.get("healthcheck", {}).get("test", "")), name
    assert "--service-env amb-gateway=gateway:AMB_MQTT_GATEWAY_PASSWORD" in " ".join(
        compose["services"]["init"]["command"]
    )


def test_every_secret_is_required_never_defaulted() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    secrets = re.findall(r"\$\{([A-Z_]*PASSWORD[A-Z_]*)(:?[-?]?)", text)
    assert secrets and all(op == ":?" for _, op in secrets), secrets


def test_tls_fronts_and_what_is_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    published = {n: [str(p) for p in s.get("ports", [])] for n, s in services.items()}
    assert published["broker"] == ["8883:8883"]  # MQTT over TLS only; 1883 internal
    assert (
        "./deploy/rabbitmq/20-tls.conf:/etc/rabbitmq/conf.d/20-tls.conf:ro" in services["broker"]["volumes"]
    )
    assert not published.get("api") and not published.get("db")  # the API only through Caddy
    assert not any(p.startswith("5055") for p in published["gateway"])  # OsmAnd only over HTTPS
    assert {"80:80", "443:443", "5443:5443"} <= set(published["caddy"])
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]
    caddy_ip = services["caddy"]["networks"]["front"]["ipv4_address"]
    assert env_of(services["api"])["FORWARDED_ALLOW_IPS"] == caddy_ip
    assert env_of(services["gateway"])["AMB_GATEWAY_OSMAND_TRUSTED_PROXIES"] == f"{caddy_ip}/32"
    assert compose["networks"]["internal"]["internal"] is True
    for name in ("db", "init", "partitions"):  # nothing of these faces the outside
        assert services[name]["networks"] == ["internal"], name

    tls = (ROOT / "deploy/rabbitmq/20-tls.conf").read_text(encoding="utf-8")
    assert "mqtt.listeners.ssl.default = 8883" in tls
    for key in ("cacertfile", "certfile", "keyfile"):
        assert re.search(rf"^ssl_options\.{key} = /etc/rabbitmq/certs/\S+\.pem$", tls, re.M), key
    assert "./deploy/certs/mqtt:/etc/rabbitmq/certs:ro" in services["broker"]["volumes"]


def test_the_gateway_healthcheck_reads_a_metric_the_gateway_exports(compose: dict[str, Any]) -> None:
    from prometheus_client import generate_latest

    import gateway.metrics  # noqa: F401 - registers the gateway's metrics

    probe = " ".join(compose["services"]["gateway"]["healthcheck"]["test"])
    name = re.search(r"b'(amb_gateway_\w+) 1\.0'", probe)
    assert name is not None and f"{name.group(1)} ".encode() in generate_latest()


def test_the_caddyfile_proxies_over_https_and_keeps_secrets_out_of_its_log() -> None:
    caddy = (ROOT / "deploy/Caddyfile").read_text(encoding="utf-8")
    assert re.search(r"^\{\$AMB_PUBLIC_HOST\} \{\n(.|\n)*?reverse_proxy api:8000", caddy, re.M)
    assert re.search(r"^\{\$AMB_PUBLIC_HOST\}:5443 \{\n(.|\n)*?reverse_proxy gateway:5055", caddy, re.M)
    assert "replace token REDACTED" in caddy and "request>headers>Authorization delete" in caddy
    assert "/track" in caddy and "Strict-Transport-Security" in caddy
    assert caddy.count("{") == caddy.count("}")


# --- dev credentials refused in production, by parsing ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://amb:amb@127.0.0.1:5432/ambulance",
        "postgresql://amb:amb@db:5432/ambulance?sslmode=require",  # used to slip through
        "postgres://amb:amb@db/ambulance",
        "postgresql://amb_app:%61mb@db/ambulance",  # the dev password, percent-encoded, another user
        "host=db user=amb password=amb dbname=ambulance",
        "not a url at all ===",
    ],
)
def test_dev_database_credentials_are_refused_in_production(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(ValidationError, match="development credentials"):
        DatabaseSettings(env="production", database_url=url)
    DatabaseSettings(env="development", database_url=url)  # accepted where they belong


def test_real_credentials_pass_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    DatabaseSettings(env="production", database_url="postgresql://amb_app:Xq9-long-secret@db/ambulance")
    monkeypatch.setenv("PGPASSWORD", "amb")
    with pytest.raises(ValidationError):
        DatabaseSettings(env="production", database_url="postgresql://amb@db/ambulance")


# --- amb-admin broker-auth --service-env ---------------------------------------------------------------


def test_broker_auth_reads_service_passwords_from_the_environment(
    db: psycopg.Connection, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GATEWAY_PW", "s3cret-from-env-only")
    out = tmp_path / "definitions.json"
    argv = ["--database-url", database_url, "broker-auth", "--write", str(out)]
    assert amb_admin([*argv, "--service-env", "amb-gateway=gateway:TEST_GATEWAY_PW"]) == 0
    row = db.execute(
        "SELECT role, password_hash FROM mqtt_service_accounts WHERE username = 'amb-gateway'"
    ).fetchone()
    assert row is not None and row[0] == "gateway"
    raw = base64.b64decode(row[1])
    assert raw[4:] == hashlib.sha256(raw[:4] + b"s3cret-from-env-only").digest()
    assert "s3cret" not in out.read_text(encoding="utf-8")
    assert amb_admin([*argv, "--service-env", "amb-api=api:TEST_UNSET_VARIABLE"]) == 2


# --- the services' database role, for real -------------------------------------------------------------


def _superuser_url() -> str | None:
    """The test database over the project server's Unix socket (scripts/postgres.sh socket) as
    this OS user, if that is a superuser there."""
    params = conninfo_to_dict(TEST_DATABASE_URL)
    socket = (
        os.environ.get("AMB_TEST_PG_SOCKET")
        or subprocess.run(
            ["bash", str(REPO / "scripts/postgres.sh"), "socket"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    url = make_conninfo(
        dbname=str(params.get("dbname")), host=socket, port=str(params.get("port") or 5488), connect_timeout=3
    )
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    except psycopg.Error:
        return None
    return url if row and row[0] else None


@pytest.fixture
def app_role(database_url: str, db: psycopg.Connection) -> Iterator[str]:
    """A fresh DML-only role (as `python -m admin.db_role grant` makes it); its conninfo."""
    superuser = _superuser_url()
    if superuser is None:
        pytest.skip(
            "needs a superuser to create roles (the project server's socket, as the OS user that started it)"
        )
    role, password = f"amb_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(superuser, autocommit=True) as conn:
        grant_app_role(conn, role, password)
    try:
        yield make_conninfo(database_url, user=role, password=password)
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_the_app_role_stores_fixes_and_creates_partitions_but_no_ddl(
    app_role: str, db: psycopg.Connection, vehicle: tuple[int, str]
) -> None:
    old_day = (datetime.now(UTC) - timedelta(days=321)).replace(hour=12, minute=0, second=0, microsecond=0)
    partition = f"positions_{old_day:%Y%m%d}"
    fixes = [
        Fix(vehicle[1], vehicle[0], when, datetime.now(UTC), 16.05, 108.2, "gt06")
        for when in (old_day, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5))
    ]
    try:
        async with await psycopg.AsyncConnection.connect(app_role, autocommit=True) as conn:
            await prepare_connection(conn)  # a TEMP staging table
            await PartitionCache().ensure(conn, fixes)  # a new day's partition, through the definer function
            assert len(await store_fixes(conn, fixes)) == 2
            report = await maintain_partitions(conn)  # creating works; dropping is left to the owner
            assert report.postponed == []
            for statement in (
                "DROP TABLE positions",
                "TRUNCATE devices",
                "ALTER TABLE devices ADD COLUMN x int",
                "CREATE TABLE stolen (x int)",
                f"ALTER TABLE positions DETACH PARTITION {partition}",
                "CREATE ROLE intruder SUPERUSER",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    await conn.execute(statement)
            cur = await conn.execute(
                "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user"
            )
            assert await cur.fetchone() == (False, False)
    finally:
        db.execute(sql.SQL("ALTER TABLE positions DETACH PARTITION {}").format(sql.Identifier(partition)))
        db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition)))
