"""Request dependencies: the database connection and the authenticated, role-checked caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from tracking.access import Principal, resolve_api_key

# Who may read the live fleet. Hospital accounts see only ambulances inbound to them (journeys).
FLEET_READERS = ("admin", "dispatcher", "viewer")
ANY_ROLE = ("admin", "dispatcher", "hospital", "viewer")
EDITORS = ("admin", "dispatcher")

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer amb_...`")


def pool_of(request: Request | WebSocket) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with pool_of(request).connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


async def authenticate(pool: AsyncConnectionPool, secret: str | None) -> Principal | None:
    if not secret:
        return None
    async with pool.connection() as conn:
        return await resolve_api_key(conn, secret)


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only callers whose key has one of `roles` (401 without a valid key)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await authenticate(pool_of(request), credentials.credentials if credentials else None)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid API key is required", {"WWW-Authenticate": "Bearer"}
            )
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    return dependency


FleetReader = Annotated[Principal, Depends(require_role(*FLEET_READERS))]
AnyUser = Annotated[Principal, Depends(require_role(*ANY_ROLE))]
Editor = Annotated[Principal, Depends(require_role(*EDITORS))]


def hospital_scope(principal: Principal) -> int | None:
    """The hospital a caller is confined to (hospital accounts), or None for fleet-wide roles."""
    return principal.hospital_id if principal.role == "hospital" else None
