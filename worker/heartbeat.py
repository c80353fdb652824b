"""Keeps a claim's lease alive from a background thread and learns of cancel requests and lost leases."""

import logging
import threading
import time

from app.core.db import session_factory
from app.jobs.lease import Claim, cancel_requested, renew_lease

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker now owns the job; this one must stop without writing anything."""


class Heartbeat:
    """Renews the lease every quarter lease and, in between, polls the cancel flag every
    ``cancel_poll_seconds``: a step of a big backbone can take seconds and progress writes may be minutes apart,
    so a cancel must not wait for either. The training loop reads :attr:`cancel_requested` before every step."""

    def __init__(self, claim: Claim, *, lease_seconds: float, cancel_poll_seconds: float = 1.0) -> None:
        self.claim = claim
        self.lease_seconds = lease_seconds
        self.cancel_poll_seconds = min(cancel_poll_seconds, lease_seconds / 4)
        self.cancel_requested = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{claim.job_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease_seconds)

    def beat(self) -> None:
        with session_factory()() as session:
            status = renew_lease(session, claim=self.claim, lease_seconds=self.lease_seconds)
        self.lost = not status.held
        self.cancel_requested |= status.cancel_requested

    def poll_cancel(self) -> None:
        with session_factory()() as session:
            self.cancel_requested |= cancel_requested(session, job_id=self.claim.job_id)

    def _run(self) -> None:
        # Renew well before expiry so that one slow round trip does not cost the lease.
        next_beat = time.monotonic() + self.lease_seconds / 4
        while not self._stop.wait(self.cancel_poll_seconds):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.lease_seconds / 4
                    self.beat()
                elif not self.cancel_requested:
                    self.poll_cancel()
            except Exception:
                log.exception("heartbeat for %s failed; retrying", self.claim.job_id)
            if self.lost:
                return
