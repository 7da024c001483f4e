import json

import pytest
import torch

from supercm.backbones import MLP, Classifier
from supercm.config import TrainConfig
from supercm.train import (
    METRICS,
    NonFiniteLossError,
    Trainer,
    labeled_cross_entropy,
    train,
)
from supercm.validation import ParameterError

TINY = dict(dataset="moons", steps=6, eval_every=3, batch_size=8,
            unlabeled_batch_size=8, val_size=50, test_size=100, progress=False)


def test_cross_entropy_ignores_added_unlabeled_rows():
    torch.manual_seed(0)
    model = Classifier(MLP(2, 8), num_classes=2)
    x_labeled, y = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    alone = labeled_cross_entropy(model(x_labeled), y)
    mixed = labeled_cross_entropy(model(torch.cat([x_labeled, torch.randn(50, 2)])), y)
    assert torch.allclose(alone, mixed)
    half = torch.nn.functional.cross_entropy(model(x_labeled), y, reduction="sum") / 10
    assert not torch.allclose(alone, half)


@pytest.mark.parametrize("method", ["ce", "ce+cm"])
def test_tiny_run_writes_a_complete_record(tmp_path, method):
    record = train(method=method, out_dir=str(tmp_path), **TINY)
    saved = json.loads((tmp_path / f"{record['run_id']}.json").read_text())
    assert saved["config"]["method"] == method
    assert [entry["step"] for entry in saved["history"]] == [3, 6]
    assert 0.0 <= saved["metrics"]["test_acc"] <= 100.0
    assert set(saved["metrics"]) <= set(METRICS)  # the grid checks --metric
    assert {"torch", "python", "supercm"} <= set(saved["versions"])
    assert saved["timings"]["total_s"] > 0
    assert ("cm_total" in saved["history"][0]) == (method == "ce+cm")
    assert not list(tmp_path.glob(".*")), "no temporary files are left behind"


def test_cm_run_sets_centroids_from_labeled_features(tmp_path):
    trainer = Trainer(TrainConfig(method="ce+cm", out_dir=str(tmp_path), **TINY))
    before = trainer.model.head.centroids.clone()
    trainer.fit()
    assert not torch.equal(before, trainer.model.head.centroids)
    assert trainer.tracker.updates_seen.min() > 0


def test_same_seed_gives_the_same_history(tmp_path):
    first = train(method="ce+cm", out_dir=str(tmp_path / "a"), **TINY)
    second = train(method="ce+cm", out_dir=str(tmp_path / "b"), **TINY)
    assert first["history"] == [
        {**entry} for entry in second["history"]
    ]


def test_ema_model_lags_the_trained_model(tmp_path):
    trainer = Trainer(TrainConfig(method="ce", out_dir=str(tmp_path), **TINY))
    trainer.fit()
    raw = torch.cat([p.flatten() for p in trainer.model.parameters()])
    ema = torch.cat([p.flatten() for p in trainer.ema.model.parameters()])
    assert not torch.allclose(raw, ema)


def test_non_finite_loss_stops_with_the_step(tmp_path):
    trainer = Trainer(TrainConfig(method="ce+cm", out_dir=str(tmp_path), **TINY))
    with torch.no_grad():
        trainer.model.head.assign.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="at step 0"):
        trainer.fit()
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(
    "overrides, name",
    [({"dataset": "imagenet"}, "dataset"), ({"method": "fixmatch"}, "method"),
     ({"labels_per_class": 0}, "labels_per_class"), ({"beta": -0.1}, "beta"),
     ({"temperature": 0.0}, "temperature"), ({"steps": 0}, "steps"),
     ({"method": "dann"}, "target_dataset"), ({"lr": -1.0}, "lr")],
)
def test_bad_config_names_the_parameter(overrides, name):
    with pytest.raises(ParameterError, match=name):
        TrainConfig(**overrides).validate()


def test_labels_per_class_above_what_a_class_holds(tmp_path):
    with pytest.raises(ParameterError, match="labels_per_class=5000"):
        train(method="ce", labels_per_class=5000, out_dir=str(tmp_path),
              **{**TINY, "dataset": "ucidigits"})


def test_train_names_an_unknown_setting(tmp_path):
    with pytest.raises(ParameterError, match="bogus"):
        train(bogus=1, out_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dataset, sizes", [("moons", (100, 300)),
                                            ("blobs", (100, 300)),
                                            ("mnist5k", (500, 1000))])
def test_unset_split_sizes_follow_the_data_set(dataset, sizes):
    config = TrainConfig(dataset=dataset).validate()
    assert (config.val_size, config.test_size) == sizes
    assert TrainConfig(dataset=dataset, val_size=7).validate().val_size == 7


def test_run_ids_say_all_for_the_whole_source_pool():
    from supercm.config import WHOLE_SOURCE_POOL

    config = TrainConfig(method="dann", target_dataset="ucidigits",
                         labels_per_class=WHOLE_SOURCE_POOL).validate()
    assert config.run_id().startswith("mnist5k-ucidigits_dann_Lall_s0_")


def test_prepare_data_takes_an_unchecked_config_and_leaves_it_as_it_was():
    from supercm.train import prepare_data

    config = TrainConfig(dataset="moons", labels_per_class=5)
    data = prepare_data(config)
    assert len(data.x_test) == 300 and len(data.x_val) == 100
    assert config.val_size is None and config.test_size is None
