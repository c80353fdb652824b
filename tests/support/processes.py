"""Real service processes for end-to-end tests: the API under uvicorn, Celery workers, ``selfsup up``."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    progress: Callable[[], Hashable] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds.

    With ``progress``, ``timeout`` counts from the last time its value changed, not from the start: a job
    that keeps stepping, or a process that keeps logging, is waited for however slow the machine is (this one
    is shared, and its speed varies several-fold), while one that stalls still fails after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    last = progress() if progress is not None else None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
        if progress is not None and (now := progress()) != last:
            last, deadline = now, time.monotonic() + timeout
    stalled = " with no progress" if progress is not None else ""
    raise AssertionError(f"timed out after {timeout}s{stalled} waiting for {what}")


BUSY_STEP_SECONDS = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and every live descendant, from /proc."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pid = int(stat.parent.name)
        parents[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / CLOCK_TICKS


class ServiceProcess:
    """A ``python -m app.cli <command>`` child in its own session, logging to a file."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.command = command
        self.log_path = log_dir / f"{command}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", command],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group, as when a machine dies."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, then wait for a clean exit."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_size(self) -> int:
        """Grows while the process is busy starting up: progress for :func:`wait_for`."""
        return self.log_path.stat().st_size

    def starting_up(self) -> tuple[int, int]:
        """Progress while a process starts: importing on a loaded machine can log nothing for a minute or more,
        but its CPU time still grows."""
        return self.log_size(), self.work_done()

    def work_done(self) -> int:
        """Progress for :func:`wait_for` that also moves while nothing is logged (a pool process importing torch
        on a loaded machine, say): the CPU time of the process and its descendants, in steps of
        ``BUSY_STEP_SECONDS``, which an idle worker's housekeeping takes minutes to reach."""
        return int(tree_cpu_seconds(self.process.pid) // BUSY_STEP_SECONDS)


def wait_until_healthy(base_url: str, process: ServiceProcess, timeout: float = 60) -> None:
    def healthy() -> bool:
        if process.process.poll() is not None:
            raise AssertionError(f"{process.command} exited early:\n{process.log()[-3000:]}")
        try:
            return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, timeout=timeout, what=f"{base_url} to become ready", progress=process.starting_up)


def wait_for_worker(process: ServiceProcess, timeout: float = 60) -> None:
    def ready() -> bool:
        if process.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{process.log()[-3000:]}")
        return " ready." in process.log()

    wait_for(ready, timeout=timeout, what="the Celery worker to be ready", progress=process.starting_up)
