"""Checkpoints: a stopped and resumed run ends where an uninterrupted run does."""

import warnings

import pytest
import torch

from supercm import checkpoint
from supercm.config import TrainConfig
from supercm.train import Trainer, prepare_data

SETTINGS = {
    "moons": dict(dataset="moons", method="ce+cm", steps=12, eval_every=3,
                  batch_size=16, unlabeled_batch_size=24, labels_per_class=10,
                  val_size=100, test_size=200, checkpoint_every=4),
    "mnist5k": dict(dataset="mnist5k", method="ce+cm", steps=6, eval_every=2,
                    batch_size=8, unlabeled_batch_size=8, labels_per_class=2,
                    val_size=50, test_size=60, checkpoint_every=2,
                    lr_anneal=True),
}


class Disconnect(Exception):
    """Stands in for a dropped Colab session."""


def stop_at(step):
    def callback(trainer, current):
        if current == step:
            raise Disconnect

    return callback


@pytest.fixture(scope="module")
def data_cache():
    return {}


def make_trainer(name, out_dir, data_cache, callbacks=(), **changes):
    config = TrainConfig(**SETTINGS[name], out_dir=str(out_dir), progress=False,
                         **changes)
    if name not in data_cache:
        data_cache[name] = prepare_data(config)
    return Trainer(config, list(callbacks), data=data_cache[name])


def assert_same_end(first, second, record_first, record_second):
    assert record_first["metrics"] == record_second["metrics"]
    assert record_first["history"] == record_second["history"]
    for part in ("model", "ema"):
        state = getattr(first, part) if part == "model" else first.ema.model
        other = getattr(second, part) if part == "model" else second.ema.model
        for (key, a), (_, b) in zip(state.state_dict().items(),
                                    other.state_dict().items(), strict=True):
            assert torch.equal(a, b), f"{part}.{key}"
    for a, b in zip(first.optimizer.state_dict()["state"].values(),
                    second.optimizer.state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    assert torch.equal(first.tracker.updates_seen, second.tracker.updates_seen)


@pytest.mark.parametrize("name", ["moons", "mnist5k"])
def test_resumed_run_equals_an_uninterrupted_run(name, tmp_path, data_cache):
    whole = make_trainer(name, tmp_path / "whole", data_cache)
    record_whole = whole.fit()

    checkpoint_every = SETTINGS[name]["checkpoint_every"]
    stopped = make_trainer(name, tmp_path / "split", data_cache,
                           [stop_at(checkpoint_every + 1)])
    with pytest.raises(Disconnect):
        stopped.fit()
    assert checkpoint.load(stopped.checkpoint_path)["step"] == checkpoint_every

    resumed = make_trainer(name, tmp_path / "split", data_cache, resume=True)
    record_resumed = resumed.fit()

    assert resumed.step == SETTINGS[name]["steps"]
    assert_same_end(whole, resumed, record_whole, record_resumed)


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, data_cache):
    whole = make_trainer("moons", tmp_path / "whole", data_cache)
    record_whole = whole.fit()

    stopped = make_trainer("moons", tmp_path / "split", data_cache, [stop_at(10)])
    with pytest.raises(Disconnect):
        stopped.fit()
    latest = stopped.checkpoint_path
    previous = checkpoint.previous_path(latest)
    assert checkpoint.load(latest)["step"] == 8
    assert checkpoint.load(previous)["step"] == 4
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])

    resumed = make_trainer("moons", tmp_path / "split", data_cache, resume=True)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert checkpoint.resume(resumed)
    assert resumed.step == 4
    assert latest.with_name(latest.name + ".corrupt").exists()

    resumed = make_trainer("moons", tmp_path / "split", data_cache, resume=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bad file is out of the way now
        record_resumed = resumed.fit()
    assert_same_end(whole, resumed, record_whole, record_resumed)


def test_resume_without_a_checkpoint_starts_at_step_zero(tmp_path, data_cache):
    trainer = make_trainer("moons", tmp_path, data_cache, resume=True)
    assert not checkpoint.resume(trainer)
    assert trainer.step == 0
    record = trainer.fit()
    assert record["history"][-1]["step"] == SETTINGS["moons"]["steps"]


def test_a_finished_run_resumes_at_its_end_without_training(tmp_path, data_cache):
    first = make_trainer("moons", tmp_path, data_cache)
    record = first.fit()
    again = make_trainer("moons", tmp_path, data_cache, resume=True,
                         callbacks=[stop_at(1)])  # would raise if it trained
    assert again.fit()["metrics"] == record["metrics"]


def test_checkpoints_load_with_weights_only_and_hold_the_whole_state(tmp_path,
                                                                     data_cache):
    trainer = make_trainer("moons", tmp_path, data_cache)
    trainer.fit()
    state = torch.load(trainer.checkpoint_path, map_location="cpu", weights_only=True)
    assert state["step"] == SETTINGS["moons"]["steps"]
    assert {"model", "ema", "optimizer", "scaler", "tracker", "history", "best",
            "rng"} <= set(state)
    assert "head.centroids" in state["model"]
    assert not list(trainer.checkpoint_path.parent.glob(".*"))  # no temp files


def test_checkpoint_writes_are_atomic(tmp_path, data_cache, monkeypatch):
    trainer = make_trainer("moons", tmp_path, data_cache)
    trainer.fit()
    path = trainer.checkpoint_path
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk vanished")

    monkeypatch.setattr("os.fsync", crash)  # dies half-way through the write
    with pytest.raises(OSError):
        checkpoint.save(trainer)
    monkeypatch.undo()
    assert checkpoint.previous_path(path).read_bytes() == good
    assert not path.exists()
    assert not list(path.parent.glob(".*"))
    resumed = make_trainer("moons", tmp_path, data_cache, resume=True)
    assert checkpoint.resume(resumed) and resumed.step == trainer.step


def test_two_runs_with_one_seed_give_bit_identical_losses(tmp_path, data_cache):
    records = [make_trainer("mnist5k", tmp_path / str(i), data_cache).fit()
               for i in range(2)]
    losses = [[entry["loss"] for entry in record["history"]] for record in records]
    assert losses[0] == losses[1]
    assert records[0]["metrics"] == records[1]["metrics"]


def cli_arguments(settings: dict) -> list[str]:
    arguments = []
    for key, value in settings.items():
        arguments += ["--" + key.replace("_", "-"), str(value)]
    return arguments


@pytest.mark.parametrize("entry", ["cli", "train"])
def test_resume_from_the_cli_and_the_train_function(entry, tmp_path, data_cache,
                                                    capsys):
    from supercm.cli import main
    from supercm.results import read_json
    from supercm.train import train

    whole = make_trainer("moons", tmp_path / "whole", data_cache)
    record_whole = whole.fit()
    stopped = make_trainer("moons", tmp_path / "split", data_cache, [stop_at(6)])
    with pytest.raises(Disconnect):
        stopped.fit()

    if entry == "cli":
        code = main(["train", *cli_arguments(SETTINGS["moons"]), "--no-progress",
                     "--out-dir", str(tmp_path / "split"), "--resume"])
        assert code == 0, capsys.readouterr().err
        record = read_json(stopped.results_path)
    else:
        record = train(**SETTINGS["moons"], out_dir=str(tmp_path / "split"),
                       progress=False, resume=True)
    assert record["run_id"] == record_whole["run_id"]
    assert record["metrics"] == record_whole["metrics"]
    assert record["history"] == record_whole["history"]


def test_cli_interrupted_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from supercm.cli import main
    from supercm.train import Trainer

    def interrupted(self):
        self.step = 5
        self.checkpoint_path.parent.mkdir(parents=True)
        self.checkpoint_path.write_bytes(b"a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    code = main(["train", *cli_arguments(SETTINGS["moons"]), "--no-progress",
                 "--out-dir", str(tmp_path)])
    assert code == 130
    assert ("interrupted at step 5; continue from its last checkpoint with --resume"
            in capsys.readouterr().err)


def test_a_resumed_run_counts_the_time_before_the_interruption(tmp_path, data_cache):
    stopped = make_trainer("moons", tmp_path, data_cache, [stop_at(10)])
    with pytest.raises(Disconnect):
        stopped.fit()
    before = checkpoint.load(stopped.checkpoint_path)["timings"]["total_s"]
    assert before > 0
    resumed = make_trainer("moons", tmp_path, data_cache, resume=True)
    assert resumed.fit()["timings"]["total_s"] > before


def test_the_last_step_is_checkpointed_once(tmp_path, data_cache):
    trainer = make_trainer("moons", tmp_path, data_cache)  # 12 steps, every 4
    trainer.fit()
    assert checkpoint.load(trainer.checkpoint_path)["step"] == 12
    assert checkpoint.load(checkpoint.previous_path(trainer.checkpoint_path))[
        "step"] == 8
