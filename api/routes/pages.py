"""The web pages: the dispatcher map, sign-in, the board, the analytics, the crew's tablet (with its
PWA manifest and service worker), and the caller's tracking page.

The HTML files live in api/static/; a page whose file is missing answers 404. What several pages
show alike (the language switch, the connection status and clock) is written once, in
api/static/partials/, and placed where a page says `<!-- include NAME -->`, at that line's indent.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.routes.caller_links import PRIVATE_HEADERS
from api.routes.crew import tracker_url
from api.security_headers import page_headers

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


INCLUDE = re.compile(r"^(?P<indent>[ \t]*)<!-- include (?P<name>[a-z_]+) -->\n", re.MULTILINE)


@cache
def render(name: str) -> str | None:
    """The page `name` with its includes in place, or None when there is no such page."""
    path = STATIC_DIR / name
    if not path.is_file():
        return None

    return _expand(path.read_text(encoding="utf-8"), depth=0)


def _expand(text: str, depth: int) -> str:
    """`text` with each include replaced by its partial, itself expanded (a partial may include
    another, three deep at most)."""
    if depth > 3:
        raise ValueError("partials include each other too deep")

    def include(match: re.Match[str]) -> str:
        part = (STATIC_DIR / "partials" / f"{match['name']}.html").read_text(encoding="utf-8")
        part = _expand(part, depth + 1)
        return "".join(match["indent"] + line if line.strip() else line for line in part.splitlines(True))

    return INCLUDE.sub(include, text)


def _page(request: Request, name: str, extra: dict[str, str] | None = None) -> HTMLResponse:
    html = render(name)
    if html is None:
        raise HTTPException(404, "page not found")
    headers = page_headers(request.app.state.settings.tile_url)
    return HTMLResponse(html, headers={**headers, **(extra or {})})


@router.get("/")
async def dispatcher_page(request: Request) -> HTMLResponse:
    return _page(request, "index.html")


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html")


@router.get("/board")
async def board_page(request: Request) -> HTMLResponse:
    return _page(request, "board.html")


@router.get("/analytics")
async def analytics_page(request: Request) -> HTMLResponse:
    # Public like the other pages; its data calls need an admin or viewer.
    return _page(request, "analytics.html")


@router.get("/crew")
async def crew_page(request: Request) -> HTMLResponse:
    html = render("crew.html")
    if html is None:
        raise HTTPException(404, "page not found")
    # The tablet may also send its own positions to the gateway (when it is the vehicle's tracker).
    parts = urlsplit(tracker_url(request))
    headers = page_headers(request.app.state.settings.tile_url, (f"{parts.scheme}://{parts.netloc}",))
    return HTMLResponse(html, headers=headers)


def _asset(request: Request, name: str, media_type: str, extra: dict[str, str] | None = None) -> FileResponse:
    headers = page_headers(request.app.state.settings.tile_url)
    return FileResponse(str(STATIC_DIR / name), headers={**headers, **(extra or {})}, media_type=media_type)


@router.get("/crew/sw.js")
async def crew_service_worker(request: Request) -> FileResponse:
    # Served under /crew so that it may control the crew's page (scope /crew), nothing else.
    return _asset(request, "crew_sw.js", "text/javascript", {"Service-Worker-Allowed": "/crew"})


@router.get("/crew/manifest.webmanifest")
async def crew_manifest(request: Request) -> FileResponse:
    return _asset(request, "crew.webmanifest", "application/manifest+json")


@router.get("/locate/{token}")
async def locate_page(request: Request, token: str) -> HTMLResponse:
    # The caller's location page: reads its token from its own address (never logged: api/redact).
    return _page(request, "locate.html", PRIVATE_HEADERS)


@router.get("/track/{token}")
async def track_page(request: Request, token: str) -> HTMLResponse:
    # The page reads its token from its own address and calls /api/v1/public/track/{token}.
    return _page(request, "track.html", PRIVATE_HEADERS)
