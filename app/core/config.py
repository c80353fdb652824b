"""One Settings class, read from the environment with prefix ``SELFSUP_``; unsafe values fail at start."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

FILESYSTEM_BROKER = "filesystem://"
KEY_PATTERN = re.compile(r"^ssk_[A-Za-z0-9_-]{32,128}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SELFSUP_", extra="ignore")

    data_dir: Path = Field(default=Path(".selfsup"), description="Root for the database, blobs and broker.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    broker_url: str = Field(default=FILESYSTEM_BROKER, description="Celery broker; filesystem:// needs no server.")
    queue: str = Field(default="training", pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="Training queue name.")
    ingest_queue: str = Field(
        default="ingest", pattern=r"^[A-Za-z0-9_.-]{1,100}$", description="Queue of dataset ingest jobs."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    max_upload_bytes: int = Field(
        default=16 * 1024**3, ge=1024, description="Largest upload accepted, in one request or as resumable parts."
    )
    max_upload_part_bytes: int = Field(
        default=256 * 1024**2, ge=1024, description="Largest part of a resumable upload (PUT /v1/uploads/{id}/parts/N)."
    )
    tenant_max_open_uploads: int = Field(
        default=16, ge=1, le=10_000, description="Resumable uploads one tenant may have unfinished at once."
    )
    resumable_upload_expiry_seconds: float = Field(
        default=86400.0,
        ge=60,
        le=30 * 86400,
        description="An unfinished resumable upload is forgotten (its parts deleted) after this long without a part.",
    )
    max_json_bytes: int = Field(
        default=64 * 1024**2, ge=1024, description="Largest embedding request body (JSON, or images to embed)."
    )
    max_api_json_bytes: int = Field(
        default=1024**2,
        ge=1024,
        description="Largest body of the other routes (jobs, keys, aliases; never more than max_json_bytes): "
        "their bodies are small, and parsing tens of megabytes of JSON holds the event loop for seconds.",
    )
    body_read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A request body that sends no bytes for this long is answered 408 and its connection closed.",
    )
    max_connections: int = Field(
        default=1000, ge=2, le=1_000_000, description="Connections one API process keeps open; past it 503."
    )
    max_archive_members: int = Field(default=1_000_000, ge=1, description="Most files in one archive.")
    max_extracted_bytes: int = Field(default=20 * 1024**3, ge=1024, description="Largest unpacked archive.")
    max_member_bytes: int = Field(default=64 * 1024**2, ge=1024, description="Largest single file unpacked.")
    max_dataset_bytes: int = Field(
        default=64 * 1024**3,
        ge=1024,
        description="Largest dataset once decoded (images: items x size x size x 3 bytes; tables: what a parquet "
        "file decodes to, and the encoded arrays); refused before work starts where it can be known.",
    )
    max_table_columns: int = Field(
        default=4096, ge=1, le=1_000_000, description="Most columns in a table upload; wider ones get 422."
    )
    max_document_bytes: int = Field(
        default=64 * 1024**2,
        ge=1024,
        le=1024**3,
        description="Longest line of a text upload (a .txt document, a JSON line, a CSV line): text is read a line "
        "at a time, and a line is held whole while read.",
    )
    max_image_pixels: int = Field(default=40_000_000, ge=64, description="Largest decoded image, in pixels.")
    default_image_size: int = Field(default=64, ge=8, le=1024)

    lease_seconds: float = Field(default=60.0, gt=0, description="How long a worker's claim on a job lasts.")
    reaper_interval_seconds: float = Field(default=15.0, gt=0)
    redispatch_queued_after_seconds: float = Field(default=120.0, gt=0, description="Re-ring a silent job.")
    broker_visibility_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="Redis broker: when an unacknowledged message is delivered again."
    )
    progress_interval_seconds: float = Field(default=2.0, gt=0)
    cancel_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a training worker checks whether its job was canceled."
    )
    checkpoint_interval_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    device: str | None = Field(default=None, description="Training device; auto (cuda if present) by default.")
    max_devices: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Most devices one training job may ask for: the GPUs of each worker host (on CPU workers, "
        "gloo processes, up to 4: for testing).",
    )
    encoder_cache_size: int = Field(default=4, ge=1)
    classifier_cache_size: int = Field(default=32, ge=1, description="Classifiers kept in memory for predictions.")
    classifier_max_labels: int = Field(
        default=200_000, ge=2, le=10_000_000, description="Most labeled items one classifier is trained on."
    )
    classifier_max_classes: int = Field(default=1000, ge=2, le=100_000, description="Most classes of one classifier.")
    embed_max_requests: int = Field(
        default=64, ge=1, description="Embedding requests in progress at once; beyond it 503 + Retry-After."
    )
    embed_queue_limit: int = Field(
        default=512, ge=1, description="Images per model waiting or being embedded; beyond it 503 + Retry-After."
    )
    embed_image_scale: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="An image to embed may have at most (this x the model's input side)^2 pixels; larger is 422.",
    )
    embed_max_request_pixels: int = Field(
        default=64_000_000, ge=64, description="Image pixels one embedding request may decode in all; past it 413."
    )
    embed_max_decoding_pixels: int = Field(
        default=256_000_000,
        ge=64,
        description="Image pixels the API decodes at once across embedding requests; past it 503 + Retry-After.",
    )
    embed_max_batch: int = Field(default=64, ge=1, le=4096, description="Most images run through an encoder at once.")
    embed_max_wait_ms: float = Field(
        default=2.0, ge=0, le=1000, description="How long a batch waits for concurrent requests to join it."
    )
    embed_prepare_threads: int = Field(
        default=2,
        ge=1,
        le=256,
        description="Threads that prepare embedding requests' inputs (JSON, base64, image decoding) at once.",
    )
    embed_threads: int = Field(
        default=1, ge=1, le=256, description="CPU threads torch uses for one model's batch (its worker thread)."
    )
    # Export (issue 12, H4): onnxruntime measured faster than torch on CPU for the embed route (bench/serve_load.py).
    serve_runtime: Literal["torch", "onnx"] = Field(
        default="onnx",
        description="What runs CPU encoders on the embed routes: onnx (their ONNX export, built when a model loads) "
        "or torch. Models on a GPU device always run on torch.",
    )
    # GPU serving (issue 14): where the embed routes' encoders run, and in what precision.
    serve_device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        description="Device of served encoders: auto (cuda when there is one, else cpu), cpu, cuda or cuda:N.",
    )
    serve_precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description="Forward precision of torch-run encoders; auto: bf16/fp16 on CUDA where a probe batch's vectors "
        "keep a cosine >= 0.99 to fp32's (measured per model at load), else fp32. ONNX runs stay fp32.",
    )
    encoder_cache_bytes: int = Field(
        default=4 * 1024**3,
        ge=1,
        description="Bytes of encoder weights the API keeps loaded (least recently used evicted first; the newest "
        "model stays even when it alone is larger). encoder_cache_size bounds their count too.",
    )
    lookup_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long the API reuses a key's or a model id's lookup (0: never). A key revoked through this "
        "process is refused at once; other API processes (api_workers > 1) may accept it this much longer.",
    )
    tenant_max_active_jobs: int = Field(
        default=20, ge=1, le=100_000, description="Queued plus running jobs one tenant may have at once."
    )
    tenant_max_stored_bytes: int = Field(
        default=500 * 1024**3,
        ge=1024,
        description="Bytes one tenant may keep: datasets, models, checkpoints and unfinished uploads.",
    )
    tenant_max_uploads: int = Field(default=4, ge=1, le=1000, description="Uploads one tenant may have in progress.")
    upload_stale_seconds: float = Field(
        default=3600.0,
        ge=60,
        le=7 * 86400,
        description="After this long an upload still marked in progress (its API process died) stops counting.",
    )
    failed_job_retention_seconds: float = Field(
        default=86400.0, ge=0, le=365 * 86400, description="How long a failed or canceled job's checkpoint is kept."
    )
    storage_url: str = Field(
        default="", description="Where blobs live: file:///abs/path or s3://bucket/prefix; empty: data_dir/blobs."
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, Ceph); else AWS.")
    s3_region: str | None = Field(default=None, description="S3 region; else boto3's default chain decides.")
    cache_dir: Path = Field(
        default=Path(), description="Local copies of stored datasets and models; empty: data_dir/cache."
    )
    cache_bytes: int = Field(default=50 * 1024**3, ge=1024**2, description="What the local cache may hold.")
    import_allowed_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated s3://bucket/prefix URLs datasets may be imported from; empty: none.",
    )
    exact_index_up_to: int = Field(
        default=20_000,
        ge=2,
        le=10_000_000,
        description="Embedding runs of up to this many items are searched exactly; larger ones get an hnsw index.",
    )
    # An exact query over 1M float16 vectors took about 1 s on two cores (bench/search_speed.py); hnsw, 1-6 ms.
    max_exact_search_items: int = Field(
        default=200_000, ge=2, description="The most items an index may search exactly (every vector compared)."
    )
    max_search_comparisons: int = Field(
        default=500_000_000, ge=1000, description="Query x item comparisons one exact search request may make."
    )
    max_selection_work: int = Field(
        default=2_000_000_000, ge=1000, description="Items x budget one diversity or typicality selection may cost."
    )
    open_runs_cache_size: int = Field(default=8, ge=1, le=1000, description="Embedding runs the API keeps open.")
    bootstrap_admin_key: str | None = Field(
        default=None,
        description="The operator's key (operator scope), created at first start for automation; else one is made.",
    )

    # H5 (metrics, logs, job events): who may scrape /metrics, and the budget of each job-event stream.
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token /metrics requires; unset: /metrics answers only clients on loopback.",
    )
    metrics_jobs_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long /metrics reuses its database counts of jobs."
    )
    event_stream_poll_seconds: float = Field(
        default=0.5, gt=0, le=10, description="How often an open job-event stream reads the job."
    )
    event_stream_max_seconds: float = Field(
        default=900.0, ge=1, le=86400, description="An open job-event stream ends after this; the client reconnects."
    )
    api_workers: int = Field(
        default=1, ge=1, le=64, description="uvicorn worker processes of `selfsup api` (several: multiprocess metrics)."
    )
    tenant_max_event_streams: int = Field(
        default=8, ge=1, le=1000, description="Job-event streams one tenant may hold open at once (per API process)."
    )

    @field_validator("import_allowed_prefixes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Self:
        self.data_dir = self.data_dir.expanduser().resolve()
        self._check_storage()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'selfsup.db'}"
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"SELFSUP_DATABASE_URL must be sqlite:// or postgresql+psycopg://, got {self.database_url!r}"
            )
        if not self.broker_url.startswith((FILESYSTEM_BROKER, "redis://", "rediss://", "amqp://", "memory://")):
            raise ValueError(f"SELFSUP_BROKER_URL scheme not supported: {self.broker_url!r}")
        if self.bootstrap_admin_key is not None and not KEY_PATTERN.match(self.bootstrap_admin_key):
            raise ValueError("SELFSUP_BOOTSTRAP_ADMIN_KEY must be 'ssk_' followed by at least 32 URL-safe characters")
        if self.lease_seconds <= 2 * self.progress_interval_seconds:
            raise ValueError("SELFSUP_LEASE_SECONDS must exceed twice SELFSUP_PROGRESS_INTERVAL_SECONDS")
        return self

    def _check_storage(self) -> None:
        from app.core.storage import check_storage_url  # the backends' registry; it imports no settings
        from app.core.storage.imports import ImportRefused, parse_s3_prefix

        cache_dir = self.data_dir / "cache" if self.cache_dir == Path() else self.cache_dir
        self.cache_dir = cache_dir.expanduser().resolve()
        self.storage_url = self.storage_url or f"file://{self.blob_dir}"
        check_storage_url(self.storage_url)
        for prefix in self.import_allowed_prefixes:
            try:
                parse_s3_prefix(prefix)
            except ImportRefused as exc:
                raise ValueError(f"SELFSUP_IMPORT_ALLOWED_PREFIXES: {exc}") from None

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def pretrained_dir(self) -> Path:
        """Where operators place pretrained model directories that text and image jobs may continue from, by
        name."""
        return self.data_dir / "pretrained"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.broker_url.startswith(FILESYSTEM_BROKER)


@lru_cache
def get_settings() -> Settings:
    return Settings()
