"""The dashboard in a real browser: Debian's chromium driven by Playwright against a real uvicorn API and Celery
worker (the end-to-end Stack)."""

from tests.e2e.conftest import make_stack

__all__ = ["make_stack"]
