"""The web pages: the dispatcher map, sign-in, the board, and the caller's tracking page.

The HTML files live in api/static/; a page whose file is missing answers 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from api.routes.caller_links import PRIVATE_HEADERS
from api.security_headers import page_headers

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, extra: dict[str, str] | None = None) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise HTTPException(404, "page not found")
    headers = page_headers(request.app.state.settings.tile_url)
    return FileResponse(str(path), headers={**headers, **(extra or {})})


@router.get("/")
async def dispatcher_page(request: Request) -> FileResponse:
    return _page(request, "index.html")


@router.get("/login")
async def login_page(request: Request) -> FileResponse:
    return _page(request, "login.html")


@router.get("/board")
async def board_page(request: Request) -> FileResponse:
    return _page(request, "board.html")


@router.get("/track/{token}")
async def track_page(request: Request, token: str) -> FileResponse:
    # The page reads its token from its own address and calls /api/v1/public/track/{token}.
    return _page(request, "track.html", PRIVATE_HEADERS)
