"""Runs bounded by time rather than by epochs (``max_minutes``): time the first steps, then plan once.

The run's first step is a warm-up (allocations, kernel selection, caches) and is not timed; the next
:data:`TIMED_STEPS` are, one by one, so that an epoch's end falling among them cannot inflate the rate. The
trainer then times one epoch end (the probe and a checkpoint) and :func:`plan_budget` fixes how many steps
fit what is left of the budget with an epoch end after each epoch, the last one partial as with ``max_steps``.
The plan is stored in every checkpoint from then on, so a resumed run keeps it (a slower host finishes late
rather than training a different schedule), and the learning-rate schedule spans exactly its steps.
"""

import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from selfsup.errors import SelfSupError
from selfsup.params import MAX_EPOCHS

TIMED_STEPS = 5
WARMUP_STEPS = 1

Clock = Callable[[], float]  # seconds, monotonic


@dataclass(frozen=True)
class BudgetPlan:
    """What a ``max_minutes`` run was fixed to: its epochs (the last may be partial) and its steps, and the
    rates they were planned from."""

    epochs: int
    total_steps: int
    seconds_per_step: float
    seconds_per_epoch_end: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "BudgetPlan":
        return cls(**raw)


def plan_budget(
    remaining_s: float,
    *,
    done_steps: int,
    done_epochs: int,
    steps_per_epoch: int,
    seconds_per_step: float,
    seconds_per_epoch_end: float,
    max_epochs: int,
) -> BudgetPlan:
    """The most steps, counted from the start of the run, whose time from now fits ``remaining_s``: each
    step ``seconds_per_step``, and every epoch still to end (the one under way included) ``seconds_per_epoch_end``.

    Never fewer than ``done_steps`` (a budget already spent ends the run at once) and never more than
    ``max_epochs`` epochs.
    """

    def cost(extra: int) -> float:
        epoch_ends = math.ceil((done_steps + extra) / steps_per_epoch) - done_epochs
        return extra * seconds_per_step + max(epoch_ends, 0) * seconds_per_epoch_end

    low, high = 0, max(max_epochs * steps_per_epoch - done_steps, 0)
    while low < high:  # cost only grows with the steps: the largest that fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if cost(middle) <= remaining_s else (low, middle - 1)
    total = max(done_steps + low, 1)
    return BudgetPlan(math.ceil(total / steps_per_epoch), total, seconds_per_step, seconds_per_epoch_end)


class StepBudget:
    """A ``max_minutes`` run's clock: its start, its first steps' times, and once fixed, its plan.

    ``clock`` reads seconds (tests inject one); ``sync`` waits for the device's queued work, so that a step's
    time is its compute and not only its launch.
    """

    def __init__(self, max_minutes: float, *, clock: Clock = time.monotonic, sync: Callable[[], None]) -> None:
        if max_minutes <= 0:
            raise SelfSupError(f"max_minutes must be positive, not {max_minutes}")
        self.budget_s = max_minutes * 60
        self.clock, self.sync = clock, sync
        self.plan: BudgetPlan | None = None
        self.started: float | None = None
        self.step_times: list[float] = []
        self._seen_steps = 0

    def start(self) -> None:
        """The budget counts from the first call: the start of the run's first attempt, or of a resumed
        attempt whose earlier one stopped before it planned."""
        if self.started is None:
            self.started = self.clock()

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Around one step: times it when it is one of the timed ones, else does nothing."""
        timed = self.plan is None and self._seen_steps >= WARMUP_STEPS and not self.measured
        began = self._now() if timed else 0.0
        yield
        self._seen_steps += 1
        if timed:
            self.step_times.append(self._now() - began)

    @property
    def measured(self) -> bool:
        return len(self.step_times) >= TIMED_STEPS

    def time(self, work: Callable[[], object]) -> float:
        """Seconds ``work`` takes, the device's queued work included."""
        began = self._now()
        work()
        return self._now() - began

    def fix(
        self, *, done_steps: int, done_epochs: int, steps_per_epoch: int, epoch_end_s: float, max_epochs: int
    ) -> BudgetPlan:
        """Plan from the timed steps and what is left of the budget; once only."""
        if self.plan is not None or self.started is None:
            raise SelfSupError("a budget is planned once, after its run has started")
        self.plan = plan_budget(
            self.budget_s - (self._now() - self.started),
            done_steps=done_steps,
            done_epochs=done_epochs,
            steps_per_epoch=steps_per_epoch,
            seconds_per_step=sorted(self.step_times)[len(self.step_times) // 2],  # median: a hiccup is no rate
            seconds_per_epoch_end=epoch_end_s,
            max_epochs=max_epochs,
        )
        return self.plan

    def plan_once_measured(
        self, *, done_steps: int, done_epochs: int, steps_per_epoch: int, epoch_end: Callable[[], object]
    ) -> bool:
        """Once the first steps are timed and not before, time one ``epoch_end`` (the probe and a checkpoint)
        and fix the plan; whether this call planned (the caller then spans its schedule over the plan)."""
        if self.plan is not None or not self.measured:
            return False
        self.fix(
            done_steps=done_steps,
            done_epochs=done_epochs,
            steps_per_epoch=steps_per_epoch,
            epoch_end_s=self.time(epoch_end),
            max_epochs=MAX_EPOCHS,
        )
        return True

    def _now(self) -> float:
        self.sync()
        return self.clock()


def step_timing(budget: StepBudget | None) -> AbstractContextManager[None]:
    """Around one step: a ``max_minutes`` run's timing of it; nothing for a run without a budget."""
    return budget.timing() if budget is not None else nullcontext()
