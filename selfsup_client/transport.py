"""One place that sends requests: the key, finite timeouts, retries of 429/503, and errors as exceptions."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from selfsup_client.errors import SelfSupError, error_from_response

RETRIED_STATUSES = (429, 503)
# Connect and pool waits are short; a read may wait on a batch of embeddings or an event stream's keep-alive.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=30.0)
FIRST_BACKOFF_SECONDS = 0.5  # where the server gives no Retry-After; doubles each attempt
log = logging.getLogger("selfsup_client")


@dataclass(frozen=True)
class Retry:
    """What ``on_retry`` is told before each pause: the refused request, the server's answer and the wait."""

    method: str
    path: str
    attempt: int  # 1 for the first retry, up to max_retries
    status: int  # 429 or 503
    message: str  # the server's own words
    retry_after: float | None  # seconds the server asked for (its Retry-After), None when it gave none
    delay: float  # seconds the client waits: retry_after, else the backoff, at most max_backoff


RetryHook = Callable[[Retry], None]


class Transport:
    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        max_backoff: float = 30.0,
        on_retry: RetryHook | None = None,
    ) -> None:
        check_finite(timeout)
        if max_retries < 0 or max_backoff < 0:
            raise ValueError("max_retries and max_backoff cannot be negative")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.max_retries = max_retries
        self.max_backoff = max_backoff
        self.on_retry = on_retry

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
            self.pause(method, path, response, attempt)
        if response.is_error:
            raise error_from_response(response)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A streamed answer; an error answer is read and raised (429/503 once retried, like ``send``)."""
        for attempt in range(self.max_retries + 1):
            with self.http.stream(method, path, **kw) as response:
                if response.is_error:
                    response.read()
                    if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                        raise error_from_response(response)
                else:
                    yield response
                    return
            self.pause(method, path, response, attempt)  # the refused connection is closed first

    def pause(self, method: str, path: str, response: httpx.Response, attempt: int) -> None:
        """Tell ``on_retry`` (and the log) about the refusal, then wait before try ``attempt + 1``."""
        asked = retry_after(response)
        delay = min(FIRST_BACKOFF_SECONDS * 2**attempt if asked is None else asked, self.max_backoff)
        message = error_from_response(response).message
        retry = Retry(method, path, attempt + 1, response.status_code, message, asked, delay)
        log.info(
            "%s %s answered %d (%s); retry %d of %d in %.1f s",
            *(method, path, retry.status, message, retry.attempt, self.max_retries, delay),
        )
        if self.on_retry is not None:
            self.on_retry(retry)
        time.sleep(delay)

    def close(self) -> None:
        self.http.close()


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (it may be a number of seconds or an HTTP date); None if absent or
    unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def check_finite(timeout: httpx.Timeout) -> None:
    """A request without a timeout can hang forever on a dead connection: refuse ``None`` anywhere."""
    unset = [name for name in ("connect", "read", "write", "pool") if getattr(timeout, name) is None]
    if unset:
        raise ValueError(f"timeouts must be finite; {', '.join(unset)} is None")


def no_answer(exc: httpx.HTTPError) -> SelfSupError:
    return SelfSupError(f"no answer from the server: {exc}")
