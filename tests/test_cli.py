import json
import subprocess
import sys

import pytest

from supercm.cli import main


def test_cli_trains_and_writes_results(tmp_path, capsys):
    code = main([
        "train", "--dataset", "mnist5k", "--labels-per-class", "10",
        "--method", "ce+cm", "--seed", "0", "--steps", "4", "--eval-every", "2",
        "--val-size", "100", "--test-size", "200", "--no-progress",
        "--out-dir", str(tmp_path),
    ])
    printed = capsys.readouterr().out
    assert code == 0
    assert "test_acc" in printed and "results:" in printed
    (record_path,) = tmp_path.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["config"]["labels_per_class"] == 10
    assert record["splits"]["labeled"] == 100
    assert f"{record['metrics']['test_acc']:.2f}" in printed


@pytest.mark.parametrize(
    "args, name",
    [(["--dataset", "cifar100"], "dataset"), (["--method", "magic"], "method"),
     (["--labels-per-class", "0"], "labels_per_class"), (["--beta", "-1"], "beta"),
     (["--temperature", "0"], "temperature")],
)
def test_cli_bad_input_exits_2_naming_the_parameter(tmp_path, capsys, args, name):
    code = main(["train", "--out-dir", str(tmp_path), *args])
    assert code == 2
    assert name in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "supercm", "train", "--help"],
        capture_output=True, text=True, check=True,
    )
    assert "--labels-per-class" in result.stdout


def test_cli_trains_a_2d_set_with_its_own_split_sizes(tmp_path, capsys):
    code = main(["train", "--dataset", "moons", "--steps", "4", "--eval-every", "2",
                 "--no-progress", "--out-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    (record_path,) = tmp_path.glob("*.json")
    record = json.loads(record_path.read_text())
    assert (record["config"]["val_size"], record["config"]["test_size"]) == (100, 300)
    assert record["splits"]["test"] == 300


def test_cli_rejects_options_of_a_method_without_options(tmp_path, capsys):
    code = main(["train", "--method", "ce", "--ssl-option", "vat_eps=2",
                 "--out-dir", str(tmp_path)])
    assert code == 2
    assert "ssl_options['vat_eps']" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("every, hint", [
    ([], "pass --checkpoint-every N"),
    (["--checkpoint-every", "50"], "no checkpoint was written yet"),
])
def test_cli_interrupt_hint_matches_what_is_on_disk(tmp_path, capsys, monkeypatch,
                                                    every, hint):
    from supercm.train import Trainer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    code = main(["train", "--dataset", "moons", "--steps", "4", "--no-progress",
                 "--out-dir", str(tmp_path), *every])
    assert code == 130
    assert hint in capsys.readouterr().err


def test_cli_resume_without_a_matching_checkpoint_says_it_starts_over(tmp_path,
                                                                      capsys):
    code = main(["train", "--dataset", "moons", "--steps", "4", "--eval-every", "2",
                 "--no-progress", "--resume", "--out-dir", str(tmp_path)])
    assert code == 0
    assert "no checkpoint for these settings" in capsys.readouterr().err
