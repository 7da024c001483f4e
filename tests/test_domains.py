"""Tests for supercm.domains: pairs, one shape for both domains, UDA splits."""

import numpy as np
import pytest
import torch

from supercm.config import WHOLE_SOURCE_POOL, TrainConfig
from supercm.data import DataSource
from supercm.domains import (
    DOMAIN_PAIRS,
    DomainPair,
    domain_pair,
    harmonize,
    prepare_domain_data,
    source_splits,
    target_splits,
    to_pair_shape,
)
from supercm.validation import ParameterError


def uda_config(**overrides):
    values = dict(dataset="mnist5k", target_dataset="ucidigits", method="dann",
                  labels_per_class=WHOLE_SOURCE_POOL, val_size=200, test_size=500)
    return TrainConfig(**{**values, **overrides})


def test_registered_pairs():
    assert set(DOMAIN_PAIRS) == {"mnist5k->ucidigits", "mnist->usps", "svhn->mnist"}
    assert domain_pair("svhn", "mnist").channels == 3


def test_unknown_target_names_target_dataset():
    with pytest.raises(ParameterError, match="target_dataset='usps'") as info:
        domain_pair("mnist5k", "usps")
    assert info.value.name == "target_dataset"
    assert "'ucidigits'" in str(info.value)


def test_unknown_source_names_dataset():
    with pytest.raises(ParameterError) as info:
        domain_pair("cifar10", "mnist")
    assert info.value.name == "dataset"


def test_pair_with_points_cannot_be_built():
    with pytest.raises(ParameterError) as info:
        DomainPair("mnist5k", "moons", image_size=8, channels=1)
    assert info.value.name == "target_dataset"


def test_pair_with_itself_cannot_be_built():
    with pytest.raises(ParameterError, match="other than the source"):
        DomainPair("mnist", "mnist", image_size=28, channels=1)


def test_harmonize_rejects_points():
    pair = DOMAIN_PAIRS["mnist5k->ucidigits"]
    images = DataSource("mnist5k", torch.rand(4, 1, 28, 28), torch.arange(4), 10)
    points = DataSource("moons", torch.rand(4, 2), torch.arange(4), 10)
    with pytest.raises(ParameterError) as info:
        harmonize(images, points, pair)
    assert info.value.name == "target_dataset"
    assert "(4, 2)" in str(info.value)


def test_gray_uint8_pair_meets_at_one_shape():
    pair = DOMAIN_PAIRS["mnist->usps"]
    def images(*shape):
        return torch.randint(0, 256, shape, dtype=torch.uint8)

    mnist = DataSource("mnist", images(6, 1, 28, 28), torch.arange(6), 10)
    usps = DataSource("usps", images(5, 1, 16, 16), torch.arange(5), 10,
                      images(3, 1, 16, 16), torch.arange(3))
    source, target = harmonize(mnist, usps, pair)

    assert source.x.shape[1:] == target.x.shape[1:] == target.test_x.shape[1:]
    assert source.x.shape[1:] == (1, 28, 28)
    assert source.x.dtype == target.x.dtype == torch.uint8
    assert torch.equal(source.x, mnist.x)


def test_colour_and_gray_meet_in_colour():
    pair = DOMAIN_PAIRS["svhn->mnist"]
    gray = torch.full((2, 1, 28, 28), 0.25)
    out = to_pair_shape(gray, pair, torch.float32)

    assert out.shape == (2, 3, 32, 32)
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)


def test_colour_to_gray_by_luminance_in_unit_range():
    pair = DomainPair("svhn", "mnist", image_size=8, channels=1)
    white = torch.full((3, 3, 32, 32), 255, dtype=torch.uint8)
    out = to_pair_shape(white, pair, torch.float32)

    assert out.shape == (3, 1, 8, 8)
    assert torch.allclose(out, torch.ones_like(out))


def test_source_splits_cap_per_class_and_stay_disjoint():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    val, labeled = source_splits(labels, 5, val_size=12, seed=0)

    assert not set(val) & set(labeled)
    assert np.bincount(labels[labeled]).tolist() == [5, 5, 5]
    val, labeled = source_splits(labels, WHOLE_SOURCE_POOL, val_size=12, seed=0)
    assert len(val) + len(labeled) == len(labels)


def test_target_splits_are_disjoint_and_repeatable():
    train, test = target_splits(100, 30, seed=3)

    assert len(test) == 30 and len(train) == 70
    assert not set(train) & set(test)
    again_train, again_test = target_splits(100, 30, seed=3)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)


def test_prepare_offline_pair():
    data = prepare_domain_data(uda_config())

    shapes = {tuple(x.shape[1:]) for x in
              (data.x_labeled, data.x_unlabeled, data.x_val, data.x_test)}
    assert shapes == {(1, 8, 8)}
    for x in (data.x_labeled, data.x_unlabeled, data.x_val, data.x_test):
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert len(data.x_labeled) + len(data.x_val) == 5000
    assert len(data.x_unlabeled) + len(data.x_test) == 1797
    assert data.split_sizes == {"labeled": 4800, "val": 200, "unlabeled": 1297,
                                "test": 500}


def test_prepare_few_source_labels():
    data = prepare_domain_data(uda_config(labels_per_class=3))

    assert torch.bincount(data.y_labeled).tolist() == [3] * 10


def test_prepare_unknown_pair_fails_before_loading(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("data loaded for an unknown pair")

    monkeypatch.setattr("supercm.domains.load_dataset", no_loading)
    with pytest.raises(ParameterError, match="target_dataset"):
        prepare_domain_data(uda_config(target_dataset="blobs"))
