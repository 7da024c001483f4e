"""Loaders that yield paired labeled and unlabeled batches, resumable by step."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from .validation import ParameterError, check_int


class InfiniteSampler(Sampler[int]):
    """Endless indices: a fresh permutation of ``range(size)`` per epoch.

    Epoch ``e`` uses the permutation drawn from ``seed + e``, so the stream
    depends on the seed alone (not on workers or global RNG state) and can be
    restarted at any position with ``start``.
    """

    def __init__(self, size: int, seed: int = 0, start: int = 0):
        check_int("size", size, low=1)
        check_int("seed", seed, low=0)
        check_int("start", start, low=0)
        self.size = size
        self.seed = seed
        self.start = start

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.size)
        while True:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
            yield from order[offset:]
            epoch, offset = epoch + 1, 0


def seed_worker(worker_id: int) -> None:
    """Seed Python and NumPy in a DataLoader worker from torch's per-worker seed.

    torch seeds each worker with ``base_seed + worker_id``, where the base seed
    comes from the loader's generator; so workers draw different numbers, and
    the same numbers again for the same loader seed.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def loader_settings(seed: int, num_workers: int = 0,
                    pin_memory: bool | None = None) -> dict:
    """DataLoader keyword arguments that make loading repeatable and quiet.

    A generator seeded with ``seed`` (so the loader never draws from, or
    disturbs, the global RNG), :func:`seed_worker` in every worker, persistent
    workers when there are any, and ``pin_memory`` when batches go to a CUDA
    device (``None``: whenever CUDA is available; pinning without CUDA warns).
    """
    check_int("seed", seed, low=0)
    check_int("num_workers", num_workers, low=0)
    return {
        "num_workers": num_workers,
        "pin_memory": (torch.cuda.is_available() if pin_memory is None
                       else bool(pin_memory) and torch.cuda.is_available()),
        "worker_init_fn": seed_worker,
        "generator": torch.Generator().manual_seed(seed),
        "persistent_workers": num_workers > 0,
    }


def endless_loader(
    x: Tensor,
    y: Tensor | None,
    batch_size: int,
    seed: int,
    start_batch: int = 0,
    num_workers: int = 0,
    dataset: Dataset | None = None,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader that never ends, starting at batch ``start_batch``.

    ``dataset`` replaces the default ``TensorDataset(x, y)`` (it must have
    ``len(x)`` rows).
    """
    check_int("batch_size", batch_size, low=1)
    check_int("start_batch", start_batch, low=0)
    if dataset is None:
        dataset = TensorDataset(x) if y is None else TensorDataset(x, y)
    sampler = InfiniteSampler(len(dataset), seed, start=start_batch * batch_size)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler,
        **loader_settings(seed, num_workers, pin_memory),
    )


class PairedBatches:
    """Yields ``(x_labeled, y_labeled, x_unlabeled)`` forever.

    The labeled and unlabeled streams are independent endless loaders, so
    the small labeled set is cycled many times per pass over the unlabeled
    rows. The unlabeled labels are never loaded.
    """

    def __init__(
        self,
        x_labeled: Tensor,
        y_labeled: Tensor,
        x_unlabeled: Tensor,
        batch_size: int = 50,
        unlabeled_batch_size: int | None = None,
        seed: int = 0,
        start_step: int = 0,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        if len(y_labeled) != len(x_labeled):
            raise ParameterError(
                "y_labeled", f"{len(y_labeled)} labels",
                f"one label for each of the {len(x_labeled)} labeled rows",
            )
        for name, rows in (("x_labeled", x_labeled), ("x_unlabeled", x_unlabeled)):
            if len(rows) == 0:
                raise ParameterError(name, "no rows", "at least one row")
        unlabeled_batch_size = unlabeled_batch_size or batch_size
        self.labeled = endless_loader(
            x_labeled, y_labeled, batch_size, seed, start_step, num_workers,
            pin_memory=pin_memory,
        )
        self.unlabeled = endless_loader(
            x_unlabeled, None, unlabeled_batch_size, seed + 10_000, start_step,
            num_workers, pin_memory=pin_memory,
        )

    def __iter__(self):
        for (x_l, y_l), (x_u,) in zip(self.labeled, self.unlabeled, strict=False):
            yield x_l, y_l, x_u
