import numpy as np
import pytest

from supercm.data import load_dataset
from supercm.splits import make_splits
from supercm.validation import ParameterError

LABELS = np.repeat(np.arange(4), 50)


def test_splits_are_disjoint_and_cover_the_pool():
    splits = make_splits(LABELS, 5, seed=0, val_size=20, test_size=40)
    parts = [splits.test, splits.val, splits.labeled, splits.unlabeled]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(LABELS)


def test_exactly_labels_per_class_labeled_rows():
    splits = make_splits(LABELS, 7, seed=3, val_size=20, test_size=40)
    assert np.bincount(LABELS[splits.labeled]).tolist() == [7, 7, 7, 7]


def test_same_seed_same_indices_other_seed_other_indices():
    a = make_splits(LABELS, 5, seed=1, val_size=20, test_size=40)
    b = make_splits(LABELS, 5, seed=1, val_size=20, test_size=40)
    c = make_splits(LABELS, 5, seed=2, val_size=20, test_size=40)
    for name in ("test", "val", "labeled", "unlabeled"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.labeled, c.labeled)


def test_too_many_labels_per_class_is_a_clear_error():
    with pytest.raises(ParameterError, match="labels_per_class=60.*at most"):
        make_splits(LABELS, 60, seed=0, val_size=20, test_size=40)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_labels_per_class_must_be_a_positive_integer(bad):
    with pytest.raises(ParameterError, match="labels_per_class"):
        make_splits(LABELS, bad)


def test_official_test_split_is_kept_whole():
    splits = make_splits(LABELS, 5, seed=0, val_size=20, num_test=30)
    assert splits.test.tolist() == list(range(30))
    assert len(splits.val) + len(splits.labeled) + len(splits.unlabeled) == 200


@pytest.mark.parametrize("name, shape", [("mnist5k", (5000, 1, 28, 28)),
                                         ("ucidigits", (1797, 1, 8, 8)),
                                         ("moons", (1000, 2)), ("blobs", (1000, 2))])
def test_offline_datasets_load_as_floats_in_range(name, shape):
    source = load_dataset(name)
    assert tuple(source.x.shape) == shape
    assert source.y.min() == 0 and source.y.max() == source.num_classes - 1
    if source.is_image:
        assert 0.0 <= source.x.min() and source.x.max() <= 1.0


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ParameterError, match="dataset='mnist6k'.*'mnist5k'"):
        load_dataset("mnist6k")


@pytest.mark.parametrize("sizes, message", [
    ({"val_size": 150, "test_size": 50},
     r"val_size=150 .*at most 149 with test_size=50"),
    ({"val_size": 0, "test_size": 200}, r"test_size=200 .*between 1 and 199"),
])
def test_test_and_validation_sets_too_large_name_the_culprit(sizes, message):
    with pytest.raises(ParameterError, match=message):
        make_splits(LABELS, 5, seed=0, **sizes)
