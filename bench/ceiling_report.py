"""The ceiling report of bench/serve_load.py: the load's HTTP images/s beside the in-process ceiling."""

import argparse
import os

from load_generator import LoadResult, digit_pngs, embed_bodies

BATCH_IMAGES = 64
SERVER_DEFAULTS = {"SELFSUP_SERVE_RUNTIME": "onnx", "SELFSUP_EMBED_MAX_BATCH": "64"}  # app/core/config.py


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
