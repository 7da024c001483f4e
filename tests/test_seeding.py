"""Seeding: one seed, one stream of numbers, with or without loader workers."""

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from supercm.loaders import (
    InfiniteSampler,
    PairedBatches,
    endless_loader,
    loader_settings,
)
from supercm.seeding import rng_state, seed_everything, set_rng_state

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_torch_flags():
    """seed_everything changes process-wide flags; put them back after a test."""
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[:2]
    torch.use_deterministic_algorithms(flags[2], warn_only=flags[3])
    if cublas is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_seed_everything_repeats_python_numpy_and_torch(restore_torch_flags):
    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first
    seed_everything(8)
    assert draws() != first


def test_deterministic_sets_cudnn_flags_and_cublas_workspace(restore_torch_flags,
                                                             monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seed_everything(0, deterministic=True)
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"

    seed_everything(0, deterministic=False)
    assert torch.backends.cudnn.deterministic is False
    assert torch.backends.cudnn.benchmark is True
    assert not torch.are_deterministic_algorithms_enabled()


def test_rng_state_round_trips_through_a_safe_checkpoint(tmp_path, restore_torch_flags):
    seed_everything(3)
    draws()
    path = tmp_path / "rng.pt"
    torch.save(rng_state(), path)
    expected = draws()
    draws()
    set_rng_state(torch.load(path, weights_only=True))
    assert draws() == expected


def test_sampler_is_a_function_of_seed_and_position():
    full = InfiniteSampler(10, seed=4)
    stream = [index for index, _ in zip(full, range(35), strict=False)]
    assert sorted(stream[:10]) == list(range(10))
    assert sorted(stream[10:20]) == list(range(10))
    restarted = InfiniteSampler(10, seed=4, start=13)
    assert [index for index, _ in zip(restarted, range(22), strict=False)] == \
        stream[13:]


def batches(loader, count):
    iterator = iter(loader)
    return [next(iterator) for _ in range(count)]


def test_zero_and_two_workers_visit_the_same_indices():
    x = torch.arange(37).float()[:, None]
    y = torch.arange(37)
    # Two epochs and a bit of 37 rows in batches of 8.
    without = batches(endless_loader(x, y, 8, seed=5, num_workers=0), 10)
    with_two = batches(endless_loader(x, y, 8, seed=5, num_workers=2), 10)
    for (_, y0), (_, y2) in zip(without, with_two, strict=True):
        assert torch.equal(y0, y2)
    epoch = torch.cat([labels for _, labels in without])[:37]
    assert sorted(epoch.tolist()) == list(range(37))


class NumpyDraws(Dataset):
    """Each item is a NumPy draw made in whichever process loads it."""

    def __len__(self):
        return 64

    def __getitem__(self, index):
        worker = torch.utils.data.get_worker_info()
        return np.random.rand(), -1 if worker is None else worker.id


def test_numpy_draws_differ_between_workers_and_repeat_with_the_seed():
    def run():
        loader = DataLoader(NumpyDraws(), batch_size=4, **loader_settings(11, 2))
        values, workers = zip(*[(v, w) for vs, ws in loader for v, w in
                                zip(vs.tolist(), ws.tolist(), strict=True)],
                              strict=True)
        return values, workers

    values, workers = run()
    assert set(workers) == {0, 1}
    per_worker = {w: [v for v, wid in zip(values, workers, strict=True) if wid == w]
                  for w in (0, 1)}
    assert per_worker[0][0] != per_worker[1][0]
    assert not set(per_worker[0]) & set(per_worker[1])
    assert run()[0] == values


def test_loaders_leave_the_global_rng_alone(restore_torch_flags):
    seed_everything(1)
    expected = draws()
    seed_everything(1)
    paired = iter(PairedBatches(torch.randn(20, 2).clamp(0), torch.arange(20) % 2,
                                torch.zeros(30, 2), batch_size=5, seed=3))
    seed_everything(1)
    next(paired)
    assert draws() == expected


def test_pin_memory_follows_cuda_and_the_device():
    assert loader_settings(0)["pin_memory"] == torch.cuda.is_available()
    assert loader_settings(0, pin_memory=False)["pin_memory"] is False
    # asked for, but never without CUDA (pinning without it warns)
    assert loader_settings(0, pin_memory=True)["pin_memory"] == (
        torch.cuda.is_available())


def test_loader_construction_and_one_batch_raise_no_warning_under_w_error():
    code = (
        "import torch\n"
        "from supercm.loaders import PairedBatches\n"
        "for workers in (0, 2):\n"
        "    batches = PairedBatches(torch.rand(30, 1, 8, 8), torch.arange(30) % 3,\n"
        "                            torch.rand(40, 1, 8, 8), batch_size=4,\n"
        "                            seed=0, num_workers=workers)\n"
        "    x_l, y_l, x_u = next(iter(batches))\n"
        "    assert x_l.shape == (4, 1, 8, 8) and x_u.shape == (4, 1, 8, 8)\n"
        "print('ok')\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
        env=environment, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "Warning" not in result.stderr
