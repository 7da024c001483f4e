"""Domain pairs for unsupervised domain adaptation: one image shape, source splits.

A pair names a labeled source data set and an unlabeled target data set of
the same ten digit classes. :func:`to_pair_shape` is the one place where both
domains are brought to the pair's image size, channel count and value range
(float in [0, 1], or uint8 when both domains are stored as uint8).

Splits of one run (:func:`prepare_domain_data`):

- ``x_labeled``/``y_labeled``: labeled source rows, at most
  ``labels_per_class`` per class. Domain adaptation usually trains on every
  labeled source row; pass ``labels_per_class=WHOLE_SOURCE_POOL`` (or any
  value at least as large as the biggest source class) for that. A smaller
  value gives the harder setting with few source labels.
- ``x_val``/``y_val``: ``val_size`` SOURCE rows for model selection; target
  labels are never used to choose anything.
- ``x_unlabeled``: target training rows; their labels are never loaded.
- ``x_test``/``y_test``: target test rows (the official test split where the
  target has one, else ``test_size`` rows drawn without looking at labels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .augment import Augmentation
from .data import DataSource, load_dataset
from .validation import ParameterError, check_choice, check_int

log = logging.getLogger(__name__)

IMAGE_DATASETS = ("mnist5k", "ucidigits", "mnist", "usps", "svhn")
# mnist5k -> ucidigits meets at the target's own 8x8: the UCI digits are block
# averages of larger bitmaps, and MNIST down-sampled with antialiasing is the
# same kind of image. Measured on source validation and run time, 8x8 also
# trained faster and steadier than 16x16 or 28x28.
_LUMINANCE = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class DomainPair:
    """A source -> target pair and the one image shape both are brought to.

    ``shift`` is the translation (in pixels) of the augmentation shared by
    both domains at that shape.
    """

    source: str
    target: str
    image_size: int
    channels: int
    shift: int = 2

    def __post_init__(self):
        check_choice("dataset", self.source, IMAGE_DATASETS)
        if self.target not in IMAGE_DATASETS:
            raise ParameterError(
                "target_dataset", self.target,
                f"an image data set of the same digit classes as {self.source!r} "
                "(one of " + ", ".join(map(repr, IMAGE_DATASETS)) + ")",
            )
        if self.target == self.source:
            raise ParameterError(
                "target_dataset", self.target,
                f"a data set other than the source {self.source!r}",
            )
        check_int("image_size", self.image_size, low=8)
        check_choice("channels", self.channels, (1, 3))
        check_int("shift", self.shift, low=0)

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"


DOMAIN_PAIRS = {
    pair.name: pair
    for pair in (
        DomainPair("mnist5k", "ucidigits", image_size=8, channels=1, shift=1),
        DomainPair("mnist", "usps", image_size=28, channels=1, shift=2),
        DomainPair("svhn", "mnist", image_size=32, channels=3, shift=2),
    )
}


def domain_pair(source: str, target: str | None) -> DomainPair:
    """The registered pair ``source -> target``; ``ParameterError`` for any other."""
    name = f"{source}->{target}"
    if name in DOMAIN_PAIRS:
        return DOMAIN_PAIRS[name]

    targets = [p.target for p in DOMAIN_PAIRS.values() if p.source == source]
    if not targets:
        sources = sorted({p.source for p in DOMAIN_PAIRS.values()})
        raise ParameterError(
            "dataset", source,
            "a domain adaptation source, one of " + ", ".join(map(repr, sources)),
        )
    raise ParameterError(
        "target_dataset", target,
        f"a target paired with source {source!r}: "
        + ", ".join(map(repr, targets)),
    )


def to_pair_shape(x: Tensor, pair: DomainPair, dtype: torch.dtype,
                  chunk: int = 8192) -> Tensor:
    """Resize (N, C, H, W) images to ``pair``'s size and channel count.

    ``dtype`` is ``torch.uint8`` (values 0..255) or ``torch.float32`` (values
    in [0, 1]); inputs may be either. Gray becomes colour by repeating the
    channel, colour becomes gray by luminance. Works in chunks of ``chunk``
    rows so large uint8 sets never exist as one float copy.
    """
    check_shape("images", x)
    out = []
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        part = part.float() / 255.0 if part.dtype == torch.uint8 else part.float()

        if part.shape[1] != pair.channels:
            if pair.channels == 3:
                part = part.expand(-1, 3, -1, -1)
            else:
                weights = torch.tensor(_LUMINANCE).view(1, 3, 1, 1)
                part = (part * weights).sum(1, keepdim=True)

        if part.shape[-2:] != (pair.image_size, pair.image_size):
            size = (pair.image_size, pair.image_size)
            part = F.interpolate(part, size=size, mode="bilinear",
                                 align_corners=False, antialias=True)

        part = part.clamp(0.0, 1.0)
        if dtype == torch.uint8:
            part = (part * 255.0).round().to(torch.uint8)
        out.append(part.contiguous())
    return torch.cat(out) if out else x.new_zeros((0, pair.channels,
                                                    pair.image_size, pair.image_size))


def check_shape(name: str, x: Tensor) -> Tensor:
    """Images must be (N, 1 or 3, H, W); anything else cannot join a domain pair."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ParameterError(
            name, tuple(x.shape),
            "images of shape (N, C, H, W) with C = 1 or 3 (2-D points or other "
            "layouts cannot be brought to one image shape)",
        )
    return x


def harmonize(source: DataSource, target: DataSource, pair: DomainPair):
    """Both domains at one shape and value range; returns new ``DataSource`` s."""
    check_shape("dataset", source.x)
    check_shape("target_dataset", target.x)
    if source.num_classes != target.num_classes:
        raise ParameterError(
            "target_dataset", target.name,
            f"a data set with the {source.num_classes} classes of {source.name!r} "
            f"(it has {target.num_classes})",
        )

    both_uint8 = source.x.dtype == torch.uint8 and target.x.dtype == torch.uint8
    dtype = torch.uint8 if both_uint8 else torch.float32

    def convert(data: DataSource) -> DataSource:
        test_x = data.test_x
        if test_x is not None:
            test_x = to_pair_shape(test_x, pair, dtype)
        return DataSource(data.name, to_pair_shape(data.x, pair, dtype), data.y,
                          data.num_classes, test_x, data.test_y)

    return convert(source), convert(target)


def source_splits(labels: Tensor, labels_per_class: int, val_size: int, seed: int):
    """Indices of source validation rows and of at most ``labels_per_class``
    labeled rows per class from the rest (disjoint, fixed by ``seed``)."""
    labels = np.asarray(labels)
    check_int("labels_per_class", labels_per_class, low=1)
    check_int("val_size", val_size, low=1, high=len(labels) - 1)
    order = np.random.default_rng(seed).permutation(len(labels))
    val, pool = order[:val_size], order[val_size:]

    keep = np.zeros(len(pool), dtype=bool)
    for c in np.unique(labels):
        keep[np.flatnonzero(labels[pool] == c)[:labels_per_class]] = True
    return val, np.sort(pool[keep])


def target_splits(num_rows: int, test_size: int | None, seed: int):
    """Indices of target training rows and, with ``test_size``, of test rows.

    Drawn from a permutation alone, so target labels play no part.
    """
    order = np.random.default_rng(seed + 1).permutation(num_rows)
    if test_size is None:
        return np.sort(order), None
    check_int("test_size", test_size, low=1, high=num_rows - 1)
    return np.sort(order[test_size:]), np.sort(order[:test_size])


def prepare_domain_data(config):
    """Load, harmonize and split the pair ``config.dataset -> config.target_dataset``.

    Returns a ``RunData`` (see the module docstring for what each split holds).
    """
    from .train import RunData

    pair = domain_pair(config.dataset, config.target_dataset)

    source = load_dataset(pair.source, config.data_root, config.download,
                          seed=config.seed)
    target = load_dataset(pair.target, config.data_root, config.download,
                          seed=config.seed)
    source, target = harmonize(source, target, pair)

    val, labeled = source_splits(source.y, config.labels_per_class,
                                 config.val_size, config.seed)
    if target.test_x is None:
        train_rows, test_rows = target_splits(len(target.x), config.test_size,
                                              config.seed)
        x_test, y_test = target.x[test_rows], target.y[test_rows]
    else:
        train_rows, _ = target_splits(len(target.x), None, config.seed)
        x_test, y_test = target.test_x, target.test_y

    sizes = {"labeled": len(labeled), "val": len(val),
             "unlabeled": len(train_rows), "test": len(x_test)}
    log.info("domain pair %s at %s: %s", pair.name, source.input_shape, sizes)
    return RunData(
        source.x[labeled], source.y[labeled], target.x[train_rows],
        source.x[val], source.y[val], x_test, y_test,
        source.num_classes, Augmentation(shift=pair.shift), sizes,
    )
