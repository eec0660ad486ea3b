"""Issue 10, the API side, each defence written as the attack it stops: the request that used to
work is now refused (or harmless).

Most tests run against their own API process (`guarded_api`) with small caps, so the caps can be
reached in a few connections and its log read."""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.hub import StreamHub
from api.metrics import WS_OVERFLOWS
from tests.api.conftest import PASSWORD, add_user
from tests.api.test_caller_link import dispatch
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS
from tests.api.test_stream import ws_url
from tests.services import Broker, ServiceProcess, start_api

CAPS = {
    "AMB_API_STREAM_MAX_PER_PRINCIPAL": "3",
    "AMB_API_STREAM_MAX_PER_ADDRESS": "5",
    "AMB_API_STREAM_SUBSCRIBE_BURST": "2",
    "AMB_API_STREAM_SUBSCRIBE_INTERVAL_S": "60",
    "AMB_LOG_LEVEL": "INFO",
}


@dataclass
class Api:
    url: str
    process: ServiceProcess

    def log(self) -> str:
        return self.process.log()


@pytest.fixture(scope="module")
def guarded_api(broker: Broker, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An API process of its own, with small websocket caps, whose log the tests read."""
    proc, port = start_api(broker, tmp_path_factory.mktemp("guarded"), AMB_API_STREAM_REAUTH_S="60", **CAPS)
    yield Api(f"http://127.0.0.1:{port}", proc)
    proc.stop()


# 1. Bodies: anonymous callers and oversized bodies are refused before the body is read.


def stream_body(api: str, headers: dict[str, str], total: int, chunk: int = 64 * 1024) -> tuple[int, int]:
    """POST /api/v1/journeys with a chunked body of up to `total` bytes, sent slowly enough to notice
    an early answer: (the status answered, the bytes sent before the answer arrived)."""
    host, port = api.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1/journeys HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    )
    piece = f"{chunk:x}\r\n".encode() + b"[" * chunk + b"\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # the server answered and closed: stop sending
                break
            sent += chunk
        sock.settimeout(10)
        answer = sock.recv(4096).decode(errors="replace")
    match = re.match(r"HTTP/1\.1 (\d{3})", answer)
    assert match, answer
    return int(match.group(1)), sent


def test_an_anonymous_streamed_body_is_refused_before_it_is_read(api_server: str) -> None:
    # It used to be read in full (300 MB: the API's RSS went from 90 MB to 677 MB), then 422.
    status, sent = stream_body(api_server, {}, total=256 * 1024 * 1024)
    assert status == 401
    assert sent < 1024 * 1024, f"{sent} bytes went in before the answer"


def test_an_oversized_streamed_body_is_refused_as_it_passes_the_limit(
    api_server: str, keys: dict[str, str]
) -> None:
    status, sent = stream_body(
        api_server, {"Authorization": f"Bearer {keys['dispatcher']}"}, total=256 * 1024 * 1024
    )
    assert status == 413
    assert sent < 2 * 1024 * 1024, f"{sent} bytes went in before the answer"


def test_a_declared_oversized_body_is_refused_before_a_byte_is_sent(
    api_server: str, keys: dict[str, str]
) -> None:
    host, port = api_server.removeprefix("http://").split(":")
    for headers, want in (("", 401), (f"Authorization: Bearer {keys['dispatcher']}\r\n", 413)):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST /api/v1/journeys HTTP/1.1\r\nHost: {host}\r\nContent-Length: 300000000\r\n"
                f"Content-Type: application/json\r\n{headers}\r\n".encode()
            )
            assert sock.recv(4096).startswith(f"HTTP/1.1 {want}".encode())


def test_each_route_has_its_body_limit(api_server: str, keys: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {keys['dispatcher']}"}
    note = {"vehicle_id": None, "incident": {"lat": 16.06, "lon": 108.22, "address": "x" * 20_000}}
    big_journey = httpx.post(f"{api_server}/api/v1/journeys", json=note, headers=auth, timeout=10)
    assert big_journey.status_code == 413
    # A geofence may be larger (its documented maximum is 1 MiB): 40 KB of polygon is read.
    ring = [[108.2 + 0.001 * (i % 50), 16.0 + 0.001 * (i // 50)] for i in range(1500)]
    shape = {"type": "polygon", "coordinates": [[*ring, ring[0]]]}
    body = {"name": "big", "kind": "restricted_zone", "shape": shape}
    geofence = httpx.post(f"{api_server}/api/v1/geofences", json=body, headers=auth, timeout=10)
    assert geofence.status_code != 413 and geofence.status_code < 500
    huge = {**body, "shape": {"type": "polygon", "coordinates": [[*ring * 80, ring[0]]]}}
    assert (
        httpx.post(f"{api_server}/api/v1/geofences", json=huge, headers=auth, timeout=10).status_code == 413
    )


# 4. No secret in a URL or a log line.


async def test_an_api_key_in_the_stream_url_is_refused(api_server: str, keys: dict[str, str]) -> None:
    url = api_server.replace("http://", "ws://") + f"/api/v1/stream?token={keys['viewer']}"
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_stream_ticket_works_once_and_briefly(
    api_server: str, keys: dict[str, str], db: psycopg.Connection
) -> None:
    url = ws_url(api_server, keys["viewer"])
    async with connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
    for _ in range(2):  # used: refused, and an expired ticket likewise
        async with connect(url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        url = ws_url(api_server, keys["viewer"])
        db.execute("UPDATE request_counters SET window_start = window_start - interval '31 seconds'")
    # An API key in the handshake's headers (integrations) needs no ticket.
    base = api_server.replace("http://", "ws://") + "/api/v1/stream"
    async with connect(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"


async def test_no_secret_reaches_the_access_log(
    guarded_api: Api, keys: dict[str, str], users: dict[str, str], vehicle: tuple[int, str], own_hospital: int
) -> None:
    api = guarded_api.url
    secrets: dict[str, str] = {"api key": keys["dispatcher"]}
    # A signed-in browser: its cookie and CSRF token.
    login = httpx.post(
        f"{api}/api/v1/auth/login", json={"username": users["dispatcher"], "password": PASSWORD}
    )
    assert login.status_code == 200
    secrets["session cookie"] = login.cookies["amb_session"]
    secrets["csrf token"] = login.json()["csrf_token"]
    # The web app with an API key opens the stream with a ticket; an old client tries ?token=.
    url = ws_url(api, keys["dispatcher"])
    secrets["ticket"] = url.rsplit("=", 1)[1]
    async with connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
    async with connect(url.replace("ticket=", "token=") + keys["dispatcher"]) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    async with connect(
        api.replace("http://", "ws://") + "/api/v1/stream",
        additional_headers={"Cookie": f"amb_session={secrets['session cookie']}"},
        origin=api,  # type: ignore[arg-type]
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
    # The caller's link: the page and its API, and a mistyped key in a query string.
    journey = dispatch(api, keys["dispatcher"], vehicle[0], own_hospital)
    link = httpx.post(
        f"{api}/api/v1/journeys/{journey}/caller-link",
        headers={"Authorization": f"Bearer {keys['dispatcher']}"},
    ).json()
    secrets["caller token"] = link["token"]
    assert httpx.get(f"{api}/track/{link['token']}").status_code == 200
    assert httpx.get(f"{api}/api/v1/public/track/{link['token']}").status_code == 200
    httpx.get(f"{api}/api/v1/vehicles?key={keys['viewer']}&api_key={keys['admin']}")
    secrets["viewer key"], secrets["admin key"] = keys["viewer"], keys["admin"]
    time.sleep(0.5)  # the log is written by another process
    log = guarded_api.log()
    assert "GET /track/[redacted]" in log and "WebSocket /api/v1/stream?ticket=[redacted]" in log
    leaked = [name for name, secret in secrets.items() if secret in log]
    assert leaked == [], f"in the log: {leaked}"


# 5. Login lock-out as a weapon.


def login_from(api: str, address: str, username: str, password: str, **cookies: str) -> httpx.Response:
    return httpx.post(
        f"{api}/api/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},  # uvicorn trusts it from loopback, as from a proxy
        cookies=cookies,
        timeout=30,
    )


def test_an_attacker_cannot_lock_a_dispatcher_out(api_server: str, db: psycopg.Connection) -> None:
    add_user(db, "demo-dispatcher", "dispatcher")
    answers = [
        login_from(api_server, "203.0.113.66", "demo-dispatcher", f"guess {i}").status_code for i in range(50)
    ]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # the attacker is slowed to a stop
    started = time.monotonic()
    real = login_from(api_server, "198.51.100.7", "demo-dispatcher", PASSWORD)
    assert real.status_code == 200, real.text  # ... and the dispatcher signs in at once
    assert time.monotonic() - started < 3
    # The attacker's address stays blocked for that name, even with the right password.
    assert login_from(api_server, "203.0.113.66", "demo-dispatcher", PASSWORD).status_code == 429


def test_parallel_guesses_are_counted_before_they_are_checked(
    api_server: str, db: psycopg.Connection
) -> None:
    add_user(db, "demo-dispatcher", "dispatcher")
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda i: login_from(api_server, "203.0.113.9", "demo-dispatcher", f"guess {i}").status_code,
                range(20),
            )
        )
    assert answers.count(401) == 5 and answers.count(429) == 15  # never more than the limit


def test_a_name_attacked_from_many_addresses_is_slowed_not_locked(
    api_server: str, db: psycopg.Connection
) -> None:
    add_user(db, "demo-dispatcher", "dispatcher")
    # The dispatcher's usual workstation: a session from it.
    assert login_from(api_server, "198.51.100.20", "demo-dispatcher", PASSWORD).status_code == 200
    for i in range(10):  # a botnet: two guesses from each of five addresses ... ten failures
        assert login_from(api_server, f"203.0.113.{i // 2}", "demo-dispatcher", "guess").status_code == 401
    slowed = login_from(api_server, "192.0.2.50", "demo-dispatcher", PASSWORD)
    assert slowed.status_code == 429 and 1 <= int(slowed.headers["retry-after"]) <= 30
    # From the workstation the right password works at once; from anywhere, after the short wait.
    assert login_from(api_server, "198.51.100.20", "demo-dispatcher", PASSWORD).status_code == 200
    time.sleep(int(slowed.headers["retry-after"]))
    assert login_from(api_server, "192.0.2.50", "demo-dispatcher", PASSWORD).status_code == 200


# 6. Floods.


def metric(api: Api, key: str, name: str) -> float:
    text = httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def close_code(url: str, **kwargs: object) -> int | None:
    """None when the stream opens with its snapshot, else the close code."""
    async with connect(url, **kwargs) as ws:  # type: ignore[arg-type]
        try:
            json.loads(await ws.recv())
            return None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 0


async def test_websockets_are_capped_per_key_and_per_address(guarded_api: Api, keys: dict[str, str]) -> None:
    api = guarded_api
    base = api.url.replace("http://", "ws://") + "/api/v1/stream"
    before = metric(api, keys["admin"], 'amb_api_ws_refused_total{reason="principal_cap"}')
    before_address = metric(api, keys["admin"], 'amb_api_ws_refused_total{reason="address_cap"}')
    held = []
    try:
        for _ in range(3):  # the cap per key
            ws = await connect(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"})
            assert json.loads(await ws.recv())["type"] == "snapshot"
            held.append(ws)
        assert (
            await close_code(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"}) == 4429
        )
        for _ in range(2):  # another key: up to the cap per address
            ws = await connect(base, additional_headers={"Authorization": f"Bearer {keys['dispatcher']}"})
            assert json.loads(await ws.recv())["type"] == "snapshot"
            held.append(ws)
        assert await close_code(base, additional_headers={"Authorization": f"Bearer {keys['admin']}"}) == 4429
    finally:
        for ws in held:
            await ws.close()
    await asyncio.sleep(0.3)
    # Closed streams give their places back.
    assert await close_code(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"}) is None
    assert metric(api, keys["admin"], 'amb_api_ws_refused_total{reason="principal_cap"}') == before + 1
    assert metric(api, keys["admin"], 'amb_api_ws_refused_total{reason="address_cap"}') == before_address + 1


async def test_subscribe_is_rate_limited_per_connection(guarded_api: Api, keys: dict[str, str]) -> None:
    api = guarded_api
    base = api.url.replace("http://", "ws://") + "/api/v1/stream"
    before = metric(api, keys["admin"], "amb_api_ws_subscribe_refused_total")
    async with connect(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"}) as ws:
        await ws.recv()
        for n in range(3):  # each one would read a fleet snapshot from the pool
            await ws.send(json.dumps({"type": "subscribe", "id": n, "filters": {}}))
        replies = []
        async with asyncio.timeout(5):
            while len([r for r in replies if r["type"] in ("subscribed", "error")]) < 3:
                replies.append(json.loads(await ws.recv()))
    answers = [(r["type"], r.get("error")) for r in replies if r["type"] in ("subscribed", "error")]
    assert answers == [("subscribed", None), ("subscribed", None), ("error", "rate_limited")]
    assert metric(api, keys["admin"], "amb_api_ws_subscribe_refused_total") == before + 1


async def test_an_oversized_websocket_message_closes_the_stream(
    guarded_api: Api, keys: dict[str, str]
) -> None:
    base = guarded_api.url.replace("http://", "ws://") + "/api/v1/stream"
    async with connect(base, additional_headers={"Authorization": f"Bearer {keys['viewer']}"}) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 100_000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_a_client_that_falls_behind_is_counted() -> None:
    hub = StreamHub(1)
    sub = hub.subscribe("slow@test")
    before = WS_OVERFLOWS._value.get()
    hub.send(sub, "one")
    hub.send(sub, "two")  # the queue holds one: the client is marked, and counted
    assert sub.overflowed.is_set() and WS_OVERFLOWS._value.get() == before + 1


def test_metrics_need_a_caller(api_server: str, keys: dict[str, str]) -> None:
    assert httpx.get(f"{api_server}/metrics", timeout=10).status_code == 401
    scraped = httpx.get(f"{api_server}/metrics", headers={"Authorization": f"Bearer {keys['viewer']}"})
    assert scraped.status_code == 200 and "amb_api_requests_refused_total" in scraped.text


# 7. Content-Security-Policy: no inline script runs on any page.

PAGES = ("/", "/login", "/board", "/track/not-a-token", "/docs")
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def test_every_page_forbids_inline_script(api_server: str) -> None:
    for page in PAGES:
        resp = httpx.get(api_server + page, timeout=10)
        policy = resp.headers.get("content-security-policy", "")
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives.get("script-src") == "'self'", (page, policy)
        assert "frame-ancestors" in directives and directives["object-src"] == "'none'", (page, policy)
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", resp.text, re.IGNORECASE)
        assert inline == [], (page, inline)


def test_no_page_file_carries_inline_script() -> None:
    for html in STATIC.glob("*.html"):
        text = html.read_text(encoding="utf-8")
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", text, re.IGNORECASE)
        assert inline == [], (html.name, inline)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_pages_work_under_their_policy(
    api_server: str, keys: dict[str, str], users: dict[str, str], vehicle: tuple[int, str], own_hospital: int
) -> None:
    """In Chromium, with the CSP enforced: the dispatcher map and the hospital board (API keys: their
    streams open with tickets), sign-in, the caller's page and /docs run, and nothing is refused."""
    from playwright.sync_api import sync_playwright

    journey = dispatch(api_server, keys["dispatcher"], vehicle[0], own_hospital)
    link = httpx.post(
        f"{api_server}/api/v1/journeys/{journey}/caller-link",
        headers={"Authorization": f"Bearer {keys['dispatcher']}"},
        timeout=10,
    ).json()
    refused: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{api_server}/#token={keys['dispatcher']}")
        page.wait_for_function("() => window.ambState && window.ambState.connected", timeout=20_000)
        page.goto(f"{api_server}/board#token={keys['hospital']}")
        page.wait_for_function("() => window.ambState && window.ambState.connected", timeout=20_000)
        page.goto(f"{api_server}{link['url']}")
        page.wait_for_selector("body[data-state='approaching']", timeout=10_000)
        page.goto(f"{api_server}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        page.goto(f"{api_server}/login")
        page.fill("#login-username", users["dispatcher"])
        page.fill("#login-password", PASSWORD)
        page.press("#login-password", "Enter")
        page.wait_for_function("() => window.ambState && window.ambState.connected", timeout=20_000)
        browser.close()
    assert refused == []
