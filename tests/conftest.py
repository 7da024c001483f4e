import os

import pytest
import torch

os.environ.setdefault("SUPERCM_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep each test on one thread so the suite behaves the same on 2 cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
