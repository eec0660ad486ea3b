"""The authorisation matrix: every route of the app by every kind of caller — anonymous, an API key
of each role, a signed-in user of each role — plus the websocket. The routes come from the app
itself: a new endpoint without a rule here fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from tests.api.conftest import ROLES, Browser
from tests.api.test_stream import ws_url

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
    iter_route_contexts = None  # type: ignore[assignment]

PUBLIC = frozenset({"anonymous", *ROLES, "crew"})
ANY = frozenset(ROLES)  # every role but crew (a crew sees only its own vehicle and journey)
MAP = frozenset({*ROLES, "crew"})  # the map's base layers
CREW = frozenset({"crew"})
FLEET = frozenset({"admin", "dispatcher", "viewer"})
EDITORS = frozenset({"admin", "dispatcher"})
ADMIN = frozenset({"admin"})
ANALYSTS = frozenset({"admin", "viewer"})
MISSING = 999_999  # ids that exist nowhere: an admitted caller gets 404 or 422, never 401/403


@dataclass(frozen=True)
class Rule:
    allow: frozenset[str]  # roles admitted ("anonymous" too for a public route)
    path: str = ""  # the concrete path to call (default: the route's own)
    sessions_only: bool = False  # API keys are refused (the route is about the browser session)


RULES: dict[tuple[str, str], Rule] = {
    # Public: pages, health, documentation, sign-in, the caller's link.
    ("GET", "/"): Rule(PUBLIC),
    ("GET", "/login"): Rule(PUBLIC),
    ("GET", "/board"): Rule(PUBLIC),
    ("GET", "/analytics"): Rule(PUBLIC),
    ("GET", "/track/{token}"): Rule(PUBLIC, "/track/not-a-token"),
    ("MOUNT", "/static"): Rule(PUBLIC, "/static/app.css"),
    ("MOUNT", "/docs-assets"): Rule(PUBLIC, "/docs-assets/swagger-ui.css"),
    ("GET", "/docs"): Rule(PUBLIC),
    ("GET", "/openapi.json"): Rule(PUBLIC),
    ("GET", "/healthz"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/login"): Rule(PUBLIC),
    ("GET", "/api/v1/public/track/{token}"): Rule(PUBLIC, "/api/v1/public/track/not-a-token"),
    ("GET", "/crew"): Rule(PUBLIC),
    ("GET", "/locate/{token}"): Rule(PUBLIC, "/locate/not-a-token"),
    ("GET", "/api/v1/public/locate/{token}"): Rule(PUBLIC, "/api/v1/public/locate/not-a-token"),
    ("POST", "/api/v1/public/locate/{token}"): Rule(PUBLIC, "/api/v1/public/locate/not-a-token"),
    ("POST", "/api/v1/public/locate/{token}/refuse"): Rule(
        PUBLIC, "/api/v1/public/locate/not-a-token/refuse"
    ),
    ("POST", "/api/v1/journeys/{journey_id}/location-request"): Rule(EDITORS),
    ("POST", "/api/v1/location-requests"): Rule(EDITORS),
    ("GET", "/api/v1/location-requests/{request_id}"): Rule(FLEET),
    ("POST", "/api/v1/location-requests/{request_id}/accept"): Rule(EDITORS),
    ("POST", "/api/v1/crew/tracker"): Rule(CREW),
    ("GET", "/crew/sw.js"): Rule(PUBLIC),
    ("GET", "/crew/manifest.webmanifest"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/crew-code"): Rule(PUBLIC),
    # Session.
    ("GET", "/api/v1/auth/me"): Rule(MAP),
    ("POST", "/api/v1/auth/logout"): Rule(MAP, sessions_only=True),
    # The crew's tablet: its own vehicle and journey only; sign-in codes issued by dispatchers.
    ("GET", "/api/v1/crew/journey"): Rule(CREW),
    ("POST", "/api/v1/crew/status"): Rule(CREW),
    ("POST", "/api/v1/crew/destination"): Rule(CREW),
    ("POST", "/api/v1/vehicles/{vehicle_id}/crew-code"): Rule(EDITORS),
    # Accounts and keys: admins only.
    ("GET", "/api/v1/users"): Rule(ADMIN),
    ("POST", "/api/v1/users"): Rule(ADMIN),
    ("PATCH", "/api/v1/users/{user_id}"): Rule(ADMIN),
    ("GET", "/api/v1/api-keys"): Rule(ADMIN),
    ("POST", "/api/v1/api-keys"): Rule(ADMIN),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Rule(ADMIN),
    # The fleet.
    ("GET", "/api/v1/vehicles"): Rule(FLEET),
    ("GET", "/api/v1/vehicles/{vehicle_id}/track"): Rule(FLEET),
    ("PUT", "/api/v1/vehicles/{vehicle_id}/status"): Rule(EDITORS),
    ("GET", "/api/v1/units/fastest"): Rule(FLEET),
    ("GET", "/api/v1/eta"): Rule(FLEET),
    # Journeys (a hospital sees those inbound to it: 404 for others, never 403).
    ("GET", "/api/v1/journeys"): Rule(ANY),
    ("POST", "/api/v1/journeys"): Rule(EDITORS),
    ("GET", "/api/v1/journeys/{journey_id}"): Rule(ANY),
    ("PATCH", "/api/v1/journeys/{journey_id}"): Rule(EDITORS),
    ("POST", "/api/v1/journeys/{journey_id}/status"): Rule(EDITORS),
    ("GET", "/api/v1/journeys/{journey_id}/report"): Rule(ANY),
    ("GET", "/api/v1/journeys/{journey_id}/geojson"): Rule(ANY),
    ("GET", "/api/v1/journeys/{journey_id}/replay"): Rule(ANY),
    ("POST", "/api/v1/journeys/{journey_id}/caller-link"): Rule(EDITORS),
    ("POST", "/api/v1/journeys/{journey_id}/reassign"): Rule(EDITORS),
    ("POST", "/api/v1/journeys/{journey_id}/units"): Rule(EDITORS),
    # Hospitals, map, geofences, events.
    ("GET", "/api/v1/hospitals"): Rule(MAP),
    ("GET", "/api/v1/hospitals/{hospital_id}/inbound"): Rule(ANY),  # own hospital: see conftest
    ("GET", "/api/v1/config"): Rule(MAP),
    ("GET", "/api/v1/roads"): Rule(MAP),
    ("GET", "/api/v1/geofences"): Rule(ANY),
    ("POST", "/api/v1/geofences"): Rule(EDITORS),
    ("GET", "/api/v1/geofences/{geofence_id}"): Rule(ANY),
    ("PATCH", "/api/v1/geofences/{geofence_id}"): Rule(EDITORS),
    ("DELETE", "/api/v1/geofences/{geofence_id}"): Rule(EDITORS),
    ("GET", "/api/v1/events"): Rule(ANY),
    # The live stream: every role (a hospital sees its own inbound ambulances).
    ("WS", "/api/v1/stream"): Rule(ANY),
    ("POST", "/api/v1/stream/ticket"): Rule(ANY),
    # Response-time analytics: managers (admins) and viewers (the health department), not the desk.
    ("GET", "/api/v1/analytics/summary"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/definitions"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/incidents"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/reach"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/units"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/journeys.csv"): Rule(ANALYSTS),
    ("GET", "/api/v1/analytics/report.pdf"): Rule(ANALYSTS, "/api/v1/analytics/report.pdf?month=2026-11"),
    # Prometheus metrics of the process.
    ("GET", "/metrics"): Rule(ANY),
}


def served_routes() -> Iterator[tuple[BaseRoute, str, set[str]]]:
    """(route, full path, methods) of every route of the app, included routers flattened."""
    routes = create_app().routes
    if iter_route_contexts is None:
        for route in routes:
            yield route, getattr(route, "path", ""), set(getattr(route, "methods", None) or ())
        return
    for context in iter_route_contexts(routes):
        yield context.original_route, context.path or "", set(context.methods or ())


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of everything the app serves; MOUNT for static trees, WS for websockets."""
    found = set()
    for route, path, methods in served_routes():
        if isinstance(route, APIRoute | Route):
            found |= {(m, path) for m in methods if m != "HEAD"}
        elif isinstance(route, APIWebSocketRoute):
            found.add(("WS", path))
        elif isinstance(route, Mount):
            found.add(("MOUNT", path))
        else:
            found.add(("?", repr(route)))
    return found


def test_every_route_has_a_rule() -> None:
    served = app_routes()
    assert sorted(served - RULES.keys()) == [], "routes without an authorisation rule: add them to RULES"
    assert sorted(RULES.keys() - served) == [], "rules for routes that no longer exist"


@dataclass
class Caller:
    """One column of the matrix: how it authenticates, and its role."""

    kind: str  # anonymous, key or session
    role: str | None
    key: str | None = None
    browser: Browser | None = None
    base: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: object | None) -> httpx.Response:
        if self.browser is not None:
            return self.browser.call(method, path, body)
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return httpx.request(method, self.base + path, headers=headers, json=body, timeout=15)


CALLERS = ["anonymous"] + [f"key:{r}" for r in ROLES] + [f"session:{r}" for r in (*ROLES, "crew")]


@pytest.fixture
def caller(request: pytest.FixtureRequest, api_server: str, keys: dict[str, str]) -> Caller:
    kind, _, role = str(request.param).partition(":")
    if kind == "anonymous":
        return Caller("anonymous", None, base=api_server)
    if kind == "key":
        return Caller("key", role, key=keys[role], base=api_server)
    if role == "crew":
        return Caller("session", role, browser=request.getfixturevalue("crew_browser"), base=api_server)
    browsers: dict[str, Browser] = request.getfixturevalue("browsers")  # signing in costs argon2 time
    return Caller("session", role, browser=browsers[role], base=api_server)


def expected(rule: Rule, caller: Caller) -> str:
    """'ok' (admitted: anything but 401/403), 401 or 403."""
    if "anonymous" in rule.allow:
        return "ok"
    if caller.kind == "anonymous" or (rule.sessions_only and caller.kind != "session"):
        return "401"
    return "ok" if caller.role in rule.allow else "403"


def concrete(method: str, path: str, rule: Rule, own_hospital: int) -> str:
    if rule.path:
        return rule.path
    return (
        path.replace("{hospital_id}", str(own_hospital))
        .replace("{vehicle_id}", str(MISSING))
        .replace("{journey_id}", str(MISSING))
        .replace("{geofence_id}", str(MISSING))
        .replace("{user_id}", str(MISSING))
        .replace("{key_id}", str(MISSING))
        .replace("{request_id}", str(MISSING))
    )


@pytest.mark.parametrize("caller", CALLERS, indirect=True)
async def test_matrix(caller: Caller, own_hospital: int, api_server: str) -> None:
    wrong = []
    # Signing out ends the session the other calls use: last.
    order = sorted(RULES, key=lambda mp: mp == ("POST", "/api/v1/auth/logout"))
    for method, path in order:
        rule = RULES[(method, path)]
        want = expected(rule, caller)
        if method == "WS":
            got = await stream_outcome(caller, api_server)
        else:
            # An empty body: an admitted caller gets 422 and nothing changes.
            body = {} if method in ("POST", "PUT", "PATCH") else None
            resp = caller.request(
                "GET" if method == "MOUNT" else method, concrete(method, path, rule, own_hospital), body
            )
            if resp.status_code >= 500:
                wrong.append(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
                continue
            got = str(resp.status_code) if resp.status_code in (401, 403) else "ok"
        if got != want:
            wrong.append(f"{method} {path}: expected {want}, got {got}")
    assert wrong == []


async def stream_outcome(caller: Caller, api_server: str) -> str:
    """'ok' when the stream opens with a snapshot of the caller's scope, else the close code."""
    headers: dict[str, str] = {}
    key = caller.key
    if caller.browser is not None:
        session = caller.browser.client.cookies.get("amb_session")
        headers = {"Cookie": f"amb_session={session}"}
    async with connect(
        ws_url(api_server, key),
        additional_headers=headers,
        origin=api_server,  # type: ignore[arg-type]
    ) as ws:
        try:
            first = json.loads(await ws.recv())
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 0
            return {4401: "401", 4403: "403"}.get(code, str(code))
    assert first["type"] == "snapshot"
    assert ("inbound" in first) == (caller.role == "hospital")
    return "ok"


async def test_a_cookie_from_another_site_cannot_open_the_stream(
    api_server: str, browsers: dict[str, Browser]
) -> None:
    """Cross-site websocket hijacking: the browser would send the cookie; the Origin gives it away."""
    cookie = {"Cookie": f"amb_session={browsers['dispatcher'].client.cookies.get('amb_session')}"}
    for origin in ("http://evil.example", None):
        async with connect(
            ws_url(api_server, None),
            additional_headers=cookie,
            origin=origin,  # type: ignore[arg-type]
        ) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_hospital_callers_are_confined_to_their_hospital(
    api_server: str, keys: dict[str, str], browsers: dict[str, Browser], own_hospital: int
) -> None:
    other = own_hospital + 1
    by_key = httpx.get(
        f"{api_server}/api/v1/hospitals/{other}/inbound",
        headers={"Authorization": f"Bearer {keys['hospital']}"},
        timeout=10,
    )
    by_session = browsers["hospital"].call("GET", f"/api/v1/hospitals/{other}/inbound")
    assert by_key.status_code == by_session.status_code == 403
    mine = browsers["hospital"].call("GET", f"/api/v1/hospitals/{own_hospital}/inbound")
    assert mine.status_code == 200 and mine.json()["hospital_id"] == own_hospital
