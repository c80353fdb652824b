"""What a training checkpoint holds: every stateful object of a run, and the check that one belongs to a run.

:class:`~selfsup.train.loop.Trainer` writes it with :func:`checkpoint_payload` and, resuming, refuses one from
another run with :func:`check_same_run` before restoring from it.
"""

from pathlib import Path
from typing import Any

import torch

from selfsup.data.base import TrainingData
from selfsup.errors import CheckpointError
from selfsup.methods.base import SSLMethod
from selfsup.params import params_to_dict
from selfsup.train.budget import BudgetPlan
from selfsup.train.checkpoint import CHECKPOINT_FORMAT, rng_state


def checkpoint_payload(
    *,
    method: str,
    params: Any,
    model: SSLMethod,
    data: TrainingData,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: dict[str, int],
    max_steps: int | None,
    budget_plan: BudgetPlan | None,
    rank_rng: Any = None,
) -> dict[str, Any]:
    """The run's weights, optimizer and schedule, resolved params, backbone spec, data description and serving
    assets, progress counters (``epoch``, ``step``, ``step_in_epoch``), limits and random-number states."""
    return {
        "format": CHECKPOINT_FORMAT,
        "method": method,
        "params": params_to_dict(params),
        "backbone": model.backbone.spec.to_dict(),
        "data": data.describe(),
        "assets": data.serving_assets(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "progress": progress,
        "max_steps": max_steps,
        "budget_plan": budget_plan.to_dict() if budget_plan else None,
        "rng": rng_state(),
        **({"rank_rng": rank_rng} if rank_rng is not None else {}),
    }


def check_same_run(
    path: Path, payload: dict[str, Any], *, method: str, same_params: bool, max_steps: int | None, num_items: int
) -> None:
    """Raise CheckpointError unless the checkpoint at ``path`` is of this method, params, limit and data size."""
    if payload["method"] != method or not same_params:
        raise CheckpointError(f"{path} belongs to a different run (method or params differ)")
    if payload.get("max_steps") != max_steps:  # checkpoints from before the option have none
        raise CheckpointError(
            f"{path} belongs to a different run (max_steps {payload.get('max_steps')}, not {max_steps})"
        )
    if payload["data"]["num_items"] != num_items:
        raise CheckpointError(f"{path} was trained on {payload['data']['num_items']} items, not {num_items}")


def check_same_architecture(path: Path, payload: dict[str, Any], model: SSLMethod) -> None:
    """Raise CheckpointError unless the checkpoint's weights have the shapes ``model``'s have.

    The same params can build another architecture once a backbone changes (small_cnn was widened): such a run
    cannot resume, and saying so beats a size-mismatch error that a retry would only repeat.
    """
    stored = {key: getattr(value, "shape", None) for key, value in payload["model"].items()}
    built = {key: getattr(value, "shape", None) for key, value in model.state_dict().items()}
    if stored != built:
        name = payload["backbone"].get("name", "backbone")
        raise CheckpointError(f"{path} holds a {name} of other shapes than this version builds; start the run anew")
