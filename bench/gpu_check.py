"""The ready GPU check (issue 14): training throughput, data_wait, peak GPU memory and embed-route serving.

Runs bench/train_throughput.py (paths A, B, C) for ResNet-18 at 32 px batch 512 and ViT-S at 96 px batch 512,
and bench/serve_load.py against a server on CUDA and on CPU (``SELFSUP_SERVE_DEVICE``), each as a child
process under its own time budget so that the whole stays under ten minutes; then prints one table, also
written to $OUT/gpu_check.txt when OUT is set. A part that fails or runs out of time is a row that says so;
the exit status is 1 when any part failed.

    python bench/gpu_check.py --check-imports     # which of the project's imports are missing, and exit
    python bench/gpu_check.py                     # the full check (on a lent H200: bash bench/gpu_check.sh)
    python bench/gpu_check.py --cpu-smoke         # the same code paths at tiny sizes on CPU, in seconds (CI)
"""

import argparse
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TOTAL_BUDGET_S = 540.0  # the device call's limit is 600 s; the wheel install and start-up take the rest
# Top-level module -> the distribution that brings it: what the check's code paths import.
NEEDED = {
    "torch": "torch", "torchvision": "torchvision", "timm": "timm", "kornia": "kornia", "lightly": "lightly",
    "numpy": "numpy", "PIL": "pillow", "sklearn": "scikit-learn", "transformers": "transformers",
    "tokenizers": "tokenizers", "safetensors": "safetensors", "onnx": "onnx", "onnxruntime": "onnxruntime",
    "usearch": "usearch", "umap": "umap-learn", "pyarrow": "pyarrow", "fastapi": "fastapi",
    "starlette": "starlette", "pydantic": "pydantic", "pydantic_settings": "pydantic-settings",
    "multipart": "python-multipart", "swagger_ui_bundle": "swagger-ui-bundle", "uvicorn": "uvicorn",
    "sqlalchemy": "sqlalchemy", "alembic": "alembic", "celery": "celery", "kombu": "kombu", "httpx": "httpx",
    "boto3": "boto3", "prometheus_client": "prometheus-client", "typer": "typer", "rich": "rich",
}  # fmt: skip
# Our entry modules, imported for real: a present but too old package fails here rather than mid-check.
ENTRY_MODULES = ["selfsup.train.loop", "app.main", "app.cli", "worker.tasks"]


@dataclass(frozen=True)
class Size:
    """How big each part is: the H200 sizes, or the CPU smoke test's."""

    resnet: list[str]  # train_throughput.py arguments
    vit: list[str] | None  # None: the row says it was skipped (the smoke test runs that code path once)
    serve: list[str]  # serve_load.py arguments
    serve_devices: tuple[str, ...]
    train_budget_s: float
    serve_budget_s: float


def full_size() -> Size:
    workers = str(max(2, min(8, (os.cpu_count() or 4) // 2)))  # A's DataLoader: half the cores, at most 8
    common = ["--batch-size", "512", "--warmup-steps", "5", "--rounds", "3", "--workers", workers]
    return Size(
        resnet=["--backbone", "resnet18", "--image-size", "32", "--steps", "30", *common],
        # Fewer steps: A's per-sample PIL transforms are slowest at 96 px, where blur joins them (64 px on).
        vit=["--backbone", "vit_small", "--image-size", "96", "--steps", "20", *common],
        serve=["--clients", "64", "--seconds", "20", "--ceiling-seconds", "0"],
        serve_devices=("cuda", "cpu"),
        train_budget_s=150,
        serve_budget_s=110,
    )


def smoke_size() -> Size:
    """Seconds on a loaded CPU: tiny_cnn stands in for ResNet-18 (a ViT-S step takes seconds there), and the
    ViT part, the same code path with other arguments, is left out, as is the CUDA server: each child process
    costs tens of seconds of start-up on a loaded CI machine."""
    tiny = ["--backbone", "tiny_cnn", "--image-size", "16", "--batch-size", "16", "--steps", "2"]
    tiny += ["--warmup-steps", "1", "--rounds", "1", "--workers", "1", "--device", "cpu"]
    return Size(
        resnet=tiny,
        vit=None,
        serve=["--clients", "2", "--seconds", "2", "--ceiling-seconds", "0"],
        serve_devices=("cpu",),
        train_budget_s=120,
        serve_budget_s=150,
    )


def missing_imports() -> list[str]:
    """What is missing, one line each, with the distribution that brings it."""
    lines = [f"{module} (pip: {dist})" for module, dist in NEEDED.items() if importlib.util.find_spec(module) is None]
    if lines:
        return lines  # importing our modules would only fail on the first of these
    for module in ENTRY_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # an old version fails with any error at import; name it whatever it is
            lines.append(f"{module}: {type(exc).__name__}: {exc}")
    return lines


class Deadline:
    """The whole check's time budget, shared out so that a part that hangs cannot starve the rest."""

    def __init__(self, total_s: float) -> None:
        self.ends = time.monotonic() + total_s

    def budget(self, part_s: float) -> float:
        return max(0.0, min(part_s, self.ends - time.monotonic()))


def run_child(command: list[str], budget_s: float, log: Path, env: dict[str, str] | None = None) -> str | None:
    """Run ``command`` for at most ``budget_s``; None when it succeeded, else why not. Output goes to ``log``."""
    if budget_s <= 0:
        return "skipped: the check's time budget is spent"
    with log.open("wb") as out:
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=budget_s, env=env)
        except subprocess.TimeoutExpired:
            return f"timed out after {budget_s:.0f} s (log {log.name})"
    return None if done.returncode == 0 else f"exit {done.returncode}: {last_line(log)}"


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def train_rows(label: str, arguments: list[str], budget_s: float, logs: Path) -> list[str]:
    """One row per path (A, B, C) of train_throughput.py: samples/s, data_wait and peak GPU memory."""
    figures = logs / f"train-{label.split()[0]}.json"
    command = [sys.executable, str(BENCH / "train_throughput.py"), *arguments, "--json", str(figures)]
    failure = run_child(command, budget_s, logs / f"train-{label.split()[0]}.log")
    if failure is not None:
        return [row(f"train {label}", "-", "-", "-", failure)]
    result = json.loads(figures.read_text())
    shape = f"{result['backbone']} {result['image_size']}px b{result['batch_size']} on {result['device']}"
    rows = []
    for path, values in result["paths"].items():
        peak = "n/a" if values["peak_gib"] is None else f"{values['peak_gib']:.2f}"
        rows.append(
            row(f"train {label} {path}", f"{values['samples_per_s']:.1f}", f"{values['data_wait']:.3f}", peak, shape)
        )
    return rows


SERVED = re.compile(r"^\s+200\s+(\d+)\s+\(([\d.]+)/s\)", re.MULTILINE)


def serve_row(device: str, arguments: list[str], budget_s: float, logs: Path) -> str:
    """serve_load.py against a server on ``device``: embedded images/s (200s/s x images per request)."""
    log = logs / f"serve-{device}.log"
    command = [sys.executable, str(BENCH / "serve_load.py"), *arguments, "--env", f"SELFSUP_SERVE_DEVICE={device}"]
    failure = run_child(command, budget_s, log)
    served = SERVED.search(log.read_text(errors="replace")) if log.exists() else None
    if served is None:
        return row(f"serve embed {device}", "-", "-", "-", failure or f"no 200s line (log {log.name})")
    images = int(arguments[arguments.index("--images") + 1]) if "--images" in arguments else 4
    note = f"{float(served.group(2)):.1f} requests/s x {images} images" + (f"; {failure}" if failure else "")
    if not knows_serve_device():
        note += "; this server has no SELFSUP_SERVE_DEVICE setting: it served on CPU"
    return row(f"serve embed {device}", f"{float(served.group(2)) * images:.1f}", "-", "-", note)


def knows_serve_device() -> bool:
    """Whether the server reads SELFSUP_SERVE_DEVICE (pydantic-settings ignores variables it has no field for)."""
    from app.core.config import Settings

    return "serve_device" in Settings.model_fields


def row(part: str, samples_per_s: str, data_wait: str, peak_gib: str, note: str) -> str:
    return f"{part:<26} {samples_per_s:>11} {data_wait:>10} {peak_gib:>9}  {note}"


def header(smoke: bool) -> list[str]:
    import torch  # here, not at the top: --check-imports must run where torch is missing too

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    mode = "CPU smoke (tiny sizes)" if smoke else "full"
    return [
        f"gpu_check {mode} | torch {torch.__version__} | {gpu} | {os.cpu_count()} cores",
        row("part", "samples/s", "data_wait", "peak GiB", "note"),
    ]


def run_check(size: Size, smoke: bool, logs: Path) -> list[str]:
    deadline = Deadline(TOTAL_BUDGET_S)
    lines = header(smoke)
    lines += train_rows("resnet18-32px", size.resnet, deadline.budget(size.train_budget_s), logs)
    if size.vit is None:
        lines.append(row("train vit_small-96px", "-", "-", "-", "skipped: CPU smoke"))
    else:
        lines += train_rows("vit_small-96px", size.vit, deadline.budget(size.train_budget_s), logs)
    for device in size.serve_devices:
        lines.append(serve_row(device, size.serve, deadline.budget(size.serve_budget_s), logs))
    if smoke:
        lines.append(row("serve embed cuda", "-", "-", "-", "skipped: CPU smoke"))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on CPU: the same code paths")
    parser.add_argument("--check-imports", action="store_true", help="list missing imports and exit")
    parser.add_argument("--logs", type=Path, help="where the parts' logs go (default: a temporary folder)")
    args = parser.parse_args()
    if missing := missing_imports():
        print("missing on this machine:\n  " + "\n  ".join(missing), file=sys.stderr)
        print("bring them as wheels: bash bench/gpu_wheels.sh, then carry .whl (README: GPU check)", file=sys.stderr)
        return 2
    if args.check_imports:
        print("every import the check needs is there")
        return 0
    logs = args.logs or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    logs.mkdir(parents=True, exist_ok=True)
    table = "\n".join(run_check(smoke_size() if args.cpu_smoke else full_size(), args.cpu_smoke, logs))
    print(table)
    if out := os.environ.get("OUT"):
        Path(out, "gpu_check.txt").write_text(table + "\n")
    failed = any(part in line for line in table.splitlines() for part in ("exit ", "timed out", "no 200s"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
