"""One place that seeds every random number generator a run touches."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .validation import check_flag, check_parameter

CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and set the cuDNN flags.

    With ``deterministic=True`` also ask cuDNN and cuBLAS for deterministic
    kernels (``CUBLAS_WORKSPACE_CONFIG`` is set to ``:4096:8`` unless it is
    already set; it takes effect if set before the first cuBLAS call) and make
    torch warn on operations that have none. With ``deterministic=False``
    cuDNN may benchmark and pick the fastest kernels. CPU runs are repeatable
    with either setting; GPU runs only with ``deterministic=True``, and then
    more slowly. DataLoaders get their own generator and per-worker seeds from
    :func:`supercm.loaders.loader_settings`.
    """
    check_parameter("seed", seed)
    check_flag("deterministic", deterministic)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def rng_state() -> dict:
    """All global RNG states, in types that ``torch.load(weights_only=True)`` reads."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.as_tensor(keys.astype(np.int64)), position, has_gauss,
                  cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss,
                         cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
