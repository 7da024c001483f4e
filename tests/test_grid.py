"""Grids: expansion, skipping finished runs, resuming, tables of mean and std."""

import csv
import math
import sys

import pytest

from supercm.config import TrainConfig
from supercm.grid import ablation, expand_grid, run_grid, summarise, write_tables
from supercm.validation import ParameterError


def tiny(**changes) -> TrainConfig:
    values = dict(
        dataset="moons", method="ce+cm", labels_per_class=5, steps=4,
        batch_size=8, unlabeled_batch_size=8, eval_every=2, val_size=50,
        test_size=100, progress=False, device="cpu",
    )
    return TrainConfig(**{**values, **changes})


def test_expand_grid_crosses_axes_and_trains_baselines_once():
    configs = expand_grid(tiny(), method=["ce", "ce+cm"], beta=[0.1, 0.5],
                          seed=[0, 1])
    by_method = [(c.method, c.beta, c.seed) for c in configs]
    default = TrainConfig().beta
    assert sorted(by_method) == sorted([
        ("ce", default, 0), ("ce", default, 1),
        ("ce+cm", 0.1, 0), ("ce+cm", 0.1, 1), ("ce+cm", 0.5, 0), ("ce+cm", 0.5, 1),
    ])
    pairs = expand_grid(tiny(method="dann"), pairs=[("mnist5k", "ucidigits")])
    assert (pairs[0].dataset, pairs[0].target_dataset) == ("mnist5k", "ucidigits")
    assert len(ablation("centroid_mode", tiny(), seeds=[0])) == 3
    with pytest.raises(ParameterError, match="grid axis"):
        expand_grid(tiny(), lr=[0.1])


def test_run_grid_skips_finished_runs(tmp_path, monkeypatch):
    configs = expand_grid(tiny(), seed=[0, 1])
    first = run_grid(configs, tmp_path)
    assert len(first) == 2 and len(list(tmp_path.glob("*.json"))) == 2

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sys.modules["supercm.train"], "Trainer", must_not_train)
    again = run_grid(configs, tmp_path)
    assert [r["run_id"] for r in again] == [r["run_id"] for r in first]
    assert again[0]["metrics"] == first[0]["metrics"]


def test_run_grid_resumes_an_interrupted_run(tmp_path):
    config = tiny(steps=6, checkpoint_every=2)

    def stop_after_three(trainer, step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid([config], tmp_path, callbacks=[stop_after_three])
    assert not list(tmp_path.glob("*.json"))

    steps_trained = []
    [record] = run_grid([config], tmp_path,
                        callbacks=[lambda trainer, step: steps_trained.append(step)])
    assert steps_trained == [3, 4, 5, 6]  # continued from the step-2 checkpoint
    assert [entry["step"] for entry in record["history"]] == [2, 4, 6]


def fake_record(method, seed, acc):
    return {
        "run_id": f"{method}-{seed}",
        "config": {**tiny(method=method, seed=seed).to_dict()},
        "metrics": {"test_acc": acc},
        "timings": {"train_s": 1.0},
    }


def test_summarise_gives_mean_and_sample_std(tmp_path):
    records = [fake_record("ce", 0, 80.0), fake_record("ce", 1, 84.0),
               fake_record("ce+cm", 0, 90.0)]
    summary = summarise(records, by=["method"])
    ce, cm = summary.rows
    assert (ce["method"], ce["mean"], ce["n"]) == ("ce", 82.0, 2)
    assert ce["std"] == pytest.approx(math.sqrt(8.0))
    assert math.isnan(cm["std"]) and cm["seeds"] == [0]
    assert "| ce | 82.00 ± 2.83 | 2 |" in summary.markdown
    assert "| ce+cm | 90.00 | 1 |" in summary.markdown
    with pytest.raises(ParameterError, match="metric"):
        summarise(records, metric="nope")

    runs, table, markdown = write_tables(records, summary, tmp_path)
    with open(table) as file:
        assert [row["mean"] for row in csv.DictReader(file)] == ["82.0", "90.0"]
    with open(runs) as file:
        assert len(list(csv.DictReader(file))) == 3
    assert markdown.read_text() == summary.markdown


def test_grid_command_lists_the_runs_of_its_axes(tmp_path, capsys):
    from supercm.cli import main

    code = main(["grid", "--profile", "smoke", "--method", "ce", "ce+cm",
                 "--beta", "0.1", "0.3", "--seed", "0", "1", "--dry-run",
                 "--out-dir", str(tmp_path)])
    lines = capsys.readouterr().out.split("\n")
    assert code == 0
    todo = [line for line in lines if line.startswith("todo")]
    assert len(todo) == 6  # ce once per seed, ce+cm per beta and seed
    assert sum("_ce-cm_" in line for line in todo) == 4


@pytest.mark.parametrize("option, value",
                         [("--metric", "accuracy"), ("--by", "colour")])
def test_grid_rejects_a_bad_metric_or_grouping_before_training(tmp_path, capsys,
                                                               option, value):
    from supercm.cli import main

    code = main(["grid", "--profile", "smoke", "--method", "ce", "--seed", "0",
                 "--out-dir", str(tmp_path), option, value])
    assert code == 2
    assert f"{option[2:]}={value!r}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing trained


def test_grid_help_says_unset_settings_come_from_the_profile(capsys):
    from supercm.cli import main

    assert main(["grid", "--help"]) == 0
    assert "default: the profile's value, else 800" in capsys.readouterr().out
