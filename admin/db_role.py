"""The services' own PostgreSQL role (deployment): DML only, never the schema's owner.

The schema is applied by its owner (`amb-admin migrate`, in compose the `init` container). The
gateway, tracker and API connect as `amb_app`: they read and write rows, and nothing else; they
cannot create, alter, drop or truncate a table, nor create roles. The two things a running
gateway needs beyond rows are given narrowly:

- a new day's partition of `positions`: `amb_ensure_position_partition(date)` runs as its owner
  (SECURITY DEFINER, with a fixed search_path), executable by the application role only;
- temporary staging tables (COPY): the database's default TEMP privilege.

Dropping expired partitions (DETACH needs the owner) is the owner's job: `python -m admin.db_role
maintain` runs the stall-free maintenance every hour (the compose `partitions` service).

    python -m admin.db_role grant      # AMB_DATABASE_URL: the owner's; AMB_APP_DB_USER (amb_app),
                                         # AMB_APP_DB_PASSWORD or AMB_APP_DB_PASSWORD_FILE
    python -m admin.db_role maintain   # as the owner, until stopped

Run `grant` after every `amb-admin migrate`: re-creating the function resets it to SECURITY INVOKER.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from fixes.positions import maintain_partitions_periodically
from runtime.config import DatabaseSettings

DEFAULT_ROLE = "amb_app"
ENSURE_PARTITION = "amb_ensure_position_partition(date)"


def grant_app_role(conn: psycopg.Connection, role: str, password: str) -> None:
    """Create or update `role` with DML rights only on this database (run as the schema's owner)."""
    if len(password) < 16:
        raise ValueError("the application role's password must be at least 16 characters")
    ident = sql.Identifier(role)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {}").format(ident))
    conn.execute(
        sql.SQL(
            "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            " NOINHERIT PASSWORD {}"
        ).format(ident, sql.Literal(password))
    )
    database = conn.execute("SELECT current_database()").fetchone()
    assert database is not None
    statements = [
        "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables the owner creates later (new partitions, a future migration) get the same rights.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        f"ALTER FUNCTION {ENSURE_PARTITION} SECURITY DEFINER SET search_path = public, pg_temp",
        f"REVOKE EXECUTE ON FUNCTION {ENSURE_PARTITION} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {ENSURE_PARTITION} TO {{role}}",
    ]
    for statement in statements:
        conn.execute(sql.SQL(statement).format(db=sql.Identifier(database[0]), role=ident))


def _password() -> str:
    path = os.environ.get("AMB_APP_DB_PASSWORD_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    password = os.environ.get("AMB_APP_DB_PASSWORD", "")
    if not password:
        raise SystemExit("db_role: set AMB_APP_DB_PASSWORD or AMB_APP_DB_PASSWORD_FILE")
    return password


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = DatabaseSettings().database_url
    if args == ["grant"]:
        role = os.environ.get("AMB_APP_DB_USER", DEFAULT_ROLE)
        with psycopg.connect(url, autocommit=True) as conn:
            grant_app_role(conn, role, _password())
        print(f"database role {role}: rows only (DML), partitions through {ENSURE_PARTITION}")
        return 0
    if args == ["maintain"]:
        asyncio.run(maintain_partitions_periodically(url))
        return 0
    print("usage: python -m admin.db_role grant|maintain", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
