"""The worker's Celery app: the shared app plus task registration and process hooks.

Start with ``selfsup worker`` (or ``celery -A worker.celery_app worker -Q training``).
"""

from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown

from app.core.config import get_settings
from app.core.db import get_engine
from app.core.queue import get_celery
from app.core.storage import forget_open_stores
from worker.reaper import Reaper

celery = get_celery()
celery.conf.include = ["worker.tasks"]
_reaper = Reaper(get_settings())


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool process must not share the parent's pooled database sockets, nor its object-store client's.
    get_engine().dispose(close=False)
    forget_open_stores()


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    _reaper.stop()
