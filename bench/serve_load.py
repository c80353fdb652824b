"""Load on the embedding route: N concurrent clients for D seconds against a real server on 127.0.0.1.

Each client posts a few digit images (base64 JSON) to ``POST /v1/models/{id}/embed`` in a loop. A 200 must
carry the same vectors (within 1e-5) as that request's payload got alone before the load; a 503 must carry
``Retry-After``, which the client honours as a real one would. Anything else (another status, a 503 without
``Retry-After``, wrong vectors, a timeout or a connection error) is an error, and any error makes the
exit status 1.

    python bench/serve_load.py                                  # start a server, train a tiny model, 64 x 30 s
    python bench/serve_load.py --clients 32 --seconds 5 --env SELFSUP_EMBED_QUEUE_LIMIT=8
    python bench/serve_load.py --url http://127.0.0.1:8000 --key ssk_... [--model mdl_...]

After the load it prints the in-process ceiling of the same model on the same request bodies (JSON parsed,
base64 and PNG decoded, embedded in batches of the server's ``max_batch``), torch beside onnxruntime (from its
exports; see bench/runtime_ceiling.py), and the HTTP images/s as a share of it, unless ``--ceiling-seconds 0``.
It also prints the CPU share of the load generator and of the server during the load (process CPU time /
wall / cores) and the server's mean batch size: on a small machine the generator's share is what HTTP
could not have.

Without ``--url`` it starts ``selfsup migrate``, ``selfsup api`` and, to train the model through the HTTP
API (scikit-learn digits, SimCLR, tiny_cnn, one epoch), ``selfsup worker``, which it stops before the load;
the data lives in a temporary directory (SQLite unless ``--database-url``).
"""

import argparse
import asyncio
import base64
import io
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

LOCAL_HOSTS = ("127.0.0.1", "localhost")
TOLERANCE = 1e-5  # batch composition may change the last float32 bits (app/embeddings/batching.py)
REQUEST_TIMEOUT = 30.0
BATCH_IMAGES = 64
SERVER_DEFAULTS = {"SELFSUP_SERVE_RUNTIME": "onnx", "SELFSUP_EMBED_MAX_BATCH": "64"}  # app/core/config.py
BATCH_SIZE_METRIC = "selfsup_embedding_batch_size"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_tiny_model(url: str, key: str, *, timeout: float = 300) -> str:
    """Upload 256 digits, train SimCLR on tiny_cnn for one epoch through the API, return the model id."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for index, png in enumerate(digit_pngs(256)):
            zipped.writestr(f"digit_{index:04d}.png", png)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        files = {"file": ("digits.zip", archive.getvalue())}
        dataset = http.post("/v1/datasets", files=files, data={"name": "digits", "image_size": "16"})
        dataset.raise_for_status()
        wait_until_ingested(http, dataset.json()["id"], timeout)
        params = {"backbone": "tiny_cnn", "epochs": 1, "batch_size": 32}
        spec = {"dataset_id": dataset.json()["id"], "method": "simclr", "params": params}
        job = http.post("/v1/jobs", json=spec).raise_for_status().json()
        deadline = time.monotonic() + timeout
        while (job := http.get(f"/v1/jobs/{job['id']}").raise_for_status().json())["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job['id']} still {job['status']} after {timeout:.0f} s: is a worker running?")
            time.sleep(0.5)
    if job["status"] != "succeeded":
        raise SystemExit(f"training failed: {job['error']}")
    return str(job["model_id"])


def wait_until_ingested(http: httpx.Client, dataset_id: str, timeout: float) -> None:
    """Uploads are ingested by a worker: a job on a dataset still processing is a 409."""
    deadline = time.monotonic() + timeout
    while (status := http.get(f"/v1/datasets/{dataset_id}").raise_for_status().json()["status"]) == "processing":
        if time.monotonic() > deadline:
            raise SystemExit(f"dataset {dataset_id} still processing after {timeout:.0f} s: is a worker running?")
        time.sleep(0.5)
    if status != "ready":
        raise SystemExit(f"ingest of dataset {dataset_id} ended {status}")


class Child:
    """``python -m app.cli <command>`` in a session of its own, logging to a file."""

    def __init__(self, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.log_path = log_dir / f"{command}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", command],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, grace: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def wait_until(self, ready: Callable[[], bool], *, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.log_path.stem} exited:\n{self.log()[-3000:]}")
            if ready():
                return
            time.sleep(0.3)
        raise SystemExit(f"{self.log_path.stem} not ready after {timeout:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def local_service(args: argparse.Namespace) -> Iterator[tuple[str, str, str, int | None]]:
    """Start a migrated API on a free port (plus a worker while training); yield (url, key, model id, api pid)."""
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        key = "ssk_" + secrets.token_urlsafe(32)
        port = free_port()
        env = dict(
            [e.split("=", 1) for e in args.env],
            SELFSUP_DATA_DIR=str(Path(tmp) / "data"),
            SELFSUP_PORT=str(port),
            SELFSUP_BOOTSTRAP_ADMIN_KEY=key,
        )
        if args.database_url:
            env["SELFSUP_DATABASE_URL"] = args.database_url
        subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env={**os.environ, **env}, check=True)
        url = f"http://127.0.0.1:{port}"
        api = Child("api", env, Path(tmp))
        try:
            api.wait_until(lambda: _answers(f"{url}/readyz"))
            model_id = args.model or _train_with_worker(url, key, env, Path(tmp))
            yield url, key, model_id, api.process.pid
        finally:
            api.stop()


def _train_with_worker(url: str, key: str, env: dict[str, str], log_dir: Path) -> str:
    worker = Child("worker", env, log_dir)
    try:
        worker.wait_until(lambda: " ready." in worker.log())
        return train_tiny_model(url, key)
    finally:
        worker.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64, choices=range(1, 257), metavar="1..256")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the load, at most 300")
    parser.add_argument("--images", type=int, default=4, choices=range(1, 257), metavar="1..256")
    parser.add_argument("--url", help="a running server on 127.0.0.1 (else one is started)")
    parser.add_argument("--key", help="an API key with the write scope, for --url")
    parser.add_argument("--model", help="an existing model id (else a tiny one is trained)")
    parser.add_argument("--database-url", help="for the server started here; SQLite in a temp dir by default")
    parser.add_argument(
        "--ceiling-seconds", type=float, default=5.0, help="per runtime for the in-process torch/onnx ceiling; 0: skip"
    )
    parser.add_argument("--env", action="append", default=[], metavar="SELFSUP_X=V", help="for the server started")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 300:
        parser.error("--seconds must be in (0, 300]")
    if args.url and (urlparse(args.url).hostname not in LOCAL_HOSTS or not args.key):
        parser.error("--url must be on 127.0.0.1 and needs --key")
    if any("=" not in e or not e.startswith("SELFSUP_") for e in args.env):
        parser.error("--env takes SELFSUP_NAME=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with local_service(args) if args.url is None else _remote(args) as (url, key, model_id, server_pid):
        print(f"embedding load: {args.clients} clients x {args.seconds:g} s, {args.images} images per request")
        print(f"server {url}, model {model_id}", flush=True)
        load = run_load(
            url, key, model_id, clients=args.clients, seconds=args.seconds, images=args.images, server_pid=server_pid
        )
        try:
            result = asyncio.run(load)
        except OSError as exc:
            raise SystemExit(f"cannot reach {url}: {exc}") from None
        print(result.report(), flush=True)
        if args.ceiling_seconds > 0:
            print(ceiling_comparison(args, url, key, model_id, result))
    return 1 if result.errors else 0


def ceiling_comparison(args: argparse.Namespace, url: str, key: str, model_id: str, result: LoadResult) -> str:
    """The in-process ceilings on the load's own bodies, and HTTP's images/s as a share of the server runtime's."""
    # A sibling script's module, loaded here only: it imports torch and onnxruntime.
    from runtime_ceiling import measure

    server = {**SERVER_DEFAULTS, **{k: v for k, v in os.environ.items() if k in SERVER_DEFAULTS}}
    server.update(e.split("=", 1) for e in args.env if e.split("=", 1)[0] in SERVER_DEFAULTS)
    runtime, max_batch = server["SELFSUP_SERVE_RUNTIME"], int(server["SELFSUP_EMBED_MAX_BATCH"])
    bodies = embed_bodies(args.images)
    ceilings = measure(
        url, key, model_id, digit_pngs(BATCH_IMAGES), bodies, seconds=args.ceiling_seconds, max_batch=max_batch
    )
    ceiling = next(c for c in ceilings if c.runtime == runtime).decode_embed
    ratio = result.images_per_second / ceiling.wall
    line = (
        f"HTTP / ceiling     {result.images_per_second:.0f} / {ceiling.wall:.0f} images/s = {ratio:.2f} "
        f"(server runtime {runtime}, decode+embed in one thread in-process)"
    )
    if result.server_cpu:
        efficiency = result.images_per_server_cpu_second / ceiling.cpu
        line += (
            f"\nper CPU second     {result.images_per_server_cpu_second:.0f} / {ceiling.cpu:.0f} images = "
            f"{efficiency:.2f} (HTTP server vs in-process: the share left when other load takes the cores)"
        )
    return line


@contextmanager
def _remote(args: argparse.Namespace) -> Iterator[tuple[str, str, str, int | None]]:
    url = args.url.rstrip("/")
    yield url, args.key, args.model or train_tiny_model(url, args.key), None


if __name__ == "__main__":
    sys.exit(main())
