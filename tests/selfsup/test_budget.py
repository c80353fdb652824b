"""max_minutes: a run that times its first steps, plans its epochs once, keeps the plan on resume, and whose
schedule ends at the planned step.

The clock is injected: :class:`TickingClock` moves on ``tick`` seconds each time it is read, so every timed
step takes one tick and the plan is exact. 16 px digits, the tiny CNN, 3 steps per epoch.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selfsup.errors import ParamError
from selfsup.methods import get_method
from selfsup.params import params_to_dict
from selfsup.train.budget import TIMED_STEPS, BudgetPlan, plan_budget
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, load_payload
from selfsup.train.hooks import Progress
from selfsup.train.loop import Trainer
from selfsup.train.optim import build_optimizer, build_schedule
from tests.support.training import StepLog

NUM_ITEMS, BATCH = 96, 32
STEPS_PER_EPOCH = NUM_ITEMS // BATCH
# The warm-up step, then TIMED_STEPS (2 reads each); after step 6 the epoch end is timed (2 reads) and the plan
# read once: 13 ticks of 1 s gone from 30 s, 17 left. From step 6, with epoch 1 still to end: 12 more steps cost
# 12 s and their 5 epoch ends (epochs 1 to 5) 5 s, 17 s in all; 13 would cost 13 + 6.
PLANNED_STEPS, PLANNED_EPOCHS = 18, 6


class TickingClock:
    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now - self.tick


@pytest.fixture(scope="module")
def params() -> Any:
    raw = {"backbone": "tiny_cnn", "max_minutes": 0.5, "batch_size": BATCH, "warmup_epochs": 3, "seed": 3}
    return get_method("simclr").validate_request(raw)


@pytest.fixture(scope="module")
def images(digits16: np.ndarray) -> np.ndarray:
    return digits16[:NUM_ITEMS]


def _trainer(params: Any, images: np.ndarray, workdir: Path, hooks: StepLog, tick: float, **kw: Any) -> Trainer:
    return Trainer("simclr", params, images, workdir=workdir, hooks=hooks, probe_size=0, clock=TickingClock(tick), **kw)


def test_plan_budget_fits_the_steps_and_epoch_ends_left() -> None:
    rates = {"steps_per_epoch": 3, "seconds_per_step": 2.0, "seconds_per_epoch_end": 5.0, "max_epochs": 100}
    # 27 more steps: 54 s, and epochs 2 to 10 end (9 x 5 s): 99 s; 28 would start an 11th epoch end: 106 s
    assert plan_budget(100.0, done_steps=6, done_epochs=2, **rates) == BudgetPlan(11, 33, 2.0, 5.0)
    assert plan_budget(-5.0, done_steps=6, done_epochs=2, **rates).total_steps == 6, "spent: it ends now"
    capped = plan_budget(1e9, done_steps=6, done_epochs=2, **{**rates, "max_epochs": 4})
    assert (capped.epochs, capped.total_steps) == (4, 12)


def test_a_budget_run_plans_once_and_its_schedule_ends_at_the_planned_step(
    params: Any, images: np.ndarray, tmp_path: Path
) -> None:
    hooks = StepLog()
    trainer = _trainer(params, images, tmp_path, hooks, tick=1.0)
    result = trainer.fit()
    assert trainer.budget is not None and trainer.budget.plan == BudgetPlan(PLANNED_EPOCHS, PLANNED_STEPS, 1.0, 1.0)
    done = Progress(PLANNED_EPOCHS, PLANNED_EPOCHS, PLANNED_STEPS, PLANNED_STEPS)
    assert result.status == "completed" and result.progress == done
    assert sorted(hooks.steps) == list(range(1, PLANNED_STEPS + 1)) and len(hooks.epoch_ends) == PLANNED_EPOCHS
    before_plan = [hooks.progress[step] for step in range(1, 1 + TIMED_STEPS)]
    assert all((p.epochs, p.total_steps) == (0, 0) for p in before_plan), "nothing planned to show yet"
    assert [hooks.steps[step]["lr"] for step in sorted(hooks.steps)] == pytest.approx(_lrs(params, PLANNED_STEPS))
    stored = load_payload(result.checkpoint_path, CHECKPOINT_FORMAT)
    assert stored["budget_plan"] == trainer.budget.plan.to_dict()


def test_a_resumed_budget_run_keeps_its_plan(params: Any, images: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="died"):  # checkpoint_every_s=0: a checkpoint after every step
        _trainer(params, images, tmp_path, StepLog(crash_at_step=9), tick=1.0, checkpoint_every_s=0).fit()
    resumed = StepLog()
    trainer = _trainer(params, images, tmp_path, resumed, tick=100.0)  # a host 100 times slower
    result = trainer.fit()
    assert trainer.budget is not None and trainer.budget.step_times == [], "no step timed again"
    assert trainer.budget.plan == BudgetPlan(PLANNED_EPOCHS, PLANNED_STEPS, 1.0, 1.0)
    assert result.progress == Progress(PLANNED_EPOCHS, PLANNED_EPOCHS, PLANNED_STEPS, PLANNED_STEPS)
    assert sorted(resumed.steps) == list(range(10, PLANNED_STEPS + 1))
    lrs = [resumed.steps[step]["lr"] for step in sorted(resumed.steps)]
    assert lrs == pytest.approx(_lrs(params, PLANNED_STEPS)[9:]), "the schedule goes on where it was"


def test_epochs_and_max_minutes_are_refused_together_naming_both() -> None:
    with pytest.raises(ParamError) as caught:
        get_method("simclr").validate_request({"epochs": 5, "max_minutes": 2})
    assert [issue.loc for issue in caught.value.issues] == [("params", "epochs"), ("params", "max_minutes")]
    resolved = params_to_dict(get_method("simclr").validate_request({"max_minutes": 2}))
    assert get_method("simclr").validate(resolved).max_minutes == 2, "resolved params (default epochs) read back"


def _lrs(params: Any, total_steps: int) -> list[float]:
    """The lr of each step of a schedule over ``total_steps``, as the run is built (model and optimizer alike)."""
    optimizer = build_optimizer(torch.nn.Linear(2, 2), params)
    schedule = build_schedule(optimizer, params, STEPS_PER_EPOCH, total_steps=total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates
