"""Figures for the book: decision boundaries, centroids, training curves, confusions.

Every function draws on the ``ax`` it is given (a new figure when ``None``)
and returns that axes, so notebooks can compose panels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

CENTROID_MARKER = {"marker": "*", "s": 420, "edgecolor": "black", "linewidth": 1.2}


def use_style() -> None:
    """Seaborn styling shared by every chapter (white grid, colour-blind palette)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100,
                         "figure.figsize": (6.4, 4.4), "axes.titleweight": "bold"})


def class_colors(num_classes: int) -> list:
    """One colour per class, the same in every figure."""
    import seaborn as sns

    return sns.color_palette("colorblind", max(num_classes, 3))[:num_classes]


def _axes(ax, figsize=(6.4, 4.8)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _numpy(values) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


@torch.no_grad()
def predict_proba(model, points: np.ndarray) -> np.ndarray:
    """Class probabilities (m, K) of ``model`` at ``points`` (m, 2).

    ``model`` is an ``nn.Module`` returning logits or a ``ClusterOutput``
    (evaluated in eval mode, the mode is restored) or a function from an
    (m, 2) array to probabilities.
    """
    if not isinstance(model, nn.Module):
        return _numpy(model(points))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    inputs = torch.as_tensor(points, dtype=torch.float32, device=device)
    output = model(inputs)
    logits = getattr(output, "logits", output)  # a ClusteringModule gives ClusterOutput
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    model.train(was_training)
    return probs


def grid_around(x, resolution: int = 200, margin: float = 0.5):
    """A ``resolution`` x ``resolution`` grid covering the 2-D points ``x``."""
    x = _numpy(x)
    low, high = x.min(0) - margin, x.max(0) + margin
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return grid_x, grid_y, np.column_stack([grid_x.ravel(), grid_y.ravel()])


def plot_points(x, y, ax=None, labeled=None, num_classes=None, title=None):
    """2-D points coloured by class; rows in ``labeled`` (indices or mask) enlarged.

    With ``labeled`` given, the other points are drawn small and grey, as a
    semi-supervised learner sees them.
    """
    ax = _axes(ax)
    x, y = _numpy(x), _numpy(y).astype(int)
    num_classes = num_classes or int(y.max()) + 1
    colors = class_colors(num_classes)
    if labeled is None:
        for k in range(num_classes):
            ax.scatter(*x[y == k].T, s=12, color=colors[k], alpha=0.7,
                       label=f"class {k}")
    else:
        mask = np.zeros(len(x), dtype=bool)
        mask[_numpy(labeled)] = True
        ax.scatter(*x[~mask].T, s=8, color="0.65", alpha=0.6, label="unlabeled")
        for k in range(num_classes):
            chosen = mask & (y == k)
            ax.scatter(*x[chosen].T, s=90, color=colors[k], edgecolor="black",
                       linewidth=1.0, label=f"labeled, class {k}")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def plot_decision_boundary(model, x, y, ax=None, labeled=None, centroids=None,
                           resolution: int = 200, shade: bool = True, title=None,
                           line_color="black"):
    """Predicted regions of ``model`` over the plane, the points and the boundary.

    ``centroids`` (K, 2), when given, are drawn as stars in the class colours;
    they must live in the input plane (for example a mixture fitted to ``x``).
    ``shade=False`` draws only the boundary, for example over a density.
    """
    ax = _axes(ax)
    x, y = _numpy(x), _numpy(y).astype(int)
    grid_x, grid_y, points = grid_around(x, resolution)
    probs = predict_proba(model, points)
    num_classes = probs.shape[1]
    colors = class_colors(num_classes)
    from matplotlib.colors import ListedColormap

    regions = probs.argmax(1).reshape(grid_x.shape)
    if shade:
        ax.contourf(grid_x, grid_y, regions, levels=np.arange(num_classes + 1) - 0.5,
                    cmap=ListedColormap(colors), alpha=0.18)
    ax.contour(grid_x, grid_y, regions, levels=np.arange(num_classes) + 0.5,
               colors=line_color, linewidths=1.6)
    plot_points(x, y, ax=ax, labeled=labeled, num_classes=num_classes)
    if centroids is not None:
        plot_centroids(centroids, ax=ax)
    if title:
        ax.set_title(title)
    return ax


def plot_density(log_density, x, ax=None, resolution: int = 150, title=None):
    """Shaded contours of a density over the plane of the 2-D points ``x``.

    ``log_density`` maps an (m, 2) array to log densities (m,), for example a
    fitted scikit-learn ``GaussianMixture().score_samples``.
    """
    ax = _axes(ax)
    grid_x, grid_y, points = grid_around(x, resolution)
    density = np.exp(_numpy(log_density(points))).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, density, levels=12, cmap="Greys", alpha=0.55)
    if title:
        ax.set_title(title)
    return ax


def plot_centroids(centroids, ax=None, label: str | None = "centroids"):
    """Centroids (K, 2) as large stars in the class colours."""
    ax = _axes(ax)
    centroids = _numpy(centroids)
    colors = class_colors(len(centroids))
    ax.scatter(*centroids.T, color=colors, label=label, zorder=5, **CENTROID_MARKER)
    return ax


def plot_training_curves(record_or_history, keys=("val_acc", "test_acc"), ax=None,
                         label: str | None = None, title=None):
    """Curves of ``keys`` against the step, from a results record or its history."""
    ax = _axes(ax, figsize=(6.4, 4.0))
    history = record_or_history
    if isinstance(record_or_history, dict):
        history = record_or_history["history"]
    steps = [entry["step"] for entry in history]
    for key in keys:
        values = [entry.get(key, np.nan) for entry in history]
        name = key if label is None else f"{label}: {key}"
        ax.plot(steps, values, marker="o", markersize=4, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(", ".join(keys) if len(keys) < 3 else "value")
    ax.legend(frameon=True, fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class."""
    y_true, y_pred = _numpy(y_true).astype(int), _numpy(y_pred).astype(int)
    counts = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def plot_confusion_matrix(y_true, y_pred, num_classes: int, ax=None,
                          normalize: bool = True, title=None):
    """Heat map of the confusion matrix; rows sum to 1 when ``normalize``."""
    import seaborn as sns

    ax = _axes(ax, figsize=(5.6, 4.8))
    counts = confusion_matrix(y_true, y_pred, num_classes)
    values = counts
    if normalize:
        values = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    sns.heatmap(values, annot=num_classes <= 10, fmt=".2f" if normalize else "d",
                cmap="Blues", cbar=False, square=True, ax=ax,
                annot_kws={"fontsize": 8})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax


def project_2d(features, fit_on=None):
    """Project (n, d) rows to 2-D with the principal axes of ``fit_on``.

    Returns ``(projected, project)`` where ``project`` maps more rows the same
    way; 2-D inputs pass through unchanged.
    """
    fit_on = _numpy(features if fit_on is None else fit_on).astype(np.float64)
    if fit_on.shape[1] <= 2:
        def project(rows):
            return _numpy(rows).astype(np.float64)
    else:
        mean = fit_on.mean(0)
        _, _, axes = np.linalg.svd(fit_on - mean, full_matrices=False)

        def project(rows):
            return (_numpy(rows).astype(np.float64) - mean) @ axes[:2].T
    return project(features), project


def plot_centroid_trajectories(trajectory, features=None, labels=None, ax=None,
                               title=None):
    """Paths of the centroids during training, drawn in 2-D.

    ``trajectory`` is (T, K, d): the centroids after each recorded step. When
    ``d > 2`` everything is projected onto the two principal axes of
    ``features`` (n, d), which are drawn behind, coloured by ``labels``.
    """
    ax = _axes(ax)
    trajectory = _numpy(trajectory)
    steps, num_clusters, dim = trajectory.shape
    reference = features if features is not None else trajectory.reshape(-1, dim)
    _, project = project_2d(reference)
    colors = class_colors(num_clusters)
    if features is not None:
        points = project(features)
        if labels is None:
            ax.scatter(*points.T, s=6, color="0.6", alpha=0.4)
        else:
            labels = _numpy(labels).astype(int)
            for k in range(num_clusters):
                ax.scatter(*points[labels == k].T, s=6, color=colors[k], alpha=0.3)
    paths = project(trajectory.reshape(-1, dim)).reshape(steps, num_clusters, 2)
    for k in range(num_clusters):
        ax.plot(*paths[:, k].T, color=colors[k], linewidth=1.8)
        ax.scatter(*paths[0, k], color=colors[k], marker="o", s=60,
                   edgecolor="black", zorder=5)
        ax.scatter(*paths[-1, k], color=colors[k], zorder=6, **CENTROID_MARKER)
    if dim > 2:
        ax.set_xlabel("principal axis 1")
        ax.set_ylabel("principal axis 2")
    if title:
        ax.set_title(title)
    return ax
