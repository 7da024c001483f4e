"""One table of bad values, checked at every public entry point."""

import math

import pytest
import torch

from supercm.augment import Augmentation
from supercm.backbones import MLP, Classifier
from supercm.centroids import CentroidTracker
from supercm.cli import main
from supercm.cluster import ClusteringModule
from supercm.config import TrainConfig
from supercm.data import load_dataset
from supercm.loaders import InfiniteSampler, PairedBatches
from supercm.profiles import get_profile
from supercm.seeding import seed_everything
from supercm.splits import make_splits
from supercm.validation import (
    RULES,
    ParameterError,
    check_notebook_parameters,
    check_parameter,
    parse_parameter,
)

# (parameter, bad Python value, the same bad value as command-line text)
BAD_VALUES = [
    ("dataset", "cifar100", "cifar100"),
    ("dataset", 3, "3"),
    ("method", "magic", "magic"),
    ("method", "CE+CM", "CE+CM"),
    ("labels_per_class", 0, "0"),
    ("labels_per_class", -3, "-3"),
    ("labels_per_class", 2.5, "2.5"),
    ("labels_per_class", "abc", "abc"),
    ("labels_per_class", True, "true"),
    ("seed", -1, "-1"),
    ("seed", 1.5, "1.5"),
    ("steps", 0, "0"),
    ("batch_size", 0, "0"),
    ("lr", 0.0, "0"),
    ("lr", -1e-3, "-0.001"),
    ("lr", math.nan, "nan"),
    ("lr", math.inf, "inf"),
    ("lr", "fast", "fast"),
    ("weight_decay", -1.0, "-1"),
    ("beta", -0.5, "-0.5"),
    ("beta", math.nan, "nan"),
    ("temperature", 0.0, "0"),
    ("temperature", -1.0, "-1"),
    ("alpha", 0.0, "0"),
    ("backbone", "resnet50", "resnet50"),
    ("centroid_mode", "kmeans", "kmeans"),
    ("centroid_update", "max", "max"),
    ("centroid_momentum", 1.5, "1.5"),
    ("centroid_source", "both", "both"),
    ("pseudo_threshold", 1.0, "1"),
    ("pseudo_threshold", 0.0, "0"),
    ("w_ssl", -1.0, "-1"),
    ("ramp_fraction", 2.0, "2"),
    ("domain_weight", -1.0, "-1"),
    ("ema_decay", -0.1, "-0.1"),
    ("eval_every", 0, "0"),
    ("val_size", 0, "0"),
    ("test_size", 0, "0"),
    ("device", "tpu", "tpu"),
    ("num_workers", -1, "-1"),
    ("checkpoint_every", -1, "-1"),
    ("amp", "yes", "maybe"),
    ("augment", 1, "sometimes"),
    ("name", "a/b", "a/b"),
]


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@pytest.mark.parametrize("name, value, text", BAD_VALUES)
def test_train_config_rejects_and_names_the_parameter(name, value, text):
    with pytest.raises(ParameterError, match=name) as caught:
        TrainConfig(**{name: value}).validate()
    assert caught.value.name == name
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("name, value, text", BAD_VALUES)
def test_cli_exits_2_with_one_line_naming_the_parameter(name, value, text, tmp_path,
                                                        capsys):
    code = main(["train", "--out-dir", str(tmp_path), f"{cli_flag(name)}={text}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert f"{name}=" in err and "must be" in err
    assert not list(tmp_path.iterdir())


NOTEBOOK_NAMES = {"profile", "labels_per_class", "seed", "steps", "beta",
                  "temperature", "method", "dataset"}


@pytest.mark.parametrize(
    "name, value, text", [row for row in BAD_VALUES if row[0] in NOTEBOOK_NAMES]
)
def test_notebook_parameters_reject_values_and_papermill_text(name, value, text):
    for given in (value, text):
        with pytest.raises(ParameterError, match=f"^{name}=") as caught:
            check_notebook_parameters(**{name: given})
        assert caught.value.name == name


def test_papermill_text_for_labels_per_class_says_what_is_allowed():
    with pytest.raises(ParameterError) as caught:
        check_notebook_parameters(labels_per_class="abc")
    message = str(caught.value)
    assert message.startswith("labels_per_class='abc'")
    assert "an integer >= 1" in message


@pytest.mark.parametrize(
    "name, value",
    [("profile", "fast"), ("profile", 1), ("seeds", "0,x"), ("seeds", [0, -1]),
     ("seeds", []), ("methods", ["ce", "magic"]), ("methods", "ce,magic"),
     ("datasets", "mnist5k,imagenet"), ("labels_per_class_sweep", [1, 0]),
     ("num_points", 5), ("num_points", "many"), ("num_seeds", "0")],
)
def test_notebook_only_parameters_are_checked(name, value):
    with pytest.raises(ParameterError, match=f"^{name}="):
        check_notebook_parameters(**{name: value})


def test_notebook_parameters_are_coerced_like_papermill_passes_them():
    checked = check_notebook_parameters(
        profile="smoke", labels_per_class="5", seed="3", seeds="0,1,2", steps=40,
        beta="0.5", temperature=1, method="ce+cm", methods="['ce', 'ce+cm']",
        dataset="mnist5k", labels_per_class_sweep="(1, 10)", w_ssl="none",
        num_points="300",
    )
    assert checked == {
        "profile": "smoke", "labels_per_class": 5, "seed": 3, "seeds": [0, 1, 2],
        "steps": 40, "beta": 0.5, "temperature": 1, "method": "ce+cm",
        "methods": ["ce", "ce+cm"], "dataset": "mnist5k",
        "labels_per_class_sweep": [1, 10], "w_ssl": None, "num_points": 300,
    }
    assert isinstance(checked["beta"], float) and isinstance(checked["seed"], int)


def test_none_means_the_profile_value_and_other_names_pass_through():
    assert check_notebook_parameters(steps=None, seeds=None) == {
        "steps": None, "seeds": None
    }
    assert check_notebook_parameters(figure_width="6") == {"figure_width": "6"}


def test_every_train_config_field_has_a_rule():
    names = {field for field in TrainConfig().to_dict()}
    assert names <= set(RULES)
    TrainConfig().validate()


def test_the_notebook_parameters_cells_check_passes_on_its_defaults():
    checked = check_notebook_parameters(profile="smoke", num_points=None,
                                        labels_per_class=4, seed=0)
    assert checked == {"profile": "smoke", "num_points": None,
                       "labels_per_class": 4, "seed": 0}


def test_uda_needs_a_target_and_ssl_refuses_one():
    with pytest.raises(ParameterError, match="target_dataset"):
        TrainConfig(method="dann").validate()
    with pytest.raises(ParameterError, match="target_dataset"):
        TrainConfig(method="ce", target_dataset="ucidigits").validate()
    with pytest.raises(ParameterError, match="target_dataset"):
        TrainConfig(method="dann", target_dataset="svhn2").validate()


def test_numpy_integers_pass_and_are_stored_as_int():
    import numpy as np

    config = TrainConfig(labels_per_class=np.int64(5), seed=np.int32(2)).validate()
    assert type(config.labels_per_class) is int and type(config.seed) is int


def test_text_is_parsed_only_at_the_text_entry_points():
    assert parse_parameter("steps", " 12 ") == 12
    assert parse_parameter("amp", "off") is False
    assert parse_parameter("target_dataset", "None") is None
    with pytest.raises(ParameterError, match="steps"):
        check_parameter("steps", "12")


# Module constructors and library functions, each with one bad argument.
CONSTRUCTOR_CASES = [
    ("temperature", lambda: ClusteringModule(4, 3, temperature=0.0)),
    ("temperature", lambda: ClusteringModule(4, 3, temperature=math.nan)),
    ("in_features", lambda: ClusteringModule(0, 3)),
    ("num_clusters", lambda: ClusteringModule(4, 2.5)),
    ("temperature", lambda: Classifier(MLP(2), 3, temperature=-1.0)),
    ("centroid_mode", lambda: CentroidTracker(3, mode="kmeans")),
    ("centroid_momentum", lambda: CentroidTracker(3, centroid_momentum=2.0)),
    ("pseudo_threshold", lambda: CentroidTracker(3, pseudo_threshold=1.0)),
    ("shift", lambda: Augmentation(shift=-1)),
    ("noise", lambda: Augmentation(noise=-0.1)),
    ("labels_per_class", lambda: make_splits([0, 1] * 50, labels_per_class=0)),
    ("labels_per_class", lambda: make_splits([0, 1] * 50, 60, val_size=0,
                                             test_size=10)),
    ("seed", lambda: make_splits([0, 1] * 50, 2, seed=-1)),
    ("seed", lambda: seed_everything(-1)),
    ("seed", lambda: seed_everything("0")),
    ("deterministic", lambda: seed_everything(0, deterministic="yes")),
    ("profile", lambda: get_profile("fast")),
    ("dataset", lambda: load_dataset("imagenet")),
    ("num_samples", lambda: load_dataset("moons", num_samples=5)),
    ("size", lambda: InfiniteSampler(0)),
    ("batch_size", lambda: PairedBatches(torch.zeros(4, 2), torch.zeros(4).long(),
                                         torch.zeros(4, 2), batch_size=0)),
    ("y_labeled", lambda: PairedBatches(torch.zeros(4, 2), torch.zeros(3).long(),
                                        torch.zeros(4, 2))),
    ("x_unlabeled", lambda: PairedBatches(torch.zeros(4, 2), torch.zeros(4).long(),
                                          torch.zeros(0, 2))),
]


@pytest.mark.parametrize("name, build", CONSTRUCTOR_CASES)
def test_constructors_reject_and_name_the_parameter(name, build):
    with pytest.raises(ParameterError) as caught:
        build()
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}=")


def test_train_rejects_before_doing_any_work(tmp_path):
    from supercm.train import train

    with pytest.raises(ParameterError, match="labels_per_class"):
        train(labels_per_class="abc", out_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())
