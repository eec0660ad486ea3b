"""`amb-admin`: schema, data imports, fleet registration, accounts and API keys from the command line
(the parser and its entry point; the commands are admin/commands.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from accounts import access
from admin import broker_auth, commands
from analytics import backfill
from roads import importer as roads_import
from roads.settings import RoutingSettings
from runtime.config import DEFAULT_DATA_DIR, DatabaseSettings
from runtime.db import apply_schema
from tracking import fleet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amb-admin", description=__doc__)
    parser.add_argument("--database-url", help="defaults to AMB_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[..., str], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    command("migrate", commands.migrate, "apply db/schema.sql (idempotent)")
    p = command("load-danang", commands.load_danang, "load hospitals, sample stations and road lines")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p = command(
        "import-roads",
        commands.import_roads,
        "load OSM (.osm, .osm.pbf) and GeoJSON road files into the routable network, in one transaction",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="merged; the first wins a duplicate")
    p.add_argument("--bbox", metavar="SOUTH,WEST,NORTH,EAST", help="keep only edges intersecting this box")
    p.add_argument("--replace", action="store_true", help="replace the network instead of adding to it")
    p = command(
        "learn-speeds",
        commands.learn_speeds,
        "learn road speeds per edge, direction and hour of day from the stored fixes (amb-tracker"
        " does it every AMB_ROUTING_LEARN_INTERVAL_S)",
    )
    p.add_argument(
        "--days",
        type=commands.positive_days,
        default=RoutingSettings().learn_days,
        help="learn from the fixes of this many days back (default AMB_ROUTING_LEARN_DAYS)",
    )
    p = command(
        "eta-accuracy",
        commands.eta_accuracy,
        "how the ETAs shown did against the arrivals (median, p90, bias, window), the first of each"
        " journey leg apart",
    )
    p.add_argument("--days", type=commands.positive_days, default=1.0, help="arrivals of this many days back")
    p = command("seed-fleet", commands.seed_fleet, "register N demo ambulances and their emulated trackers")
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
    p = command("add-vehicle", commands.add_vehicle, "register a vehicle (or update the one with that plate)")
    p.add_argument("plate", help="e.g. 43A-123.45 (stored as 43A12345)")
    p.add_argument("call_sign", help="e.g. 115-07")
    p.add_argument("--kind", default="ambulance", choices=fleet.VEHICLE_KINDS)
    p = command("add-device", commands.add_device, "register a tracker, optionally assigned to a vehicle")
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
        commands.apply_broker_auth,
        "apply the registry's broker users and permissions (devices, services) to the broker",
    )
    commands.add_management_options(p)
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
        "issue-mqtt-password", commands.issue_mqtt_password, "give an MQTT device a new password (shown once)"
    )
    p.add_argument("device_id")
    p.add_argument("--sync", action="store_true", help="also apply the broker accounts (as broker-auth)")
    commands.add_management_options(p)
    p.add_argument("--quiet", action="store_true", help="print only the password")
    p = command(
        "issue-device-token",
        commands.issue_device_token,
        "give an HTTP (OsmAnd / Traccar Client) device a new token (shown once)",
    )
    p.add_argument("device_id")
    p.add_argument("--quiet", action="store_true", help="print only the token")
    p = command(
        "owntracks-config",
        commands.owntracks_config,
        "issue a new MQTT password for an OwnTracks phone and print its .otrc configuration (import it in the app)",
    )
    p.add_argument("device_id", help="<user>.<device>, as registered")
    p.add_argument("--host", required=True, help="the broker's address as the phone sees it")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sync", action="store_true", help="also apply the broker accounts (as broker-auth)")
    commands.add_management_options(p)
    p = command(
        "create-user",
        commands.create_user,
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
        commands.backfill_demo,
        "back-fill past journeys marked as demo data (replacing earlier demo journeys; real ones are"
        " kept) so the analytics page is full on a fresh install",
    )
    p.add_argument(
        "--days", type=commands.positive_days, default=30.0, help="how many days back from 2 hours ago"
    )
    p.add_argument(
        "--per-day",
        type=commands.positive_days,
        default=60.0,
        help="calls a day on average (Da Nang's pilot: ~60)",
    )
    p.add_argument(
        "--seed", type=int, default=115, help="random seed (the same seed gives the same journeys)"
    )
    p = command("create-api-key", commands.create_api_key, "issue an API key for a role")
    p.add_argument("name", help="who or what the key is for")
    p.add_argument("--role", required=True, choices=access.KEY_ROLES)
    p.add_argument("--hospital-id", type=int)
    p.add_argument("--replace", action="store_true", help="revoke earlier keys with the same name")
    p.add_argument("--quiet", action="store_true", help="print only the key")
    commands.add_quarantine_commands(sub)
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
