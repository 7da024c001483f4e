"""Offline runs open no network connection; missing torchvision data fails fast."""

import socket
import time

import pytest
import torch

from supercm.cli import main
from supercm.data import (
    OFFLINE_DATASETS,
    TORCHVISION_DATASETS,
    DatasetMissingError,
    load_dataset,
    torchvision_folder,
)
from supercm.train import train


class NetworkUsed(OSError):
    """Raised by the patched socket functions: this test must stay offline."""


class RefusingSocket(socket.socket):
    """A socket class that cannot be instantiated (``ssl`` may still subclass it)."""

    def __init__(self, *args, **kwargs):
        raise NetworkUsed("a network connection was attempted")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise NetworkUsed("a network connection was attempted")

    monkeypatch.setattr(socket, "socket", RefusingSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_patch_really_blocks_connections(no_network):
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com", timeout=1)


@pytest.mark.parametrize("name", OFFLINE_DATASETS)
def test_offline_datasets_load_without_the_network(name, no_network):
    source = load_dataset(name)
    assert len(source.x) == len(source.y) >= 1000
    assert source.y.min() == 0 and source.y.max() == source.num_classes - 1
    assert torch.isfinite(source.x).all()


def test_a_training_run_completes_without_the_network(no_network, tmp_path):
    record = train(dataset="mnist5k", method="ce+cm", steps=3, eval_every=3,
                   batch_size=8, unlabeled_batch_size=8, labels_per_class=2,
                   val_size=50, test_size=100, checkpoint_every=3,
                   out_dir=str(tmp_path), progress=False)
    assert record["history"][-1]["step"] == 3
    assert 0.0 <= record["metrics"]["test_acc"] <= 100.0


@pytest.mark.parametrize("name", TORCHVISION_DATASETS)
@pytest.mark.parametrize("download", [False, True])
def test_missing_torchvision_data_fails_fast_and_says_how_to_get_it(
    name, download, no_network, tmp_path
):
    start = time.perf_counter()
    with pytest.raises(DatasetMissingError) as caught:
        load_dataset(name, root=tmp_path, download=download)
    assert time.perf_counter() - start < 10
    message = str(caught.value)
    assert f"dataset={name!r}" in message
    assert str(torchvision_folder(name, tmp_path)) in message
    assert f"python -m supercm download {name}" in message
    assert "SUPERCM_DATA" in message
    assert ("could not be downloaded" in message) == download


def test_missing_torchvision_data_from_the_cli_is_one_line(no_network, tmp_path,
                                                           capsys):
    code = main(["train", "--dataset", "svhn", "--method", "ce", "--steps", "2",
                 "--data-root", str(tmp_path), "--out-dir", str(tmp_path / "runs"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "dataset='svhn'" in err and str(tmp_path / "svhn") in err


def test_the_data_root_comes_from_the_environment(no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERCM_DATA", str(tmp_path / "shared"))
    with pytest.raises(DatasetMissingError, match="shared"):
        load_dataset("usps")
