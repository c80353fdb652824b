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
import sys
from urllib.parse import urlparse

from ceiling_report import ceiling_comparison
from load_generator import run_load
from server_processes import local_service, remote_service

LOCAL_HOSTS = ("127.0.0.1", "localhost")


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
    with local_service(args) if args.url is None else remote_service(args) as (url, key, model_id, server_pid):
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


if __name__ == "__main__":
    sys.exit(main())
