"""The worker's Celery app: the shared app plus task registration and process hooks.

Start with ``selfsup worker`` (or ``celery -A worker.celery_app worker -Q training``).
"""

import multiprocessing
import warnings
from typing import Any

from celery.exceptions import SecurityWarning
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown

from app.core.config import get_settings
from app.core.db import get_engine
from app.core.queue import get_celery
from app.core.storage import forget_open_stores
from worker.reaper import Reaper

celery = get_celery()
celery.conf.include = ["worker.tasks"]
if "pickle" not in celery.conf.accept_content:
    # Celery's root warning is about pickle: a message could run code as root. This worker accepts JSON only
    # (Celery itself refuses to start as root with pickle), and containers commonly run as root, so the warning
    # on every start says nothing actionable. Only that one warning is filtered.
    warnings.filterwarnings("ignore", message="You're running the worker with superuser", category=SecurityWarning)
_reaper = Reaper(get_settings())


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool process must not share the parent's pooled database sockets, nor its object-store client's.
    get_engine().dispose(close=False)
    forget_open_stores()


@worker_process_init.connect
def _allow_decoding_processes(**_: Any) -> None:
    """Let a Celery pool process start ingest's pool of decoding processes (``selfsup.data.decoding``).

    billiard makes its own process object multiprocessing's current one, and that object stops the standard
    library from starting children in two ways, measured on this worker: it is daemonic ("daemonic processes are
    not allowed to have children" failed every attempt) and its authkey is billiard's type, which the standard
    library's spawn refuses to pickle. The daemon flag only matters to that check and to who joins whom at
    exit: Celery stops its pool processes itself, and the decoders are stopped with their pool process (below).
    """
    current = multiprocessing.current_process()
    current.daemon = False
    current._config["authkey"] = multiprocessing.process.AuthenticationString(bytes(current.authkey))  # type: ignore[attr-defined]


@worker_process_shutdown.connect
def _stop_decoding_processes(**_: Any) -> None:
    from selfsup.data.decoding import close_decoding_pool

    close_decoding_pool()


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    _reaper.stop()
