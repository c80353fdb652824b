"""Keeps a claim's lease alive from a background thread and learns of cancel requests and lost leases."""

import logging
import threading

from app.core.db import session_factory
from app.jobs.lease import Claim, renew_lease

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker now owns the job; this one must stop without writing anything."""


class Heartbeat:
    def __init__(self, claim: Claim, *, lease_seconds: float) -> None:
        self.claim = claim
        self.lease_seconds = lease_seconds
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
        self.cancel_requested = status.cancel_requested

    def _run(self) -> None:
        # Renew well before expiry so that one slow round trip does not cost the lease.
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                self.beat()
            except Exception:
                log.exception("lease renewal for %s failed; retrying", self.claim.job_id)
            if self.lost:
                return
