"""The metrics the API process updates as it works.

They live in prometheus_client's default registry. When ``PROMETHEUS_MULTIPROC_DIR`` names a folder before
this module is first imported, prometheus_client keeps every value in files there instead, so that /metrics
of any one uvicorn worker reports the sum over all of them (see app.monitoring.exposition).
"""

from prometheus_client import Counter, Gauge, Histogram

# Seconds; from a cached lookup (a few ms) to a large embedding batch or upload (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

HTTP_REQUESTS = Counter(
    "selfsup_http_requests",
    "HTTP requests answered, by method, route template (not the raw path) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "selfsup_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (a whole stream for event streams).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
REFUSALS = Counter(
    "selfsup_refusals",
    "Requests refused for lack of room (429: a tenant's limit; 503: the server is saturated), by reason.",
    ["status", "reason"],
)
EMBEDDING_BATCH_SIZE = Histogram(
    "selfsup_embedding_batch_size",
    "Inputs per encoder run of the embedding micro-batcher.",
    buckets=BATCH_BUCKETS,
)
EMBEDDING_QUEUE_DEPTH = Gauge(
    "selfsup_embedding_queue_depth",
    "Inputs admitted to the embedding batchers and not yet answered (waiting or being encoded).",
    multiprocess_mode="livesum",
)
