"""The commands of `amb-admin` (admin/cli.py builds the parser): each takes a connection and the
parsed arguments, does its work and returns what to print."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from accounts import access
from accounts import users as accounts
from admin import broker_auth, places
from analytics import backfill
from fixes.quarantine import GATEWAY, TRACKER, QuarantineRow, ReplayResult, open_rows, replay_rows
from roads import importer as roads_import
from roads import speed_learning
from runtime.progress import Heartbeat, Progress
from tracking import eta_calibration, fleet, geofences
from tracking.settings import TrackingSettings

T = TypeVar("T")


def on_async_connection(
    args: argparse.Namespace, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
) -> T:
    """Run `work` on an autocommit async connection of its own to the command's database
    (admin/cli.py resolved args.database_url), for the commands built on the services' async code."""

    async def run() -> T:
        async with await psycopg.AsyncConnection.connect(args.database_url, autocommit=True) as aconn:
            return await work(aconn)

    return asyncio.run(run())


def migrate(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    return "schema applied"


def load_danang(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    data: Path = args.data_dir
    hospitals = places.load_hospitals(conn, data / "hospitals.csv")
    stations = places.load_stations(conn, data / "stations.csv")
    roads = places.load_road_lines(conn, data / "roads-central.geojson")
    fences = geofences.ensure_default_geofences(conn, TrackingSettings().hysteresis_m)
    return (
        f"loaded {hospitals} hospitals, {stations} sample stations, {roads} road lines from {data};"
        f" {fences} new default geofences"
    )


def import_roads(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    bbox = roads_import.parse_bbox(args.bbox) if args.bbox else None
    progress = Progress("import-roads", len(args.files) + roads_import.IMPORT_STEPS, "steps")
    report = roads_import.import_roads(conn, args.files, bbox=bbox, replace=args.replace, progress=progress)
    progress.done()
    return report.summary()


def learn_speeds(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    until = datetime.now(UTC)

    async def learn(aconn: psycopg.AsyncConnection[Any]) -> speed_learning.LearnReport:
        async with Heartbeat("learn-speeds", f"learning from the fixes of the last {args.days:g} days"):
            return await speed_learning.learn_speeds(aconn, until - timedelta(days=args.days), until)

    return on_async_connection(args, learn).summary()


def eta_accuracy(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    """The ETAs shown against the arrivals of the last days: first the journeys that have arrived
    since amb-tracker's last calibration become outcomes, as it would do within the hour."""
    now = datetime.now(UTC)

    async def report(aconn: psycopg.AsyncConnection[Any]) -> list[eta_calibration.AccuracyRow]:
        await eta_calibration.collect_outcomes(aconn, now)
        return await eta_calibration.eta_accuracy(aconn, now - timedelta(days=args.days))

    rows = on_async_connection(args, report)
    if not rows:
        return f"no arrival with an ETA in the last {args.days:g} days"
    which = {"true": "first ETA of the leg", "false": "later ETAs", "any": "every ETA"}
    pct = "{:+.1f} %".format
    lines = [
        f"ETAs against arrivals of the last {args.days:g} day(s) (shares of the time left; bias < 0: too early)",
        f"{'leg':<9} {'ETAs':<21} {'n':>6} {'median':>7} {'p90':>7} {'bias':>8} {'window':>7}"
        f" {'raw median':>10} {'raw bias':>9} {'median left':>11}",
    ]
    for r in rows:
        window = "-" if r.window is None else f"{100 * r.window:.0f} %"
        lines.append(
            f"{r.leg:<9} {which.get(r.which, r.which):<21} {r.n:>6} {100 * r.median:>5.1f} %"
            f" {100 * r.p90:>5.1f} % {pct(100 * r.bias):>8} {window:>7} {100 * r.raw_median:>8.1f} %"
            f" {pct(100 * r.raw_bias):>9} {r.median_actual_s / 60:>9.1f} min"
        )
    return "\n".join(lines)


def positive_days(text: str) -> float:
    days = float(text)
    if not days > 0:
        raise argparse.ArgumentTypeError("must be a positive number of days")
    return days


# What seed-fleet --passwords-file issues: MQTT passwords, or the OsmAnd token the emulator sends.
SECRET_PROTOCOLS: dict[str, Callable[[psycopg.Connection, str], str]] = {
    "mqtt_json": broker_auth.issue_device_password,
    "owntracks": broker_auth.issue_device_password,
    "osmand": fleet.issue_device_token,
}


def seed_fleet(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    protocol = fleet.registry_protocol(args.protocol)
    if args.count < 1:
        raise fleet.FleetError("--count must be at least 1")
    if args.passwords_file and protocol not in SECRET_PROTOCOLS:
        raise fleet.FleetError(f"{protocol} devices have no password or token: leave out --passwords-file")
    vehicles = fleet.seed_demo_fleet(conn, args.count, args.prefix, protocol)
    devices = [fleet.demo_device_id(i, args.prefix, protocol) for i in range(1, args.count + 1)]
    if args.passwords_file:
        issue = SECRET_PROTOCOLS[protocol]
        lines = [f"{device} {issue(conn, device)}" for device in devices]
        args.passwords_file.parent.mkdir(parents=True, exist_ok=True)
        args.passwords_file.touch(mode=0o600)
        args.passwords_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"registered {len(vehicles)} demo ambulances with {protocol} devices {devices[0]}..{devices[-1]}"


def backfill_demo(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    return backfill.backfill_demo(args.database_url, args.days, args.per_day, args.seed)


def add_vehicle(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    v = fleet.register_vehicle(conn, args.plate, args.call_sign, args.kind)
    return f"vehicle {v.id}: {v.plate} {v.call_sign} ({v.kind})"


def add_device(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    fleet.register_device(conn, args.device_id, args.protocol, args.plate)
    where = ""
    if args.allow_network is not None:
        nets = fleet.set_allowed_networks(conn, args.device_id, [n for n in args.allow_network if n != "any"])
        where = f", only from {', '.join(nets)}" if nets else ", from any address"
    return (
        f"device {args.device_id} ({args.protocol}) registered"
        + (f" to {args.plate}" if args.plate else "")
        + where
    )


def create_api_key(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    if args.replace:
        revoked = access.revoke_api_keys_named(conn, args.name)
        if revoked and not args.quiet:
            print(f"revoked {revoked} earlier key(s) named {args.name!r}")
    secret = access.create_api_key(conn, args.name, args.role, args.hospital_id)
    return secret if args.quiet else f"API key for {args.name} ({args.role}), shown once:\n{secret}"


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise accounts.AccountError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Again: ") != password:
        raise accounts.AccountError("the two passwords differ")
    return password


def create_user(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    hospital_id = args.hospital_id
    if args.hospital_name:
        row = conn.execute("SELECT id FROM hospitals WHERE name_vi = %s", (args.hospital_name,)).fetchone()
        if row is None:
            raise accounts.AccountError(f"no hospital named {args.hospital_name!r}")
        hospital_id = row[0]
    vehicle_id = None
    if args.vehicle:
        plate = re.sub(r"[^0-9A-Za-z]", "", args.vehicle).upper()  # a plate as stored, or nothing
        row = conn.execute(
            "SELECT id FROM vehicles WHERE call_sign = %s OR plate = %s ORDER BY call_sign = %s DESC, id LIMIT 1",
            (args.vehicle, plate, args.vehicle),
        ).fetchone()
        if row is None:
            raise accounts.AccountError(f"no vehicle with call sign or plate {args.vehicle!r}")
        vehicle_id = row[0]
    accounts.check_username(args.username)
    access.check_role(args.role, hospital_id, vehicle_id)
    password = read_password(args)
    accounts.check_password(password, args.username)
    user = on_async_connection(args, lambda a: store_user(a, args, password, hospital_id, vehicle_id))
    where = f" of hospital {user['hospital_id']}" if user["hospital_id"] else ""
    return f"user {user['id']}: {user['username']} ({user['role']}{where})"


async def store_user(
    aconn: psycopg.AsyncConnection[Any],
    args: argparse.Namespace,
    password: str,
    hospital_id: int | None,
    vehicle_id: int | None,
) -> dict[str, Any]:
    existing = await accounts.find_user_id(aconn, args.username) if args.replace else None
    if existing is None:
        return await accounts.create_user(
            aconn, args.username, password, args.role, hospital_id, args.display_name, vehicle_id
        )
    changes = {
        "role": args.role,
        "hospital_id": hospital_id,
        "vehicle_id": vehicle_id,
        "disabled": False,
        "password": password,
    }
    if args.display_name:
        changes["display_name"] = args.display_name
    return await accounts.update_user(aconn, existing, changes)


def apply_broker_auth(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    for spec in args.service_env:  # NAME=ROLE:ENV_VAR: the password never on a command line
        name, _, rest = spec.partition("=")
        role, _, variable = rest.partition(":")
        if not os.environ.get(variable):
            raise broker_auth.BrokerAuthError(f"--service-env {name}: the variable {variable!r} is not set")
        args.service.append(f"{name}={role}:{os.environ[variable]}")
    for spec in args.service:
        name, _, rest = spec.partition("=")
        role, _, password = rest.partition(":")
        broker_auth.set_service_password(conn, name, role, password or None)
    if args.write:
        args.write.write_text(json.dumps(broker_auth.render_definitions(conn), indent=1), encoding="utf-8")
        args.write.chmod(0o600)
        return f"wrote {args.write}"
    return broker_auth.sync_broker(conn, management_api(args))


def management_api(args: argparse.Namespace) -> broker_auth.ManagementApi:
    password = os.environ.get("AMB_BROKER_ADMIN_PASSWORD")
    if args.admin_password_file:
        password = args.admin_password_file.read_text(encoding="utf-8").strip()
    if not password:
        raise broker_auth.BrokerAuthError(
            "the broker's admin password: set AMB_BROKER_ADMIN_PASSWORD or --admin-password-file"
        )
    return broker_auth.ManagementApi(args.api_url, args.admin_user, password)


def sync_if_asked(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    if args.sync:
        broker_auth.sync_broker(conn, management_api(args))


def add_management_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api-url",
        default=os.environ.get("AMB_BROKER_API_URL", "http://127.0.0.1:15673"),
        help="the broker's management API (env AMB_BROKER_API_URL)",
    )
    p.add_argument(
        "--admin-user",
        default=os.environ.get("AMB_BROKER_ADMIN_USER", "amb-admin"),
        help="its administrator (env AMB_BROKER_ADMIN_USER); the password from AMB_BROKER_ADMIN_PASSWORD",
    )
    p.add_argument("--admin-password-file", type=Path, help="read the administrator's password from a file")


def issue_mqtt_password(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    password = broker_auth.issue_device_password(conn, args.device_id)
    sync_if_asked(conn, args)
    return (
        password
        if args.quiet
        else f"MQTT password of {args.device_id} (user {args.device_id}), shown once:\n{password}"
    )


def issue_device_token(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    token = fleet.issue_device_token(conn, args.device_id)
    return token if args.quiet else f"HTTP token of {args.device_id}, shown once:\n{token}"


def owntracks_config(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    password = broker_auth.issue_device_password(conn, args.device_id)
    sync_if_asked(conn, args)
    config = broker_auth.owntracks_config(args.device_id, password, args.host, args.port, args.tls)
    return json.dumps(config, indent=2, ensure_ascii=False)


def quarantine_list(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    rows: list[QuarantineRow] = on_async_connection(args, lambda a: open_rows(a, args.stage, args.limit))
    lines = [
        f"{r.id}\t{r.created_at:%Y-%m-%d %H:%M:%S}\t{r.stage}\t{r.protocol or '-'}\t{r.device_id or '-'}"
        f"\t{r.fix_time.isoformat() if r.fix_time else '-'}\tattempts {r.attempts}\t{first_line(r.error)}"
        for r in rows
    ]
    return "\n".join(lines) if lines else "no open quarantine rows"


def quarantine_replay(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    if not args.all and not args.ids:
        raise fleet.FleetError("name the rows to replay (IDs), or --all")

    results: list[ReplayResult] = on_async_connection(
        args, lambda a: replay_rows(a, None if args.all else args.ids)
    )
    lines = [f"{r.id}: {'replayed' if r.replayed else 'still failing'} ({r.detail})" for r in results]
    done = sum(r.replayed for r in results)
    return "\n".join([*lines, f"{done} replayed, {len(results) - done} left open"])


def first_line(text: str, limit: int = 120) -> str:
    return (text.splitlines() or [""])[0][:limit]


def add_quarantine_commands(sub: Any) -> None:
    q = sub.add_parser("quarantine", help="fixes the database rejected: list and replay them")
    qsub = q.add_subparsers(dest="quarantine_command", required=True)
    p = qsub.add_parser("list", help="print open (not replayed) rows, oldest first")
    p.set_defaults(handler=quarantine_list)
    p.add_argument("--stage", choices=(GATEWAY, TRACKER))
    p.add_argument("--limit", type=int, default=100)
    p = qsub.add_parser("replay", help="store open gateway rows again; marks those that now succeed")
    p.set_defaults(handler=quarantine_replay)
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--all", action="store_true", help="every open gateway row")
