"""OpenAPI helpers: documented responses with examples, and the /docs page served without a CDN."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.security_headers import page_headers

Responses = dict[int | str, dict[str, Any]]
# An error's `detail`: a sentence, or (422 from request validation) the list of what is wrong.
ERROR = {
    "type": "object",
    "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}},
}


def example(body: Any, description: str = "Success", media_type: str = "application/json") -> dict[str, Any]:
    """One documented response with its example."""
    return {"description": description, "content": {media_type: {"example": body}}}


def error(description: str, detail: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ERROR, "example": {"detail": detail}}},
    }


# On every route that needs a caller.
AUTH_ERRORS: Responses = {
    401: error("No valid API key or session", "sign in, or send a valid API key (Authorization: Bearer ...)"),
    403: error(
        "The caller's role may not do this (or a session request without its X-CSRF-Token)",
        "role 'viewer' may not do this",
    ),
}
NOT_FOUND: Responses = {
    404: error("Not found (or not visible to this hospital account)", "no journey with id 7")
}
CONFLICT: Responses = {409: error("Conflicts with the current state", "journey 7 is completed")}


def ok(body: Any, *more: Mapping[int | str, dict[str, Any]], status: int = 200) -> Responses:
    """`responses=` for a route: its success example plus any other documented statuses."""
    out: Responses = {status: example(body)}
    for extra in more:
        out.update(extra)
    return out


def document_error_details(app: FastAPI) -> None:
    """A 422 is request validation (FastAPI's list of errors) or a domain refusal (a sentence, e.g.
    "no vehicle with id 7"): the generated document says `detail` may be either, so answers keep to
    the schema (the OpenAPI fuzzer checks them)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            schemas = doc.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"]["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [
                        {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                        {"type": "string"},
                    ],
                }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _swagger_assets() -> Path | None:
    """Swagger UI 5 (OpenAPI 3.1) as shipped in the swagger-ui-py package, so /docs works offline."""
    spec = find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if (static / "swagger-ui-bundle.js").exists() else None


def install_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI from local assets (no CDN: control rooms may be offline)."""
    document_error_details(app)
    assets = _swagger_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        # Swagger UI started by a script file of this site (no inline script: the page's CSP).
        if assets is None:
            return HTMLResponse(
                "<!doctype html><title>API docs</title><p>Swagger UI is not installed (swagger-ui-py); "
                f'the OpenAPI document is at <a href="{escape(openapi_url)}">{escape(openapi_url)}</a>.',
                headers=page_headers(),
            )
        return HTMLResponse(
            DOCS_PAGE.format(title=escape(app.title), openapi=escape(openapi_url)), headers=page_headers()
        )


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
<link rel="icon" href="/docs-assets/favicon-32x32.png">
<title>{title} — docs</title>
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""
