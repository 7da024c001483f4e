"""Deterministic splits: test, validation, labeled (exactly k per class), unlabeled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import ParameterError, check_int


@dataclass
class Splits:
    """Index arrays into the training pool (``test`` may index an official test set).

    No index appears in two of ``val``, ``labeled``, ``unlabeled`` and (when the
    test set is carved from the pool) ``test``.
    """

    test: np.ndarray
    val: np.ndarray
    labeled: np.ndarray
    unlabeled: np.ndarray
    test_from_pool: bool

    def sizes(self) -> dict[str, int]:
        return {
            "test": len(self.test),
            "val": len(self.val),
            "labeled": len(self.labeled),
            "unlabeled": len(self.unlabeled),
        }


def make_splits(
    labels,
    labels_per_class: int,
    seed: int = 0,
    val_size: int = 500,
    test_size: int = 1000,
    num_test: int | None = None,
) -> Splits:
    """Split a labeled pool for semi-supervised learning.

    Args:
        labels: (N,) class labels of the training pool.
        labels_per_class: exactly this many labeled samples of every class.
        seed: the same seed gives the same indices.
        val_size: validation rows drawn from the labeled pool (before the
            labeled rows are picked).
        test_size: rows held out as the test set, used only when the data
            set has no official test split (``num_test`` is None).
        num_test: size of an official test split; then ``test`` is
            ``arange(num_test)`` into it.
    """
    labels = np.asarray(labels)
    check_int("labels_per_class", labels_per_class, low=1)
    check_int("seed", seed, low=0)
    check_int("val_size", val_size, low=0, high=len(labels))
    order = np.random.default_rng(seed).permutation(len(labels))

    if num_test is None:
        check_int("test_size", test_size, low=1, high=len(labels) - 1)
        if val_size + test_size >= len(labels):
            raise ParameterError(
                "val_size", val_size,
                f"at most {len(labels) - test_size - 1} with test_size={test_size}: "
                f"the data set has {len(labels)} rows and the test and validation "
                "sets must leave some for training",
            )
        test, order = order[:test_size], order[test_size:]
    else:
        test = np.arange(num_test)
    val, pool = order[:val_size], order[val_size:]

    classes = np.unique(labels)
    pool_labels = labels[pool]
    available = {int(c): int((pool_labels == c).sum()) for c in classes}
    fewest = min(available.values())
    if labels_per_class > fewest:
        smallest = min(available, key=available.get)
        raise ParameterError(
            "labels_per_class",
            labels_per_class,
            f"at most {fewest}: class {smallest} has only {fewest} samples left "
            "after the test and validation sets",
        )

    chosen = np.zeros(len(pool), dtype=bool)
    for c in classes:
        chosen[np.flatnonzero(pool_labels == c)[:labels_per_class]] = True
    labeled, unlabeled = pool[chosen], pool[~chosen]
    return Splits(test, val, labeled, unlabeled, test_from_pool=num_test is None)
