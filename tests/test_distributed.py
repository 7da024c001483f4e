"""Two gloo processes on the CPU step like one process on the global batch."""

import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from supercm.config import TrainConfig
from supercm.distributed import DistributedContext, setup, shard, teardown
from supercm.train import Trainer

STEPS = 4


def small_config(out_dir, **changes) -> TrainConfig:
    values = dict(
        dataset="moons", method="ce+cm", labels_per_class=8, steps=STEPS,
        batch_size=8, unlabeled_batch_size=8, eval_every=STEPS, augment=False,
        val_size=50, test_size=100, progress=False, device="cpu", beta=1.0,
        out_dir=str(out_dir),
    )
    return TrainConfig(**{**values, **changes})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def state_of(trainer: Trainer) -> dict:
    state = {f"model.{k}": v.clone() for k, v in trainer.model.state_dict().items()}
    state["updates_seen"] = trainer.tracker.updates_seen.clone()
    return state


SOURCES = ("extra_pass", "train_pass")


def run_rank(rank: int, world_size: int, port: int, out_dir: str):
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    for source in SOURCES:
        run_dir = os.path.join(out_dir, source)
        trainer = Trainer(small_config(run_dir, centroid_source=source))
        assert trainer.dist.world_size == world_size and trainer.ddp is not None
        rows_seen = []
        step = trainer.train_step

        def counting_step(x_labeled, y_labeled, x_unlabeled, step=step,
                          rows_seen=rows_seen):
            rows_seen.append([len(x_labeled), len(x_unlabeled)])
            return step(x_labeled, y_labeled, x_unlabeled)

        trainer.train_step = counting_step
        trainer.fit()
        state = {**state_of(trainer), "rows_seen": torch.tensor(rows_seen)}
        torch.save(state, os.path.join(out_dir, f"{source}{rank}.pt"))
    teardown()


def test_two_ranks_match_each_other_and_one_process(tmp_path):
    mp.spawn(run_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    assert not dist.is_initialized()

    for source in SOURCES:
        rank0 = torch.load(tmp_path / f"{source}0.pt", weights_only=True)
        rank1 = torch.load(tmp_path / f"{source}1.pt", weights_only=True)
        assert rank0.pop("rows_seen").eq(4).all()  # each rank holds half a batch
        assert rank1.pop("rows_seen").eq(4).all()
        for name, value in rank0.items():
            assert torch.equal(value, rank1[name]), (source, name)

        single = Trainer(small_config(tmp_path / "single", centroid_source=source))
        single.fit()
        reference = state_of(single)
        for name, value in rank0.items():
            torch.testing.assert_close(value, reference[name], atol=1e-5, rtol=1e-4,
                                       msg=f"{source}: {name}")
        assert int(rank0["updates_seen"].sum()) > 0
        assert len(list((tmp_path / source).glob("*.json"))) == 1  # rank 0 only


def test_shard_covers_every_row_once():
    rows = torch.arange(11)
    parts = [shard(rows, DistributedContext(rank, 3, rank)) for rank in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3]
    assert torch.equal(torch.cat(parts), rows)
    assert torch.equal(shard(rows, DistributedContext()), rows)
    with pytest.raises(ValueError, match="batch size of at least 3"):
        shard(torch.arange(2), DistributedContext(0, 3, 0))


def test_setup_without_torchrun_is_a_single_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = setup("cpu")
    assert not context.enabled and context.is_main
    assert not dist.is_initialized()


def diverge_on_rank_one(rank: int, world_size: int, port: int, out_dir: str):
    from supercm.train import NonFiniteLossError

    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    trainer = Trainer(small_config(out_dir))
    if rank == 1:  # only rank 1's loss is NaN, before anything is all-reduced
        trainer.config.beta = float("nan")
    try:
        trainer.fit()
        outcome = "finished"
    except NonFiniteLossError as error:
        outcome = str(error)
    teardown()
    with open(os.path.join(out_dir, f"outcome{rank}.txt"), "w") as file:
        file.write(outcome)


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    context = mp.spawn(diverge_on_rank_one, args=(2, free_port(), str(tmp_path)),
                       nprocs=2, join=False)
    deadline = time.monotonic() + 120
    finished = False
    while not finished and time.monotonic() < deadline:
        finished = context.join(timeout=max(deadline - time.monotonic(), 0.1))
    if not finished:  # a hang is the failure this test exists for
        for process in context.processes:
            process.kill()
        pytest.fail("a rank kept waiting after the other one diverged")
    assert "on rank 1" in (tmp_path / "outcome1.txt").read_text()
    assert "another rank" in (tmp_path / "outcome0.txt").read_text()
    assert not list(tmp_path.glob("*.json"))  # no results record
