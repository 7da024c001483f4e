"""torchvision loaders on small files written in each data set's on-disk format.

Only the md5 checks that torchvision runs on the real files are patched (to a
plain existence check); the files are parsed by torchvision itself.
"""

import bz2
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from supercm.data import DatasetMissingError, load_dataset, torchvision_folder

TRAIN, TEST = 30, 20


def digits(count: int, offset: int = 0) -> np.ndarray:
    return (np.arange(count) + offset) % 10


def pixels(count: int, *shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), np.uint8)


@pytest.fixture
def md5_checks_skipped(monkeypatch):
    """Replace torchvision's md5 comparison of the real files by an existence check."""

    def exists(path, md5=None):
        return os.path.isfile(path)

    monkeypatch.setattr("torchvision.datasets.svhn.check_integrity", exists)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", exists)


def write_mnist(root):
    """idx files: big-endian magic (0x0803 images, 0x0801 labels), sizes, bytes."""
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True)
    arrays = {}
    for prefix, count, seed in (("train", TRAIN, 0), ("t10k", TEST, 1)):
        images, labels = pixels(count, 28, 28, seed=seed), digits(count, seed)
        header = struct.pack(">IIII", 0x0803, count, 28, 28)
        image_file = folder / f"{prefix}-images-idx3-ubyte"
        image_file.write_bytes(header + images.tobytes())
        header = struct.pack(">II", 0x0801, count)
        labels_bytes = labels.astype(np.uint8).tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels_bytes)
        arrays[prefix] = images, labels
    return arrays["train"], arrays["t10k"]


def write_usps(root):
    """bz2 libsvm lines ``label 1:v1 ... 256:v256``; label = digit + 1, v in [-1, 1]."""
    folder = root / "usps"
    folder.mkdir(parents=True)
    arrays = []
    for file, count, seed in (("usps.bz2", TRAIN, 2), ("usps.t.bz2", TEST, 3)):
        levels = np.random.default_rng(seed).integers(0, 5, (count, 16, 16))
        values = levels / 2.0 - 1.0  # -1, -0.5, 0, 0.5, 1: exact in float32
        labels = digits(count, seed)
        lines = []
        for label, image in zip(labels, values, strict=True):
            features = " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(image.ravel()))
            lines.append(f"{label + 1} {features}\n")
        with bz2.open(folder / file, "wt") as handle:
            handle.writelines(lines)
        arrays.append((((values + 1) / 2 * 255).astype(np.uint8), labels))
    return arrays


def write_svhn(root):
    """MATLAB files with ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1), digit 0 as 10."""
    from scipy.io import savemat

    folder = root / "svhn"
    folder.mkdir(parents=True)
    arrays = []
    splits = (("train_32x32.mat", TRAIN, 4), ("test_32x32.mat", TEST, 5))
    for file, count, seed in splits:
        images = pixels(count, 3, 32, 32, seed=seed)
        labels = digits(count, seed)
        y = np.where(labels == 0, 10, labels).astype(np.uint8)[:, None]
        savemat(folder / file, {"X": images.transpose(2, 3, 1, 0), "y": y})
        arrays.append((images, labels))
    return arrays


def write_cifar10(root):
    """Pickled batches: ``data`` (N, 3072) uint8 as R, G, B planes; ``labels``."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    arrays = {}
    for index, file in enumerate(files):
        count = TRAIN // 5 if file != "test_batch" else TEST
        images = pixels(count, 3, 32, 32, seed=10 + index)
        labels = digits(count, index)
        batch = {"batch_label": file, "labels": labels.tolist(),
                 "data": images.reshape(count, 3072),
                 "filenames": [f"{file}_{i}.png" for i in range(count)]}
        (folder / file).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[file] = images, labels
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                            "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": TRAIN // 5, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    train = [arrays[file] for file in files[:5]]
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    return (train_x, train_y), arrays["test_batch"]


WRITERS = {"mnist": write_mnist, "usps": write_usps, "svhn": write_svhn,
           "cifar10": write_cifar10}
SHAPES = {"mnist": (1, 28, 28), "usps": (1, 16, 16), "svhn": (3, 32, 32),
          "cifar10": (3, 32, 32)}


@pytest.mark.parametrize("name", list(WRITERS))
def test_loader_reads_the_on_disk_format(name, tmp_path, md5_checks_skipped):
    (train_x, train_y), (test_x, test_y) = WRITERS[name](tmp_path)

    source = load_dataset(name, root=tmp_path)

    assert source.num_classes == 10
    for x, y, images, labels in ((source.x, source.y, train_x, train_y),
                                 (source.test_x, source.test_y, test_x, test_y)):
        assert x.dtype == torch.uint8 and y.dtype == torch.long
        assert x.shape == (len(labels), *SHAPES[name])
        expected = torch.as_tensor(images).reshape(x.shape)
        assert torch.equal(x, expected)
        assert torch.equal(y, torch.as_tensor(labels, dtype=torch.long))


def test_svhn_label_10_is_digit_0(tmp_path, md5_checks_skipped):
    write_svhn(tmp_path)
    source = load_dataset("svhn", root=tmp_path)
    assert source.y.min() == 0 and source.y.max() == 9
    assert (source.y == 0).sum() == TRAIN // 10
    assert 10 not in source.test_y


def test_a_partly_copied_data_set_names_the_missing_file(tmp_path, md5_checks_skipped):
    write_svhn(tmp_path)
    (tmp_path / "svhn" / "test_32x32.mat").unlink()
    with pytest.raises(DatasetMissingError) as caught:
        load_dataset("svhn", root=tmp_path)
    message = str(caught.value)
    assert "test_32x32.mat" in message and "train_32x32.mat" not in message
    assert str(torchvision_folder("svhn", tmp_path)) in message


def test_a_corrupt_file_is_reported_with_the_data_set_and_folder(tmp_path):
    write_cifar10(tmp_path)  # md5 checks on: these are not the real files
    with pytest.raises(DatasetMissingError, match="dataset='cifar10' is unreadable"):
        load_dataset("cifar10", root=tmp_path)


def test_training_runs_on_torchvision_files(tmp_path, md5_checks_skipped):
    from supercm.train import train

    write_mnist(tmp_path)
    record = train(dataset="mnist", method="ce+cm", labels_per_class=1, val_size=5,
                   steps=2, eval_every=2, batch_size=4, unlabeled_batch_size=4,
                   data_root=str(tmp_path), out_dir=str(tmp_path / "runs"),
                   progress=False)
    assert record["splits"] == {"test": TEST, "val": 5, "labeled": 10,
                                "unlabeled": TRAIN - 15}
