"""``Client``: one connection to a selfsup server, with a namespace per resource."""

import os
from types import TracebackType

import httpx

from selfsup_client.datasets import Datasets
from selfsup_client.jobs import Jobs
from selfsup_client.keys import Keys
from selfsup_client.models import Models
from selfsup_client.transport import DEFAULT_TIMEOUT, RetryHook, Transport

DEFAULT_URL = "http://127.0.0.1:8000"


class Client:
    """``Client(url, api_key)``; either missing is read from SELFSUP_URL / SELFSUP_API_KEY.

    Errors raise ``SelfSupError`` subclasses; 429 and 503 are retried ``max_retries`` times, waiting what the
    server's Retry-After asks (else 0.5 s, doubling), at most ``max_backoff`` seconds each. ``on_retry`` is
    told of each retry before its wait (a ``Retry``: the status, the server's message, the delay); the
    ``selfsup_client`` logger says the same at INFO. Timeouts must be finite."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        max_backoff: float = 30.0,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.url = url or os.environ.get("SELFSUP_URL") or DEFAULT_URL
        key = api_key or os.environ.get("SELFSUP_API_KEY")
        self._transport = Transport(
            self.url, key, timeout=timeout, max_retries=max_retries, max_backoff=max_backoff, on_retry=on_retry
        )
        self.datasets = Datasets(self._transport)
        self.jobs = Jobs(self._transport)
        self.models = Models(self._transport)
        self.keys = Keys(self._transport)

    def ready(self) -> dict[str, object]:
        """``GET /readyz``: the server's database and broker checks (raises when it is not ready)."""
        return dict(self._transport.request("GET", "/readyz"))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
