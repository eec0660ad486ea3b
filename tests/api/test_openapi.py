"""The OpenAPI document is complete (summary, tags, examples, auth errors on every operation) and
/docs renders it from local assets (no CDN), in Debian's headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.api.test_dispatcher_page import CHROMIUM, CHROMIUM_ARGS

PUBLIC_OPERATIONS = {
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/public/track/{token}"),
    ("get", "/api/v1/public/locate/{token}"),
    ("post", "/api/v1/public/locate/{token}"),
    ("post", "/api/v1/public/locate/{token}/refuse"),
    ("get", "/healthz"),
}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc = create_app().openapi()
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.rsplit("/", 1)[-1]
    return dict(doc["components"]["schemas"][name])


def has_example(doc: dict[str, Any], content: dict[str, Any]) -> bool:
    for media in content.values():
        if "example" in media or "examples" in media:
            return True
        if "examples" in resolve(doc, media.get("schema", {})):
            return True
    return False


def test_every_operation_is_documented_with_examples() -> None:
    doc = create_app().openapi()
    missing = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary"):
                missing.append(f"{where}: summary")
            if not op.get("tags"):
                missing.append(f"{where}: tags")
            body = op.get("requestBody")
            if body and not has_example(doc, body["content"]):
                missing.append(f"{where}: request example")
            success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            if not success:
                missing.append(f"{where}: success response")
            for status, response in success.items():
                if "content" in response and not has_example(doc, response["content"]):
                    missing.append(f"{where}: {status} example")
            if (method, path) not in PUBLIC_OPERATIONS and "401" not in op["responses"]:
                missing.append(f"{where}: 401 documented")
    assert missing == []
    assert sum(len(item) for item in doc["paths"].values()) >= 35
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert any(s.get("name") == "amb_session" and s.get("in") == "cookie" for s in schemes.values())


def test_docs_are_served_without_a_cdn(api_server: str) -> None:
    page = httpx.get(f"{api_server}/docs", timeout=10)
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn.jsdelivr.net" not in page.text
    bundle = httpx.get(f"{api_server}/docs-assets/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert httpx.get(f"{api_server}/openapi.json", timeout=10).json()["openapi"].startswith("3.1")


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_docs_render_in_a_browser(api_server: str, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    count = len(operations())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{api_server}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        assert page.locator(".swagger-ui .opblock").count() == count
        assert "Ambulance Journey Monitor API" in page.inner_text(".swagger-ui .info")
        page.screenshot(path=str(artifacts / "api-docs.png"))
        browser.close()
    assert failed == []
