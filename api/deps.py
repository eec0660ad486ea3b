"""Request dependencies: the database connection and the authenticated, role-checked caller.

A caller is an API key (`Authorization: Bearer amb_...`) or a browser session (the `amb_session`
cookie). With the cookie, unsafe methods also need the session's CSRF token in `X-CSRF-Token`,
and an `Origin`, when the browser sends one, of this site.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from accounts.access import Principal, resolve_api_key
from accounts.sessions import Session, SessionPolicy, resolve_session

# Who may read the live fleet. Hospital accounts see only ambulances inbound to them (journeys).
FLEET_READERS = ("admin", "dispatcher", "viewer")
ANY_ROLE = ("admin", "dispatcher", "hospital", "viewer")
EDITORS = ("admin", "dispatcher")
ADMINS = ("admin",)
# Who may read the response-time analytics (managers of the 115 centre and the health department).
ANALYSTS = ("admin", "viewer")
# The map's base layers (configuration, roads, hospitals): every role, a vehicle's crew too.
MAP_READERS = (*ANY_ROLE, "crew")

SESSION_COOKIE = "amb_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer amb_...`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The browser session set by `POST /api/v1/auth/login`; unsafe methods also need "
    "`X-CSRF-Token`.",
)


def pool_of(request: Request | WebSocket) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with pool_of(request).connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


def session_policy(request: Request | WebSocket) -> SessionPolicy:
    policy: SessionPolicy = request.app.state.session_policy
    return policy


async def authenticate(pool: AsyncConnectionPool, secret: str | None) -> Principal | None:
    """The principal of an API key, or None."""
    if not secret:
        return None
    async with pool.connection() as conn:
        return await resolve_api_key(conn, secret)


async def session_of(request: Request | WebSocket, secret: str | None) -> Session | None:
    """The live session of a cookie secret (its expiry slid forward), or None."""
    if not secret:
        return None
    async with pool_of(request).connection() as conn:
        return await resolve_session(conn, secret, session_policy(request))


def same_origin(headers: Mapping[str, str], allowed: list[str]) -> bool:
    """Whether the `Origin` header names this site (its Host) or an allowed origin."""
    origin = headers.get("origin")
    if not origin:
        return False
    return origin.rstrip("/") in allowed or urlsplit(origin).netloc == headers.get("host")


def _unauthenticated() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "sign in, or send a valid API key (Authorization: Bearer ...)",
        {"WWW-Authenticate": "Bearer"},
    )


def check_csrf(request: Request, session: Session) -> None:
    """Unsafe methods with a session cookie need the session's CSRF token, and an Origin (when the
    browser sends one) of this site: a cross-site page can make the browser send the cookie, but
    can read neither the token nor forge the Origin."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER}")
    if "origin" in request.headers and not same_origin(
        request.headers, request.app.state.settings.allowed_origins
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The authenticated caller (401 otherwise): the API key when one is sent, else the session."""
    if credentials is not None:
        principal = await authenticate(pool_of(request), credentials.credentials)
        if principal is None:
            raise _unauthenticated()
        return principal
    session = await session_of(request, cookie)
    if session is None:
        raise _unauthenticated()
    check_csrf(request, session)
    request.state.session = session
    return session.principal


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only callers (key or session) with one of `roles`: 401 without valid
    credentials, 403 for another role or a session request without its CSRF token."""

    async def dependency(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    return dependency


async def current_session(request: Request, cookie: Annotated[str | None, Depends(_cookie)]) -> Session:
    """The browser session (401 without one, whatever API key is sent), CSRF-checked."""
    session = await session_of(request, cookie)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no session: sign in first")
    check_csrf(request, session)
    return session


Caller = Annotated[Principal, Depends(caller)]
FleetReader = Annotated[Principal, Depends(require_role(*FLEET_READERS))]
AnyUser = Annotated[Principal, Depends(require_role(*ANY_ROLE))]
Editor = Annotated[Principal, Depends(require_role(*EDITORS))]
Admin = Annotated[Principal, Depends(require_role(*ADMINS))]
Analyst = Annotated[Principal, Depends(require_role(*ANALYSTS))]
MapReader = Annotated[Principal, Depends(require_role(*MAP_READERS))]
Crew = Annotated[Principal, Depends(require_role("crew"))]
CurrentSession = Annotated[Session, Depends(current_session)]


def hospital_scope(principal: Principal) -> int | None:
    """The hospital a caller is confined to (hospital accounts), or None for fleet-wide roles."""
    return principal.hospital_id if principal.role == "hospital" else None


def client_ip(request: Request | WebSocket) -> str:
    """The client's address (uvicorn's proxy_headers applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"
