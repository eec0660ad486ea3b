"""Headers of every page: the Content-Security-Policy (only this site's scripts, no inline script or
handler), no framing, no sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit


def tile_origin(tile_url: str) -> str | None:
    """The origin images come from for an XYZ tile template (`{s}` subdomains: a wildcard)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.replace("{s}", "*")
    if "{" in host or "}" in host:
        return None
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str = "", connect: tuple[str, ...] = ()) -> str:
    """`script-src 'self'`: no inline script, handler or eval runs, whatever gets into a page.
    `connect`: other origins the page may send to (the crew tablet's tracker: the gateway)."""
    images = ["'self'", "data:", "blob:"]
    if origin := tile_origin(tile_url):
        images.append(origin)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Leaflet and Swagger UI position elements with style attributes.
            "style-src 'self' 'unsafe-inline'",
            "img-src " + " ".join(images),
            "connect-src " + " ".join(["'self'", *connect]),
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page_headers(tile_url: str = "", connect: tuple[str, ...] = ()) -> dict[str, str]:
    """Pages are never framed by another site (clickjacking), always revalidated, and run only
    this site's scripts."""
    return {
        "Cache-Control": "no-cache",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": content_security_policy(tile_url, connect),
        "X-Content-Type-Options": "nosniff",
    }
