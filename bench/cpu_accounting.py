"""CPU and batching accounting for bench/serve_load.py: the server's CPU time and its encoder batches."""

import os
from pathlib import Path

import httpx

BATCH_SIZE_METRIC = "selfsup_embedding_batch_size"


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children so far, from /proc (Linux); 0 where unreadable."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
        pending.extend(int(child) for child in children)
    return total


def batch_size_totals(url: str) -> tuple[float, float] | None:
    """(encoder runs, inputs) so far from the server's /metrics (loopback clients may read it), or None."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (f"{BATCH_SIZE_METRIC}_count", f"{BATCH_SIZE_METRIC}_sum"):
            values[name] = float(value)
    if len(values) != 2:
        return None
    return values[f"{BATCH_SIZE_METRIC}_count"], values[f"{BATCH_SIZE_METRIC}_sum"]
