"""One place that sends requests: the key, finite timeouts, retries of 429/503, and errors as exceptions."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from selfsup_client.errors import SelfSupError, error_from_response

RETRIED_STATUSES = (429, 503)
# Connect and pool waits are short; a read may wait on a batch of embeddings or an event stream's keep-alive.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=30.0)


class Transport:
    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        max_backoff: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.max_retries = max_retries
        self.max_backoff = max_backoff

    def request(self, method: str, path: str, *, body: Callable[[], dict[str, Any]] | None = None, **kw: Any) -> Any:
        """The answer's JSON (None for 204). ``body`` builds fresh request arguments for each try, so that a
        retried upload sends its file again from the start."""
        response = self.send(method, path, body=body, **kw)
        return None if response.status_code == 204 or not response.content else response.json()

    def send(self, method: str, path: str, *, body: Callable[[], dict[str, Any]] | None = None, **kw: Any) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                response = self.http.request(method, path, **kw, **(body() if body else {}))
            except httpx.TransportError as exc:
                raise no_answer(exc) from exc
            if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                break
            time.sleep(self.retry_delay(response, attempt))
        if response.is_error:
            raise error_from_response(response)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A streamed answer; an error answer is read and raised (429/503 once retried, like ``send``)."""
        for attempt in range(self.max_retries + 1):
            with self.http.stream(method, path, **kw) as response:
                if response.status_code in RETRIED_STATUSES and attempt < self.max_retries:
                    delay = self.retry_delay(response, attempt)
                elif response.is_error:
                    response.read()
                    raise error_from_response(response)
                else:
                    yield response
                    return
            time.sleep(delay)

    def retry_delay(self, response: httpx.Response, attempt: int) -> float:
        """The server's Retry-After when it gives one, else 0.5 s doubling; never more than ``max_backoff``."""
        try:
            asked = float(response.headers.get("Retry-After", ""))
        except ValueError:
            asked = 0.5 * 2**attempt
        return min(max(asked, 0.0), self.max_backoff)

    def close(self) -> None:
        self.http.close()


def no_answer(exc: httpx.HTTPError) -> SelfSupError:
    return SelfSupError(f"no answer from the server: {exc}")
