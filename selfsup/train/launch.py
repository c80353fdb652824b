"""Starting a run's ranks on one host: the calling process is rank 0, the others spawned processes.

The caller (a worker's job attempt, a script) stays rank 0, so the hooks that write progress, metrics and
checkpoints run where they always ran. The other ranks are spawned, not forked: the caller may hold threads,
database sockets or a CUDA context, none of which survive a fork. Each is given ``build``, a picklable callable
(a module-level function or a dataclass instance) that makes that rank's :class:`~selfsup.train.loop.Trainer`
from its :class:`~selfsup.train.distributed.Ranks`, and runs its ``fit``.

A spawned rank exits when its parent goes (a SIGKILLed worker leaves no ranks training on); a rank that fails
breaks the group's next collective on the others, so one failure ends every rank.
"""

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from selfsup.device import pick_device
from selfsup.errors import SelfSupError
from selfsup.train.distributed import Ranks, backend_for, check_devices

if TYPE_CHECKING:
    from selfsup.train.loop import Trainer, TrainResult

RankBuilder = Callable[[Ranks], "Trainer"]
GROUP_TIMEOUT = timedelta(minutes=30)  # how long a rank waits in a collective for the others (a slow probe)
JOIN_SECONDS = 60.0  # for the other ranks to finish once rank 0 has


def fit_on_devices(build: RankBuilder, devices: int, device: str | None = None) -> "TrainResult":
    """Train ``build``'s run on ``devices`` ranks of this host and return rank 0's result."""
    with rank_processes(build, devices, pick_device(device)) as ranks:
        return build(ranks).fit()


@contextmanager
def rank_processes(build: RankBuilder, devices: int, device: torch.device) -> Iterator[Ranks]:
    """Start ranks 1..devices-1, join this process to their group as rank 0 and yield its :class:`Ranks`.

    On leaving, the other ranks are waited for (they end their ``fit`` with rank 0's), or stopped when rank 0
    failed. One device starts nothing and yields the single-process ``Ranks()``.
    """
    if devices == 1:
        yield Ranks()
        return
    check_devices(devices, device)
    backend = backend_for(device)
    store = dist.TCPStore("127.0.0.1", 0, devices, is_master=True, wait_for_workers=False)
    spawn = multiprocessing.get_context("spawn")
    ready = [spawn.Event() for _ in range(1, devices)]
    ranks = [
        spawn.Process(target=_rank_main, args=(build, rank, devices, store.port, backend, os.getpid(), ready[rank - 1]))
        for rank in range(1, devices)
    ]
    for process in ranks:
        process.start()
    try:
        _wait_until_ready(ranks, ready)
        _join_group(backend, store, rank=0, world_size=devices)
        yield Ranks(0, devices)
    except BaseException:
        _stop(ranks)
        raise
    else:
        _join(ranks)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _join_group(backend: str, store: dist.Store, *, rank: int, world_size: int) -> None:
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=GROUP_TIMEOUT)
    if backend == "nccl":
        torch.cuda.set_device(rank)


def _wait_until_ready(ranks: Sequence[BaseProcess], ready: list[Any]) -> None:
    """Wait in Python, not in the group's rendezvous, while the ranks start (tens of seconds on a busy host:
    each imports torch): the rendezvous would hold the interpreter, and the caller's threads (a job's lease
    heartbeat) must keep running."""
    while not all(event.is_set() for event in ready):
        if any(process.exitcode is not None for process in ranks):
            raise SelfSupError("a rank of the run exited while starting: see its output")
        time.sleep(0.1)


def _rank_main(
    build: RankBuilder, rank: int, world_size: int, port: int, backend: str, parent: int, ready: Any
) -> None:
    """A spawned rank: join the group, train, leave."""
    _exit_with(parent)
    ready.set()  # its imports are done: unpickling ``build`` imported what it trains with
    if backend == "gloo":  # the ranks share the host's cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    store = dist.TCPStore("127.0.0.1", port, world_size, is_master=False, timeout=GROUP_TIMEOUT)
    _join_group(backend, store, rank=rank, world_size=world_size)
    try:
        build(Ranks(rank, world_size)).fit()
    finally:
        dist.destroy_process_group()


def _exit_with(parent: int) -> None:
    """End this rank when the process that started it is gone: nothing else would (a SIGKILL runs no cleanup)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="rank-parent-watch", daemon=True).start()


def _join(ranks: Sequence[BaseProcess]) -> None:
    deadline = time.monotonic() + JOIN_SECONDS
    for process in ranks:
        process.join(max(0.0, deadline - time.monotonic()))
    failed = [process.exitcode for process in ranks if process.exitcode != 0]
    _stop(ranks)
    if failed:
        raise SelfSupError(f"{len(failed)} of the run's other ranks did not finish cleanly (exit codes {failed})")


def _stop(ranks: Sequence[BaseProcess]) -> None:
    for process in ranks:
        if process.is_alive():
            process.kill()
    for process in ranks:
        process.join(5)
