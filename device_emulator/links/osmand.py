"""An OsmAnd / Traccar Client phone's HTTP link: a GET per live fix, a JSON batch for a backlog.

The live form is the query string (speed in knots, as the gateway expects by default; the time in
epoch milliseconds, so fixes less than a second apart stay distinct); a backlog is one POST of the
JSON batch form (Traccar Client 9). 200 comes only after the commit; 429 and 503 ask the phone to
retry after a while, anything else means it is misconfigured (it keeps its fixes and retries too).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self
from urllib.parse import urlencode

import httpx

from device_emulator.links.base import LinkError
from device_emulator.outbox import PendingBatch
from device_emulator.protocols import osmand

log = logging.getLogger(__name__)

MAX_BATCH = 500  # ~150 KB of JSON: well inside the gateway's 1,000 fixes and 1 MiB per request


class OsmAndLink:
    max_fixes = MAX_BATCH

    def __init__(self, device_id: str, base_url: str, token: str | None, ack_timeout_s: float = 10.0) -> None:
        self.device_id = device_id
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = ack_timeout_s
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        self._http = httpx.AsyncClient(timeout=self._timeout_s)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, batch: PendingBatch) -> bool:
        assert self._http is not None, "send() outside `async with`"
        try:
            if batch.backlog:
                response = await self._http.post(
                    f"{self._base_url}/",
                    content=osmand.json_backlog(batch.fixes, self.device_id),
                    headers={"Content-Type": "application/json", **osmand.auth_headers(self._token)},
                )
            else:
                params = osmand.query_params(batch.fixes[0], self.device_id, self._token, epoch_ms=True)
                response = await self._http.get(f"{self._base_url}/?{urlencode(params)}")
        except httpx.HTTPError as exc:
            raise LinkError(f"HTTP {exc.__class__.__name__} {exc}".rstrip()) from exc
        if response.status_code == 200:
            return True
        if response.status_code in (429, 503):
            retry_after = response.headers.get("Retry-After", "")
            raise LinkError(
                f"HTTP {response.status_code}", float(retry_after) if retry_after.isdigit() else 1.0
            )
        log.warning("%s: HTTP %d %s", self.device_id, response.status_code, response.text.strip()[:120])
        return False
