"""The pages are served with their shared parts in place (api/static/partials/)."""

from __future__ import annotations

import pytest

from api.routes.pages import render


@pytest.mark.parametrize(
    "page",
    ["index.html", "board.html", "login.html", "track.html", "analytics.html", "crew.html", "locate.html"],
)
def test_every_include_is_resolved(page: str) -> None:
    html = render(page)
    assert html is not None
    assert "<!-- include" not in html


@pytest.mark.parametrize("page", ["index.html", "board.html", "login.html", "analytics.html"])
def test_the_language_switch_is_on_every_signed_in_page(page: str) -> None:
    html = render(page)
    assert html is not None
    assert html.count('id="lang-toggle"') == 1
    assert 'data-lang-choice="vi"' in html and 'data-lang-choice="en"' in html


def test_a_missing_page_is_none() -> None:
    assert render("nope.html") is None
