"""The first thing every HTTP request meets: anonymous callers and oversized bodies are refused
before a byte of the body is read.

- A route that needs a caller (everything under `/api/v1/` but sign-in and the caller's public
  link, and `/metrics`) answers 401 at once when the request carries no credentials at all (no
  `Authorization` header, no session cookie): the body is never read. Whether credentials that
  are present are valid is the routes' business (the body is then bounded, below).
- Each route has a body limit (`AMB_API_MAX_BODY_BYTES`, a few KB; geofences
  `AMB_API_MAX_GEOFENCE_BYTES`). A `Content-Length` above it answers 413 at once; a streamed
  (chunked) body is counted as it arrives and refused with 413 as soon as it passes the limit, so
  no request costs more memory than its route's limit.

Refusals close the connection (the rest of the body is never read) and are counted in
`amb_api_requests_refused_total`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.deps import SESSION_COOKIE

PUBLIC_API = ("/api/v1/auth/login", "/api/v1/auth/crew-code", "/api/v1/public/")
AUTHENTICATED_PREFIXES = ("/api/v1/", "/metrics")
UNAUTHENTICATED_DETAIL = "sign in, or send a valid API key (Authorization: Bearer ...)"


@dataclass(frozen=True, slots=True)
class BodyLimit:
    methods: frozenset[str]
    path: re.Pattern[str]
    max_bytes: int


def needs_caller(path: str) -> bool:
    """Whether the route at `path` admits only authenticated callers."""
    if path.startswith(PUBLIC_API) or path in PUBLIC_API:
        return False
    return path.startswith(AUTHENTICATED_PREFIXES)


def has_credentials(headers: Headers) -> bool:
    """Whether the request carries an API key or a session cookie (valid or not)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return True
    for raw in headers.getlist("cookie"):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # noqa: S112 - a malformed cookie header is no credential
            continue
        if SESSION_COOKIE in cookie and cookie[SESSION_COOKIE].value:
            return True
    return False


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes", {"Connection": "close"})


class RequestGuard:
    """ASGI middleware: 401 for anonymous callers of authenticated routes, 413 past a route's body
    limit (declared or streamed), both before the application reads the body."""

    def __init__(self, app: ASGIApp, default_max_bytes: int, limits: list[BodyLimit]) -> None:
        self.app = app
        self.default_max_bytes = default_max_bytes
        self.limits = limits

    def max_bytes(self, method: str, path: str) -> int:
        for limit in self.limits:
            if method in limit.methods and limit.path.fullmatch(path):
                return limit.max_bytes
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if needs_caller(path) and not has_credentials(headers):
            metrics.REQUESTS_REFUSED.labels("anonymous").inc()
            await _refuse(send, 401, UNAUTHENTICATED_DETAIL, {"WWW-Authenticate": "Bearer"})
            return
        limit = self.max_bytes(scope["method"], path)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                metrics.REQUESTS_REFUSED.labels("bad_length").inc()
                await _refuse(send, 400, "invalid Content-Length")
                return
            if int(declared) > limit:
                metrics.REQUESTS_REFUSED.labels("too_large").inc()
                await _refuse(send, 413, f"request body over {limit} bytes")
                return
        received = 0
        response_started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    metrics.REQUESTS_REFUSED.labels("too_large").inc()
                    raise BodyTooLargeError(limit)  # the routes answer it with 413
            return message

        async def watched_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLargeError as exc:  # read outside a route (no handler answered it)
            if response_started:
                raise
            await _refuse(send, 413, exc.detail)


async def _refuse(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
