"""A headless Chromium page that records every console error, page error and failed request, so a test can
fail on any of them."""

from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Page, Request, Response

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser download needs the network

Excused = Callable[[str, int], bool]  # (url, status) -> whether this answer is expected


@dataclass
class BrowserProblems:
    """What went wrong in the page; ``excused`` names answers >= 400 that the test expects."""

    excused: Excused
    secret: str  # the API key, which must never appear in a URL
    problems: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        # Chromium logs each answer >= 400 as a console error too; those are judged in _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error at {url}: {message.text}")

    def _request(self, request: Request) -> None:
        if self.secret in request.url:
            self.problems.append(f"the API key was sent in a URL: {request.method} {request.url}")

    def _failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not self.excused(response.url, response.status):
            self.problems.append(f"{response.request.method} {response.url} answered {response.status}")
