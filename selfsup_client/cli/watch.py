"""The live view of a running job: a rich progress bar plus the latest numbers, fed by ``jobs.wait``."""

from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text

from selfsup_client.cli.output import stderr
from selfsup_client.client import Client
from selfsup_client.schemas import Job, MetricPoint

SHOWN_METRICS = (("loss", "loss"), ("lr", "lr"), ("samples_per_second", "samples/s"), ("rankme", "RankMe"))


class JobWatch:
    """Keeps the latest job and metrics and redraws on each; ``render`` is what the terminal shows."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=stderr)
        self.bar = self.progress.add_task("queued", total=1.0)
        self.latest: dict[str, Any] = {}
        self.job: Job | None = None

    def on_job(self, job: Job) -> None:
        self.job = job
        self.latest.update({k: v for k, v in job.get("metrics", {}).items() if v is not None})
        progress = job["progress"]
        phase = job.get("phase") or job["status"]
        where = f"epoch {progress['epoch']}/{progress['epochs']} step {progress['step']}/{progress['total_steps']}"
        self.progress.update(self.bar, completed=progress["fraction"], description=f"{job['id']} {phase} {where}")

    def on_metric(self, point: MetricPoint) -> None:
        self.latest.update({k: v for k, v in point["values"].items() if v is not None})

    def render(self) -> Group:
        return Group(self.progress, Text(self.numbers()), Text(self.warning(), style="bold yellow"))

    def numbers(self) -> str:
        shown = [f"{label} {_number(self.latest[key])}" for key, label in SHOWN_METRICS if key in self.latest]
        if self.job is not None and self.job.get("eta_seconds") is not None:
            shown.append(f"ETA {self.job['eta_seconds']:.0f} s")
        return "  ".join(shown)

    def warning(self) -> str:
        collapse = self.latest.get("warning")
        return f"collapse warning: {collapse}" if collapse else ""


def watch_job(client: Client, job: Job | str) -> Job:
    """Show the job live until it ends; its final state."""
    view = JobWatch()
    with Live(view.render(), console=stderr, refresh_per_second=4, transient=False) as live:

        def redraw_job(current: Job) -> None:
            view.on_job(current)
            live.update(view.render())

        def redraw_metric(point: MetricPoint) -> None:
            view.on_metric(point)
            live.update(view.render())

        return client.jobs.wait(job, on_progress=redraw_job, on_metric=redraw_metric)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
