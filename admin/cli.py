"""`amb-admin`: schema, data imports, fleet registration, accounts and API keys from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from accounts import access
from accounts import users as accounts
from admin import broker_auth, places
from analytics import backfill
from fixes.quarantine import GATEWAY, TRACKER, QuarantineRow, ReplayResult, open_rows, replay_rows
from roads import importer as roads_import
from roads import speed_learning
from roads.settings import RoutingSettings
from runtime.config import DEFAULT_DATA_DIR, DatabaseSettings
from runtime.db import apply_schema
from runtime.progress import Heartbeat, Progress
from tracking import fleet, geofences
from tracking.settings import TrackingSettings


def _migrate(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    return "schema applied"


def _load_danang(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    data: Path = args.data_dir
    hospitals = places.load_hospitals(conn, data / "hospitals.csv")
    stations = places.load_stations(conn, data / "stations.csv")
    roads = places.load_road_lines(conn, data / "roads-central.geojson")
    fences = geofences.ensure_default_geofences(conn, TrackingSettings().hysteresis_m)
    return (
        f"loaded {hospitals} hospitals, {stations} sample stations, {roads} road lines from {data};"
        f" {fences} new default geofences"
    )


def _import_roads(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    bbox = roads_import.parse_bbox(args.bbox) if args.bbox else None
    progress = Progress("import-roads", len(args.files) + roads_import.IMPORT_STEPS, "steps")
    report = roads_import.import_roads(conn, args.files, bbox=bbox, replace=args.replace, progress=progress)
    progress.done()
    return report.summary()


def _learn_speeds(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    url = args.database_url or DatabaseSettings().database_url
    until = datetime.now(UTC)

    async def learn() -> speed_learning.LearnReport:
        async with (
            await psycopg.AsyncConnection.connect(url, autocommit=True) as aconn,
            Heartbeat("learn-speeds", f"learning from the fixes of the last {args.days:g} days"),
        ):
            return await speed_learning.learn_speeds(aconn, until - timedelta(days=args.days), until)

    return asyncio.run(learn()).summary()


def _positive_days(text: str) -> float:
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


def _seed_fleet(conn: psycopg.Connection, args: argparse.Namespace) -> str:
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


def _backfill_demo(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    return backfill.backfill_demo(args.database_url, args.days, args.per_day, args.seed)


def _add_vehicle(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    v = fleet.register_vehicle(conn, args.plate, args.call_sign, args.kind)
    return f"vehicle {v.id}: {v.plate} {v.call_sign} ({v.kind})"


def _add_device(conn: psycopg.Connection, args: argparse.Namespace) -> str:
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


def _create_api_key(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    if args.replace:
        revoked = access.revoke_api_keys_named(conn, args.name)
        if revoked and not args.quiet:
            print(f"revoked {revoked} earlier key(s) named {args.name!r}")
    secret = access.create_api_key(conn, args.name, args.role, args.hospital_id)
    return secret if args.quiet else f"API key for {args.name} ({args.role}), shown once:\n{secret}"


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise accounts.AccountError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Again: ") != password:
        raise accounts.AccountError("the two passwords differ")
    return password


def _create_user(conn: psycopg.Connection, args: argparse.Namespace) -> str:
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
    password = _read_password(args)
    accounts.check_password(password, args.username)
    user = asyncio.run(_store_user(args.database_url, args, password, hospital_id, vehicle_id))
    where = f" of hospital {user['hospital_id']}" if user["hospital_id"] else ""
    return f"user {user['id']}: {user['username']} ({user['role']}{where})"


async def _store_user(
    url: str, args: argparse.Namespace, password: str, hospital_id: int | None, vehicle_id: int | None
) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as aconn:
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


def _broker_auth(conn: psycopg.Connection, args: argparse.Namespace) -> str:
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
    return broker_auth.sync_broker(conn, _management_api(args))


def _management_api(args: argparse.Namespace) -> broker_auth.ManagementApi:
    password = os.environ.get("AMB_BROKER_ADMIN_PASSWORD")
    if args.admin_password_file:
        password = args.admin_password_file.read_text(encoding="utf-8").strip()
    if not password:
        raise broker_auth.BrokerAuthError(
            "the broker's admin password: set AMB_BROKER_ADMIN_PASSWORD or --admin-password-file"
        )
    return broker_auth.ManagementApi(args.api_url, args.admin_user, password)


def _sync_if_asked(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    if args.sync:
        broker_auth.sync_broker(conn, _management_api(args))


def _add_management_options(p: argparse.ArgumentParser) -> None:
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


def _issue_mqtt_password(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    password = broker_auth.issue_device_password(conn, args.device_id)
    _sync_if_asked(conn, args)
    return (
        password
        if args.quiet
        else f"MQTT password of {args.device_id} (user {args.device_id}), shown once:\n{password}"
    )


def _issue_device_token(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    token = fleet.issue_device_token(conn, args.device_id)
    return token if args.quiet else f"HTTP token of {args.device_id}, shown once:\n{token}"


def _owntracks_config(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    password = broker_auth.issue_device_password(conn, args.device_id)
    _sync_if_asked(conn, args)
    config = broker_auth.owntracks_config(args.device_id, password, args.host, args.port, args.tls)
    return json.dumps(config, indent=2, ensure_ascii=False)


def _quarantine_list(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    async def rows() -> list[QuarantineRow]:
        async with await psycopg.AsyncConnection.connect(args.database_url, autocommit=True) as aconn:
            return await open_rows(aconn, args.stage, args.limit)

    lines = [
        f"{r.id}\t{r.created_at:%Y-%m-%d %H:%M:%S}\t{r.stage}\t{r.protocol or '-'}\t{r.device_id or '-'}"
        f"\t{r.fix_time.isoformat() if r.fix_time else '-'}\tattempts {r.attempts}\t{_first_line(r.error)}"
        for r in asyncio.run(rows())
    ]
    return "\n".join(lines) if lines else "no open quarantine rows"


def _quarantine_replay(conn: psycopg.Connection, args: argparse.Namespace) -> str:
    if not args.all and not args.ids:
        raise fleet.FleetError("name the rows to replay (IDs), or --all")

    async def replay() -> list[ReplayResult]:
        async with await psycopg.AsyncConnection.connect(args.database_url, autocommit=True) as aconn:
            return await replay_rows(aconn, None if args.all else args.ids)

    results = asyncio.run(replay())
    lines = [f"{r.id}: {'replayed' if r.replayed else 'still failing'} ({r.detail})" for r in results]
    done = sum(r.replayed for r in results)
    return "\n".join([*lines, f"{done} replayed, {len(results) - done} left open"])


def _first_line(text: str, limit: int = 120) -> str:
    return (text.splitlines() or [""])[0][:limit]


def _add_quarantine_commands(sub: Any) -> None:
    q = sub.add_parser("quarantine", help="fixes the database rejected: list and replay them")
    qsub = q.add_subparsers(dest="quarantine_command", required=True)
    p = qsub.add_parser("list", help="print open (not replayed) rows, oldest first")
    p.set_defaults(handler=_quarantine_list)
    p.add_argument("--stage", choices=(GATEWAY, TRACKER))
    p.add_argument("--limit", type=int, default=100)
    p = qsub.add_parser("replay", help="store open gateway rows again; marks those that now succeed")
    p.set_defaults(handler=_quarantine_replay)
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--all", action="store_true", help="every open gateway row")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amb-admin", description=__doc__)
    parser.add_argument("--database-url", help="defaults to AMB_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[..., str], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    command("migrate", _migrate, "apply db/schema.sql (idempotent)")
    p = command("load-danang", _load_danang, "load hospitals, sample stations and road lines")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p = command(
        "import-roads",
        _import_roads,
        "load OSM (.osm, .osm.pbf) and GeoJSON road files into the routable network, in one transaction",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="merged; the first wins a duplicate")
    p.add_argument("--bbox", metavar="SOUTH,WEST,NORTH,EAST", help="keep only edges intersecting this box")
    p.add_argument("--replace", action="store_true", help="replace the network instead of adding to it")
    p = command(
        "learn-speeds",
        _learn_speeds,
        "learn road speeds per edge, direction and hour of day from the stored fixes (amb-tracker"
        " does it every AMB_ROUTING_LEARN_INTERVAL_S)",
    )
    p.add_argument(
        "--days",
        type=_positive_days,
        default=RoutingSettings().learn_days,
        help="learn from the fixes of this many days back (default AMB_ROUTING_LEARN_DAYS)",
    )
    p = command("seed-fleet", _seed_fleet, "register N demo ambulances and their emulated trackers")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--prefix", default="emu-", help="device id prefix (see tracking.fleet.demo_device_id)")
    p.add_argument(
        "--protocol",
        default="mqtt_json",
        choices=sorted({*fleet.PROTOCOLS, *fleet.EMULATOR_PROTOCOLS}),
        help="what the trackers speak (amb-emulator --protocol); gt06/teltonika get IMEIs, h02 numeric ids",
    )
    p.add_argument(
        "--passwords-file",
        type=Path,
        help="issue MQTT passwords (mqtt, owntracks) or OsmAnd tokens and write `device secret` lines here",
    )
    p = command("add-vehicle", _add_vehicle, "register a vehicle (or update the one with that plate)")
    p.add_argument("plate", help="e.g. 43A-123.45 (stored as 43A12345)")
    p.add_argument("call_sign", help="e.g. 115-07")
    p.add_argument("--kind", default="ambulance", choices=fleet.VEHICLE_KINDS)
    p = command("add-device", _add_device, "register a tracker, optionally assigned to a vehicle")
    p.add_argument("device_id", help="tracker id or IMEI")
    p.add_argument("--protocol", default="mqtt_json", choices=fleet.PROTOCOLS)
    p.add_argument("--plate", help="plate of the vehicle carrying it")
    p.add_argument(
        "--allow-network",
        action="append",
        metavar="CIDR",
        help="TCP/UDP/HTTP devices: accept it only from this network (repeatable; e.g. its APN's range);"
        " `any` lifts the restriction; left out, unchanged",
    )
    p = command(
        "broker-auth",
        _broker_auth,
        "apply the registry's broker users and permissions (devices, services) to the broker",
    )
    _add_management_options(p)
    p.add_argument("--write", type=Path, help="write the definitions to this file instead (loaded at boot)")
    p.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=ROLE[:PASSWORD]",
        help="create or re-key a service account (role gateway or api) first; repeatable",
    )
    p.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=ROLE:ENV_VAR",
        help="the same, the password read from the environment variable ENV_VAR (not on the command line)",
    )
    p = command(
        "issue-mqtt-password", _issue_mqtt_password, "give an MQTT device a new password (shown once)"
    )
    p.add_argument("device_id")
    p.add_argument("--sync", action="store_true", help="also apply the broker accounts (as broker-auth)")
    _add_management_options(p)
    p.add_argument("--quiet", action="store_true", help="print only the password")
    p = command(
        "issue-device-token",
        _issue_device_token,
        "give an HTTP (OsmAnd / Traccar Client) device a new token (shown once)",
    )
    p.add_argument("device_id")
    p.add_argument("--quiet", action="store_true", help="print only the token")
    p = command(
        "owntracks-config",
        _owntracks_config,
        "issue a new MQTT password for an OwnTracks phone and print its .otrc configuration (import it in the app)",
    )
    p.add_argument("device_id", help="<user>.<device>, as registered")
    p.add_argument("--host", required=True, help="the broker's address as the phone sees it")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sync", action="store_true", help="also apply the broker accounts (as broker-auth)")
    _add_management_options(p)
    p = command(
        "create-user",
        _create_user,
        "create a person's account (e.g. the first admin); the password is asked for, or read from stdin",
    )
    p.add_argument("username", help="3 to 64 letters, digits, or . _ @ - (unique whatever the case)")
    p.add_argument("--role", required=True, choices=access.ROLES)
    p.add_argument("--hospital-id", type=int, help="the hospital of a hospital account")
    p.add_argument("--hospital-name", help="or that hospital by its Vietnamese name")
    p.add_argument("--vehicle", help="the vehicle (call sign or plate) of a crew account")
    p.add_argument("--display-name", help="default: the username")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (10+ characters) from stdin's first line",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="if the user exists: set its password, role, hospital and name, enable it and end its sessions",
    )
    p = command(
        "backfill-demo",
        _backfill_demo,
        "back-fill past journeys marked as demo data (replacing earlier demo journeys; real ones are"
        " kept) so the analytics page is full on a fresh install",
    )
    p.add_argument("--days", type=_positive_days, default=30.0, help="how many days back from 2 hours ago")
    p.add_argument(
        "--per-day", type=_positive_days, default=60.0, help="calls a day on average (Da Nang's pilot: ~60)"
    )
    p.add_argument(
        "--seed", type=int, default=115, help="random seed (the same seed gives the same journeys)"
    )
    p = command("create-api-key", _create_api_key, "issue an API key for a role")
    p.add_argument("name", help="who or what the key is for")
    p.add_argument("--role", required=True, choices=access.KEY_ROLES)
    p.add_argument("--hospital-id", type=int)
    p.add_argument("--replace", action="store_true", help="revoke earlier keys with the same name")
    p.add_argument("--quiet", action="store_true", help="print only the key")
    _add_quarantine_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = args.database_url = args.database_url or DatabaseSettings().database_url
    try:
        apply_schema(url)
        with psycopg.connect(url, autocommit=True) as conn:
            print(args.handler(conn, args))
    except (
        fleet.FleetError,
        access.AccessError,
        broker_auth.BrokerAuthError,
        roads_import.RoadImportError,
        backfill.BackfillError,
    ) as exc:
        print(f"amb-admin: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"amb-admin: database error: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"amb-admin: broker management API: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
