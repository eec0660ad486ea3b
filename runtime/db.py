"""PostgreSQL access: named SQL files, schema application and connection pools."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from runtime.config import REPO_ROOT, DatabaseSettings

SCHEMA_PATH = REPO_ROOT / "db" / "schema.sql"


@cache
def query(name: str) -> str:
    """The text of a named SQL file: `query("roads/route_path")` reads `roads/sql/route_path.sql`."""
    package, _, stem = name.partition("/")
    if not stem or not package.isidentifier() or not stem.replace("_", "a").isalnum():
        raise ValueError(f"SQL names are 'package/file', not {name!r}")
    return (REPO_ROOT / package / "sql" / f"{stem}.sql").read_text(encoding="utf-8")


def apply_schema(conninfo: str, schema_path: Path = SCHEMA_PATH) -> None:
    """Apply db/schema.sql (idempotent) in one transaction, serialised across concurrent callers."""
    ddl = schema_path.read_text(encoding="utf-8")
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('amb_schema'))")
        conn.execute(ddl)  # a trusted file of our own, not user input


def open_pool(settings: DatabaseSettings, name: str) -> AsyncConnectionPool:
    """An async pool (not yet opened) whose connections name themselves in pg_stat_activity."""
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        kwargs={"application_name": name, "autocommit": True},
        open=False,
    )
