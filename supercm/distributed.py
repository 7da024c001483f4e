"""Data-parallel training across processes started by ``torchrun``.

``torchrun --nproc_per_node=N -m supercm train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT`` in every
process. Each rank draws the same global batch (the loaders are seeded
alike), keeps its own contiguous share of the rows, and DistributedDataParallel
averages the gradients, so N ranks step like one process on the global batch
(up to batch-norm statistics, which each rank computes on its share).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size``, on ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main rank writes results, checkpoints and logs progress."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the ``torchrun`` environment variables are present."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def current_context() -> DistributedContext:
    """The context of an initialised process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank)
    return DistributedContext()


def setup(device_type: str = "cpu") -> DistributedContext:
    """Join the process group described by the torchrun variables, if any.

    Uses ``nccl`` with CUDA and ``gloo`` on the CPU. Without the variables,
    or with ``WORLD_SIZE=1``, nothing is initialised. Calling it again once
    the group exists returns the current context.
    """
    if dist.is_available() and dist.is_initialized():
        return current_context()
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
        return DistributedContext()

    local_rank = int(os.environ["LOCAL_RANK"])
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    context = current_context()
    log.info("rank %d of %d joined (%s)", context.rank, context.world_size, backend)
    return context


def teardown() -> None:
    """Leave the process group (a no-op when none exists)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(batch: Tensor, context: DistributedContext) -> Tensor:
    """This rank's contiguous share of ``batch`` (n, ...) along the first axis.

    The first ``n % world_size`` ranks get one row more, so every row is used
    once; a global batch with fewer rows than ranks raises ``ValueError``.
    """
    if not context.enabled:
        return batch
    n = len(batch)
    if n < context.world_size:
        raise ValueError(
            f"a global batch of {n} rows cannot be shared by "
            f"{context.world_size} ranks; use a batch size of at least "
            f"{context.world_size}"
        )
    base, extra = divmod(n, context.world_size)
    start = context.rank * base + min(context.rank, extra)
    stop = start + base + (1 if context.rank < extra else 0)
    return batch[start:stop]


class FeaturesAndOutput(nn.Module):
    """Makes ``model.features_and_output`` the ``forward`` that DDP wraps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        z, out = self.model.features_and_output(x)
        return z, out


def wrap(model: nn.Module, context: DistributedContext, device: torch.device):
    """DistributedDataParallel around ``model.features_and_output``.

    Parameters that a step does not use (the centroids of a ``learned``
    clustering module trained without its loss) are allowed.
    """
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        FeaturesAndOutput(model), device_ids=device_ids,
        find_unused_parameters=True,
    )


def average_gradients(parameters, context: DistributedContext) -> None:
    """All-reduce and average the gradients of parameters that DDP does not hold.

    The objectives' own modules (a domain classifier, for example) live
    outside the wrapped model, so their gradients are averaged here.
    """
    if not context.enabled:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= context.world_size


def any_rank(flag: bool, context: DistributedContext, device=None) -> bool:
    """True on every rank when ``flag`` is true on at least one.

    Lets all ranks stop together (a non-finite loss on one rank would
    otherwise leave the others waiting in the next all-reduce).
    """
    if not context.enabled:
        return bool(flag)
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_module(module: nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers of ``module`` to every rank."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor, src=0)
