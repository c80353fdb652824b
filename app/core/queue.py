"""The Celery app shared by the API (which only sends) and the worker (which also consumes).

Messages are doorbells: a task carries a job id and nothing else, and the database row stays the truth.
Tasks are sent by name so the API never imports training code.
"""

from functools import lru_cache

from celery import Celery
from kombu import Connection

from app.core.config import FILESYSTEM_BROKER, Settings, get_settings

TRAIN_TASK = "jobs.train"
INGEST_TASK = "datasets.ingest"
EMBED_TASK = "embeddings.run"
CLASSIFY_TASK = "classifiers.train"
# Each job kind's doorbell: the task that claims that kind, and the setting naming its queue. Embedding runs and
# classifier training run networks, so they go where training does (the workers with the accelerators).
DOORBELLS = {
    "train": (TRAIN_TASK, "queue"),
    "ingest": (INGEST_TASK, "ingest_queue"),
    "embed": (EMBED_TASK, "queue"),
    "classify": (CLASSIFY_TASK, "queue"),
}


def broker_options(settings: Settings) -> dict[str, object]:
    if not settings.uses_filesystem_broker:
        # Messages are acknowledged on receipt, so this bounds only a message lost between delivery and ack.
        return {"visibility_timeout": settings.broker_visibility_timeout_seconds}
    queue_dir, control_dir = settings.broker_dir / "queue", settings.broker_dir / "control"
    for folder in (queue_dir, control_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # One folder for in and out makes this a queue shared by every process on the machine.
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "control_folder": str(control_dir),
        "store_processed": False,
    }


def _explicit_host(broker_url: str) -> str:
    """A bare ``filesystem://`` makes kombu log "No hostname was supplied" on every connection; the filesystem
    transport ignores the host, so naming one changes nothing but the log."""
    return "filesystem://localhost//" if broker_url == FILESYSTEM_BROKER else broker_url


def make_celery(settings: Settings) -> Celery:
    celery = Celery("selfsup", broker=_explicit_host(settings.broker_url))
    celery.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=False,  # ack on receipt: a long job is never redelivered; the reaper handles loss
        task_default_queue=settings.queue,
        task_routes={task: {"queue": getattr(settings, queue)} for task, queue in DOORBELLS.values()},
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_max_tasks_per_child=1,  # a fresh process per job returns all GPU memory to the driver
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return celery


@lru_cache
def get_celery() -> Celery:
    return make_celery(get_settings())


def ring_doorbell(kind: str, job_id: str) -> None:
    """Tell some worker of ``kind``'s queue that job ``job_id`` may be waiting. Safe to repeat: claiming is
    conditional."""
    task, queue = DOORBELLS[kind]
    get_celery().send_task(task, args=[job_id], queue=getattr(get_settings(), queue))


def ring_training_doorbell(job_id: str) -> None:
    ring_doorbell("train", job_id)


def broker_is_reachable(timeout: float = 2.0) -> bool:
    settings = get_settings()
    try:
        with Connection(
            _explicit_host(settings.broker_url), transport_options=broker_options(settings), connect_timeout=timeout
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False
