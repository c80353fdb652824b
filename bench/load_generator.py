"""The load generator of bench/serve_load.py: concurrent clients on prebuilt requests, and what they saw.

Each client posts its request bodies over one keep-alive connection in a loop, checks each 200's vectors
against that body's answer alone before the load, honours a 503's ``Retry-After`` and counts anything else as
an error.
"""

import asyncio
import base64
import io
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np
from cpu_accounting import batch_size_totals, process_tree_cpu
from PIL import Image
from sklearn.datasets import load_digits

TOLERANCE = 1e-5  # batch composition may change the last float32 bits (app/embeddings/batching.py)
REQUEST_TIMEOUT = 30.0


@dataclass
class LoadResult:
    seconds: float
    ok_latencies: list[float] = field(default_factory=list)
    refused_latencies: list[float] = field(default_factory=list)  # 503 with Retry-After
    errors: Counter[str] = field(default_factory=Counter)
    images_per_request: int = 1
    client_cpu: float = 0.0  # CPU seconds of this process (the load generator) during the load
    server_cpu: float | None = None  # CPU seconds of the server's processes during the load, when known
    batch_sizes: tuple[float, float] | None = None  # the server's encoder runs during the load: (count, inputs)

    @property
    def images_per_second(self) -> float:
        return len(self.ok_latencies) * self.images_per_request / self.seconds

    def cpu_shares(self) -> str:
        cores = os.cpu_count() or 1
        server = "n/a" if self.server_cpu is None else f"{self.server_cpu / self.seconds / cores:.0%}"
        client = f"{self.client_cpu / self.seconds / cores:.0%}"
        line = f"cpu share          load generator {client}, server {server} (of {cores} cores x {self.seconds:.1f} s)"
        if self.server_cpu and self.ok_latencies:
            per_request = self.server_cpu / len(self.ok_latencies) * 1000
            line += f"; server {per_request:.2f} CPU ms per 200, {self.images_per_server_cpu_second:.0f} images/CPU s"
        return line

    @property
    def images_per_server_cpu_second(self) -> float:
        """What a busy shared machine changes least: throughput per CPU second the server actually got."""
        return len(self.ok_latencies) * self.images_per_request / self.server_cpu if self.server_cpu else 0.0

    @property
    def requests(self) -> int:
        return len(self.ok_latencies) + len(self.refused_latencies) + self.errors.total()

    def report(self) -> str:
        lines = [
            f"requests           {self.requests}  ({self.requests / self.seconds:.1f}/s over {self.seconds:.1f} s)",
            f"  200              {len(self.ok_latencies)}  ({len(self.ok_latencies) / self.seconds:.1f}/s)",
            f"  503 Retry-After  {len(self.refused_latencies)}",
            f"  errors           {self.errors.total()}  {dict(self.errors) if self.errors else ''}".rstrip(),
            f"images/s           {self.images_per_second:.1f}  ({self.images_per_request} per request)",
            f"latency of 200s    {percentiles(self.ok_latencies)}",
            self.cpu_shares(),
        ]
        if self.batch_sizes and self.batch_sizes[0]:
            runs, inputs = self.batch_sizes
            lines.append(f"server batches     {runs:.0f} encoder runs, {inputs / runs:.1f} images each on average")
        if self.refused_latencies:
            lines.append(f"latency of 503s    {percentiles(self.refused_latencies)}")
        return "\n".join(lines)


def percentiles(latencies: list[float]) -> str:
    if len(latencies) < 2:
        return "n/a"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return "  ".join(f"p{p} {cuts[p - 1] * 1000:.1f} ms" for p in (50, 95, 99))


def digit_pngs(count: int) -> list[bytes]:
    """scikit-learn's 8x8 digits as 24x24 grayscale PNGs."""
    digits = load_digits()
    pngs = []
    for pixels in digits.images[:count]:
        image = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), mode="L")
        buffer = io.BytesIO()
        image.resize((24, 24), Image.Resampling.NEAREST).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


def embed_bodies(images_per_request: int, variants: int = 16) -> list[bytes]:
    """``variants`` different JSON bodies of ``images_per_request`` digits each, encoded once."""
    pngs = [base64.b64encode(png).decode() for png in digit_pngs(variants + images_per_request)]
    return [json.dumps({"inputs": pngs[i : i + images_per_request]}).encode() for i in range(variants)]


class Connection:
    """One keep-alive HTTP/1.1 connection sending prebuilt requests and reading responses by Content-Length.

    A general client (httpx) spends more CPU per request than the route it measures; on a small machine the
    bench then measures itself. This one does next to nothing per request.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(raw)
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
            if "chunked" in headers.get("transfer-encoding", ""):
                raise ValueError("chunked response")
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection") == "close":
            self.close()
        return int(status_line.split()[1]), headers, body

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def raw_post(host: str, path: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run_load(
    url: str, key: str, model_id: str, *, clients: int, seconds: float, images: int, server_pid: int | None = None
) -> LoadResult:
    """``clients`` concurrent clients posting ``images`` images per request until ``seconds`` have passed."""
    parsed = urlparse(url)
    address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
    requests = [raw_post(parsed.netloc, f"/v1/models/{model_id}/embed", key, b) for b in embed_bodies(images)]
    expected = await expected_vectors(Connection(*address), requests)
    result = LoadResult(seconds=seconds, images_per_request=images)
    batches_before = batch_size_totals(url)
    server_before = process_tree_cpu(server_pid) if server_pid else None
    client_before, started = time.process_time(), time.monotonic()
    deadline = started + seconds
    connections = [Connection(*address) for _ in range(clients)]
    await asyncio.gather(*(_client(c, i, requests, expected, deadline, result) for i, c in enumerate(connections)))
    result.seconds = time.monotonic() - started
    result.client_cpu = time.process_time() - client_before
    if server_before is not None and server_pid:
        result.server_cpu = process_tree_cpu(server_pid) - server_before
    for connection in connections:
        connection.close()
    batches_after = batch_size_totals(url)
    if batches_before and batches_after:
        result.batch_sizes = (batches_after[0] - batches_before[0], batches_after[1] - batches_before[1])
    return result


async def expected_vectors(connection: Connection, requests: list[bytes]) -> list[np.ndarray]:
    """Each request's vectors, asked for one at a time before the load."""
    expected = []
    for raw in requests:
        status, _, body = await connection.send(raw)
        if status != 200:
            raise SystemExit(f"the embedding route answered {status}: {body[:500]!r}")
        expected.append(np.array(json.loads(body)["embeddings"], dtype=np.float32))
    connection.close()
    return expected


async def _client(
    connection: Connection,
    index: int,
    requests: list[bytes],
    expected: list[np.ndarray],
    deadline: float,
    result: LoadResult,
) -> None:
    sent = 0
    while (now := time.monotonic()) < deadline:
        variant = (index + sent) % len(requests)
        sent += 1
        try:
            status, headers, body = await asyncio.wait_for(connection.send(requests[variant]), REQUEST_TIMEOUT)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            result.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.05)  # a refused connection fails at once; do not spin on it
            continue
        latency = time.monotonic() - now
        outcome = _classify(status, headers, body, expected[variant])
        if outcome == "ok":
            result.ok_latencies.append(latency)
        elif outcome == "refused":
            result.refused_latencies.append(latency)
            connection.close()  # the server may drop an idle keep-alive connection while we wait
            await asyncio.sleep(min(float(headers["retry-after"]), max(0.0, deadline - time.monotonic())))
        else:
            result.errors[outcome] += 1


def _classify(status: int, headers: dict[str, str], body: bytes, expected: np.ndarray) -> str:
    """ok, refused (a 503 with Retry-After and a JSON detail) or what went wrong."""
    try:
        content = json.loads(body)
    except ValueError:
        return f"status {status} without JSON"
    if status == 503:
        return "refused" if headers.get("retry-after", "").isdigit() and "detail" in content else "bad 503"
    if status != 200:
        return f"status {status}"
    vectors = np.array(content["embeddings"], dtype=np.float32)
    if vectors.shape != expected.shape or not np.allclose(vectors, expected, rtol=0, atol=TOLERANCE):
        return "wrong vectors"
    return "ok"
