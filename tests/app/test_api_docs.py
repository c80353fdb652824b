"""/docs works offline: its page names only files the app serves itself."""

import re

from fastapi.testclient import TestClient


def test_the_docs_page_loads_swagger_ui_from_the_app_not_a_cdn(anonymous: TestClient) -> None:
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/docs/assets/") for url in assets), assets
    assert "cdn" not in page.text.lower()
    for url in assets:
        assert anonymous.get(url).status_code == 200, url
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/redoc").status_code == 404, "ReDoc would load from a CDN: it is off"
