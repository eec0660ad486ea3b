"""Browser sign-in: login (a session cookie and its CSRF token), logout, and who am I.

Failed logins are throttled per (username, client address) and per client address, and a username
under attack from many addresses is slowed down, never locked (accounts.users.LoginLimits; in
PostgreSQL, shared by every API process, checked and counted atomically); an unknown username and
a wrong password get the same answer, in the same time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from accounts import sessions
from accounts import users as accounts
from accounts.access import Principal
from api import metrics
from api.account_schemas import LoginRequest
from api.deps import SESSION_COOKIE, Caller, Conn, CurrentSession, client_ip, same_origin, session_policy
from api.openapi import error, ok

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
log = logging.getLogger(__name__)

BAD_CREDENTIALS = "wrong username or password"
USER_EXAMPLE = {
    "id": 2,
    "username": "lan.dispatch",
    "display_name": "Nguyễn Thị Lan",
    "role": "dispatcher",
    "hospital_id": None,
}
SESSION_EXAMPLE = {"user": USER_EXAMPLE, "csrf_token": "Jx3f0mQ2...", "principal": {"role": "dispatcher"}}


def _login_limits(request: Request) -> accounts.LoginLimits:
    limits: accounts.LoginLimits = request.app.state.login_limits
    return limits


def _principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role,
        "hospital_id": principal.hospital_id,
        "via": principal.via,
    }


def set_session_cookie(request: Request, response: Response, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies,
    )


@router.post(
    "/login",
    summary="Sign in: sets the session cookie and returns the CSRF token",
    description="Sets `amb_session` (HttpOnly, SameSite=Strict, Path=/, Secure outside development). "
    "Send `X-CSRF-Token: <csrf_token>` with every POST, PUT, PATCH and DELETE made with the cookie. "
    "After too many failures (per username from one address, per address) the answer is 429 with "
    "Retry-After; a username failing from many addresses is slowed down for addresses it has no "
    "session from, never locked.",
    responses=ok(
        SESSION_EXAMPLE,
        {401: error("Unknown user, wrong password or disabled account", BAD_CREDENTIALS)},
        {429: error("Too many failed logins; see Retry-After", "too many failed logins; try again in 840 s")},
        {403: error("A cross-site login attempt", "cross-site request refused")},
    ),
)
async def login(body: LoginRequest, request: Request, response: Response, conn: Conn) -> dict[str, Any]:
    if "origin" in request.headers and not same_origin(
        request.headers, request.app.state.settings.allowed_origins
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")
    ip = client_ip(request)
    old_cookie = request.cookies.get(SESSION_COOKIE)
    attempt = await accounts.begin_login_attempt(conn, body.username, ip, old_cookie, _login_limits(request))
    if attempt.retry_after is not None:
        wait = math.ceil(attempt.retry_after)
        metrics.LOGINS_THROTTLED.labels(attempt.limit or "pair").inc()
        log.warning("login refused (%s limit) for %r from %s", attempt.limit, body.username[:64], ip)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {wait} s",
            {"Retry-After": str(wait)},
        )
    account = await accounts.account_for_login(conn, body.username)
    if account is None:
        await asyncio.to_thread(accounts.burn_verification_time, body.password)
        verified = False
    else:
        verified = await asyncio.to_thread(accounts.verify_password, account["password_hash"], body.password)
    if account is None or not verified:
        log.info("failed login for %r from %s", body.username[:64], ip)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)
    if accounts.needs_rehash(account["password_hash"]):
        new_hash = await asyncio.to_thread(accounts.hash_password, body.password)
        await accounts.set_password(conn, account["id"], new_hash)
    # A new session every time (never reuse one a cookie already names: no session fixation).
    if old_cookie:
        await sessions.close_session(conn, sessions.session_id(old_cookie))
    secret, csrf = await sessions.open_session(
        conn, account["id"], session_policy(request), ip, request.headers.get("user-agent")
    )
    await accounts.stamp_login(conn, account["id"])
    await accounts.login_succeeded(conn, attempt, body.username, ip)
    set_session_cookie(request, response, secret)
    user = await accounts.get_user(conn, account["id"])
    principal = {"name": user["username"], "role": user["role"], "hospital_id": user["hospital_id"]}
    return {"user": _user(user), "csrf_token": csrf, "principal": {**principal, "via": "session"}}


def _user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "username", "display_name", "role", "hospital_id", "vehicle_id")}


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: ends the session and clears its cookie (needs X-CSRF-Token)",
    responses={
        204: {"description": "Signed out"},
        401: error("No session", "no session: sign in first"),
        403: error("Missing or wrong X-CSRF-Token", "missing or wrong X-CSRF-Token"),
    },
)
async def logout(session: CurrentSession, request: Request, conn: Conn) -> Response:
    assert session.principal.session_id is not None
    await sessions.close_session(conn, session.principal.session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    set_session_cookie(request, response, "", max_age=0)
    return response


@router.get(
    "/me",
    summary="Who is calling: the signed-in user and the session's CSRF token",
    description="With a session: `user` and `csrf_token`. With an API key: `user` and `csrf_token` "
    "are null and `principal` describes the key.",
    responses=ok(SESSION_EXAMPLE, {401: error("No valid API key or session", "sign in first")}),
)
async def me(request: Request, principal: Caller) -> dict[str, Any]:
    session: sessions.Session | None = getattr(request.state, "session", None)
    if session is None:
        return {"user": None, "csrf_token": None, "principal": _principal_json(principal)}
    return {"user": session.user, "csrf_token": session.csrf_token, "principal": _principal_json(principal)}
