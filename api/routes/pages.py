"""The web pages: the dispatcher map, sign-in, the board, and the caller's tracking page.

The HTML files live in api/static/; a page whose file is missing answers 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.routes.caller_links import PRIVATE_HEADERS

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Pages are never framed by another site (clickjacking), and always revalidated.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


def _page(name: str, extra: dict[str, str] | None = None) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise HTTPException(404, "page not found")
    return FileResponse(str(path), headers={**PAGE_HEADERS, **(extra or {})})


@router.get("/")
async def dispatcher_page() -> FileResponse:
    return _page("index.html")


@router.get("/login")
async def login_page() -> FileResponse:
    return _page("login.html")


@router.get("/board")
async def board_page() -> FileResponse:
    return _page("board.html")


@router.get("/track/{token}")
async def track_page(token: str) -> FileResponse:
    # The page reads its token from its own address and calls /api/v1/public/track/{token}.
    return _page("track.html", PRIVATE_HEADERS)
