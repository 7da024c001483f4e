"""Figures draw what they promise on small inputs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from supercm import ClusteringModule, plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def points():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 2, generator=generator)
    return x, (x[:, 0] > 0).long()


def test_use_style_sets_a_seaborn_theme():
    plots.use_style()
    assert matplotlib.rcParams["axes.grid"]
    assert matplotlib.rcParams["axes.titleweight"] == "bold"


def test_predict_proba_restores_the_mode_and_sums_to_one():
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3)).train()
    probs = plots.predict_proba(model, np.zeros((5, 2)))
    assert probs.shape == (5, 3)
    assert np.allclose(probs.sum(1), 1)
    assert model.training


def test_predict_proba_reads_logits_of_a_clustering_module():
    probs = plots.predict_proba(ClusteringModule(2, 4), np.ones((3, 2)))
    assert probs.shape == (3, 4)


def test_decision_boundary_draws_regions_points_and_centroids():
    x, y = points()
    model = nn.Linear(2, 2)
    ax = plots.plot_decision_boundary(model, x, y, labeled=[0, 1, 2],
                                      centroids=torch.zeros(2, 2), title="t")
    assert ax.get_title() == "t"
    assert len(ax.collections) >= 4  # regions, boundary, points, centroids
    labels = [h.get_label() for h in ax.collections]
    assert "unlabeled" in labels and "centroids" in labels


def test_density_is_shaded():
    x, _ = points()
    ax = plots.plot_density(lambda p: -0.5 * (p**2).sum(1), x)
    assert ax.collections


def test_training_curves_follow_the_history():
    record = {"history": [{"step": 10, "val_acc": 50.0, "test_acc": 40.0},
                          {"step": 20, "val_acc": 60.0, "test_acc": 55.0}]}
    ax = plots.plot_training_curves(record)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["val_acc", "test_acc"]
    assert list(lines[1].get_ydata()) == [40.0, 55.0]
    assert list(lines[0].get_xdata()) == [10, 20]


def test_confusion_matrix_counts_and_heat_map():
    counts = plots.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    ax = plots.plot_confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3)
    texts = [t.get_text() for t in ax.texts]
    assert texts[:2] == ["0.50", "0.50"]
    assert ax.get_xlabel() == "predicted class"


def test_project_2d_passes_planes_through_and_reduces_more_dimensions():
    x = np.random.default_rng(0).normal(size=(40, 5))
    projected, project = plots.project_2d(x)
    assert projected.shape == (40, 2)
    assert np.allclose(project(x[:3]), projected[:3])
    flat, _ = plots.project_2d(x[:, :2])
    assert np.allclose(flat, x[:, :2])


def test_centroid_trajectories_one_path_per_centroid():
    trajectory = torch.randn(7, 3, 6)
    features, labels = torch.randn(30, 6), torch.randint(0, 3, (30,))
    ax = plots.plot_centroid_trajectories(trajectory, features, labels, title="paths")
    assert len(ax.get_lines()) == 3
    assert all(len(line.get_xdata()) == 7 for line in ax.get_lines())
    assert ax.get_xlabel() == "principal axis 1"
