"""OsmAnd / Traccar Client over HTTP: the ASGI app behind port 5055.

One request, in order:
  body (413 too large, 408 too slow) -> decode (400 malformed, with the reason as text)
  -> device and token (401 `unauthorized`, one answer for every failure: unknown, disabled or
     other-protocol id, an address outside the device's allowed networks, a missing or wrong
     token; the same work is done in every case and no database query is awaited, so the answer
     and its time do not tell a registered id from an unknown one). The token is required unless
     `require_token` is off, which accepts a registered device without a token (counted).
  -> rate (429 faster than allowed) -> ingest -> 200, empty, only once the fixes are COMMITTED
  (503 if the commit takes longer than `commit_timeout_s`: the client retries; duplicates are
  dropped). A fix the pipeline refuses (too old, duplicate, impossible jump) still gets its 200
  after the commit: resending cannot repair it.

The source address is the socket's peer; behind a reverse proxy listed in `trusted_proxies`, the
address that proxy saw (the last `X-Forwarded-For` entry that is not itself a trusted proxy).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from gateway import metrics
from gateway.ingest import FixIngest
from gateway.protocols.osmand import OsmAndMessage, decode_query
from gateway.protocols.osmand_json import decode_json
from gateway.refusals import Reason, Refusal
from gateway.registry import DeviceEntry
from gateway.transports.stream import TokenBucket
from tracking.fleet import hash_device_token

log = logging.getLogger(__name__)
PROTOCOL = "osmand"
MAX_FORM_FIELDS = 200
RETRY = {"Retry-After": "1"}
UNAUTHORIZED = "unauthorized"
CHALLENGE = {"WWW-Authenticate": "Bearer"}
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}
# Compared against when there is no device (or no token): the same work as a real comparison.
_NO_HASH = hash_device_token("")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class OsmAndLimits:
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 30.0  # a body begun must arrive within this
    requests_per_second: float = 5.0  # per device, sustained (a phone reports every few seconds)
    request_burst: int = 60  # requests a device may send at once (an old client's backlog)
    commit_timeout_s: float = 30.0
    require_token: bool = True  # False: a registered device without a token is accepted (counted)
    naive_time_zone: str = "UTC"  # zone of timestamps sent without an offset
    trusted_proxies: tuple[Network, ...] = ()  # reverse proxies whose X-Forwarded-For is believed
    allowed_origins: tuple[str, ...] = ()  # web pages that may post fixes (a crew tablet's browser)


class HttpError(Exception):
    """A request answered with an error status and a short text; `refusal` (if any) is counted,
    with `source` (the peer, or the device once known)."""

    def __init__(
        self,
        status: int,
        text: str,
        refusal: Refusal | None = None,
        headers: dict[str, str] | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.refusal = refusal
        self.headers = headers
        self.source = source


def refused(status: int, refusal: Refusal, source: str | None = None, **headers: str) -> HttpError:
    return HttpError(status, str(refusal), refusal, headers or None, source)


class OsmAndApp:
    """The ASGI app: serve it with `gateway.transports.http.HttpListener`."""

    def __init__(self, ingest: FixIngest, limits: OsmAndLimits | None = None) -> None:
        self._ingest = ingest
        self._limits = limits or OsmAndLimits()
        self._naive_tz = ZoneInfo(self._limits.naive_time_zone)
        self._buckets: dict[str, TokenBucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; websockets are not served
            return
        request = Request(scope, receive)
        client = request.client
        peer = f"{client.host}:{client.port}" if client else "?"
        cors = self._cors(request)
        if request.method == "OPTIONS":  # a browser's preflight: answered from the headers alone
            preflight = Response(
                status_code=204 if cors else 403, headers={**cors, **PREFLIGHT} if cors else None
            )
            await preflight(scope, receive, send)
            return
        try:
            await self._handle(request, peer)
            response: Response = Response(status_code=200)
        except HttpError as exc:
            if exc.refusal is not None:
                self._ingest.refuse(exc.refusal, PROTOCOL, exc.source or peer)
            response = PlainTextResponse(f"{exc.text}\n", exc.status, headers=exc.headers)
        except ClientDisconnect:
            return
        except Exception as exc:  # the error boundary of one request: a poison request gets a 400
            self._ingest.refuse_error(exc, PROTOCOL, peer)
            response = PlainTextResponse(f"{Reason.DECODE_ERROR}\n", 400)
        metrics.HTTP_RESPONSES.labels(PROTOCOL, str(response.status_code)).inc()
        response.headers.update(cors)
        await response(scope, receive, send)

    def _cors(self, request: Request) -> dict[str, str]:
        """CORS headers for a page of an allowed origin (a crew tablet's browser), else none."""
        origin = request.headers.get("origin", "").rstrip("/")
        if not origin or origin not in self._limits.allowed_origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _handle(self, request: Request, peer: str) -> None:
        metrics.FRAMES.labels(PROTOCOL).inc()
        body = await self._body(request)
        metrics.BYTES.labels(PROTOCOL).inc(len(body))
        received_at = self._ingest.clock()
        message, url_token = self._decode(request, body, received_at)
        address = self._address(request)
        token = bearer_token(request) or message.token or url_token
        device = await self._authenticate(message.device_id, token, peer, address)
        bucket = self._buckets.setdefault(
            device.device_id, TokenBucket(self._limits.requests_per_second, self._limits.request_burst)
        )
        if not bucket.take():
            raise refused(429, Refusal(Reason.RATE_LIMITED, "requests too fast"), device.device_id, **RETRY)
        if not message.batch and isinstance(message.items[0], Refusal):
            raise refused(400, message.items[0], device.device_id)
        await self._commit(device, message, received_at)

    async def _body(self, request: Request) -> bytes:
        limit = self._limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise refused(413, Refusal(Reason.PAYLOAD_TOO_LARGE, f"{declared} bytes > {limit}"))
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self._limits.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise refused(413, Refusal(Reason.PAYLOAD_TOO_LARGE, f"more than {limit} bytes"))
                    chunks.append(chunk)
        except TimeoutError:
            raise refused(408, Refusal(Reason.BAD_SHAPE, "request body too slow")) from None
        return b"".join(chunks)

    def _decode(
        self, request: Request, body: bytes, received_at: datetime
    ) -> tuple[OsmAndMessage, str | None]:
        """The message, and a `token` from the URL (where a JSON client can carry one)."""
        url_params = parse_qsl(request.url.query, keep_blank_values=True)
        url_token = next((v for k, v in reversed(url_params) if k == "token" and v), None)
        content_type = request.headers.get("content-type", "").lower()
        settings = self._ingest.settings
        message: OsmAndMessage | Refusal
        if content_type.startswith("application/json"):
            message = decode_json(body, settings.max_fixes_per_message, self._naive_tz)
        else:
            params = url_params
            if body and (not url_params or not content_type or "x-www-form-urlencoded" in content_type):
                try:
                    form = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
                except (UnicodeDecodeError, ValueError) as exc:
                    raise refused(400, Refusal(Reason.BAD_SHAPE, f"bad form body: {exc}"[:120])) from None
                params = url_params + form
            message = decode_query(params, received_at, settings.osmand_speed_unit, self._naive_tz)
        if isinstance(message, Refusal):
            raise refused(400, message)
        return message, url_token

    def _address(self, request: Request) -> str:
        """The device's IP address: the peer's, or behind a trusted proxy the one it saw."""
        peer = request.client.host if request.client else ""
        if not self._limits.trusted_proxies or not _in(peer, self._limits.trusted_proxies):
            return peer
        forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not _in(hop, self._limits.trusted_proxies):
                return hop
        return peer

    async def _authenticate(self, device_id: str, token: str | None, peer: str, address: str) -> DeviceEntry:
        """The device this request may speak for, or one 401 for every failure (see the module)."""
        ingest = self._ingest
        device = await ingest.device_nowait(device_id, PROTOCOL, peer, address)  # counts its own refusals
        supplied = hash_device_token(token) if token else _NO_HASH
        expected = device.token_hash if device is not None and device.token_hash else _NO_HASH
        matches = hmac.compare_digest(supplied, expected) and token is not None
        if device is None:
            raise HttpError(401, UNAUTHORIZED, headers=CHALLENGE)
        if matches and device.token_hash is not None:
            return device
        if device.token_hash is None and not self._limits.require_token:
            metrics.UNAUTHENTICATED.labels(PROTOCOL).inc()
            return device
        refusal = Refusal(Reason.BAD_TOKEN, "wrong token" if token else "no token")
        raise HttpError(401, UNAUTHORIZED, refusal, CHALLENGE, device.device_id)

    async def _commit(self, device: DeviceEntry, message: OsmAndMessage, received_at: datetime) -> None:
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def ack() -> None:  # runs in the batch writer's task, on this loop, after the commit
            if not committed.done():
                committed.set_result(None)

        await self._ingest.submit(PROTOCOL, device, message.items, ack, received_at)
        try:
            await asyncio.wait_for(asyncio.shield(committed), self._limits.commit_timeout_s)
        except TimeoutError:
            log.warning(
                "%s: fixes not committed within %.0f s", device.device_id, self._limits.commit_timeout_s
            )
            raise HttpError(503, "not stored yet: retry later", headers=RETRY) from None


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
