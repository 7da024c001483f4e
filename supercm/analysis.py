"""Turn trained models and run records into what the book shows.

Features of a trained model, t-SNE embeddings with the centroids embedded
alongside, confusion matrices, mean/std tables over seeds as markdown, paired
gains of ``+cm`` over its base method, and the comparison with the claims of
the SuperCM paper.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .config import PRESENTATION_FIELDS, SSL_METHODS, TrainConfig, labels_text
from .data import to_float
from .results import read_json, write_atomic
from .validation import ParameterError, check_int, check_positive

log = logging.getLogger(__name__)

RUNS_ENV = "SUPERCM_RUNS"


def runs_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of run records: ``path``, ``$SUPERCM_RUNS`` or ``runs``."""
    return Path(path or os.environ.get(RUNS_ENV, "runs"))


def _in_runs_dir(config: TrainConfig, out_dir) -> TrainConfig:
    values = {**config.to_dict(), "out_dir": str(runs_dir(out_dir)), "progress": False}
    return TrainConfig(**values).validate()


def run_or_load(config: TrainConfig, out_dir: str | os.PathLike | None = None,
                data=None) -> dict:
    """The results record of ``config``: read from ``out_dir`` if there, else trained.

    Two notebooks asking for the same configuration pay for it once. ``data``
    (a ``RunData`` of the same data set, split and seed) saves loading it again.
    """
    from .train import Trainer

    config = _in_runs_dir(config, out_dir)
    path = Path(config.out_dir) / f"{config.run_id()}.json"
    if path.exists():
        log.info("loaded %s", path)
        return read_json(path)
    return Trainer(config, data=data).fit()


def model_path(config: TrainConfig, out_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`load_or_train_model` keeps the weights of ``config``'s run."""
    return runs_dir(out_dir) / "models" / f"{config.run_id()}.pt"


def load_or_train_model(
    config: TrainConfig, out_dir: str | os.PathLike | None = None, data=None
) -> tuple[dict, nn.Module]:
    """The record and the trained model (final weights, eval mode) of ``config``.

    The weights are saved next to the record; when both exist nothing is
    trained. A record without weights (written by :func:`run_or_load`) is
    trained again so that record and weights come from the same run.
    ``data`` is as in :func:`run_or_load`.
    """
    from .train import Trainer, build_model, prepare_data

    config = _in_runs_dir(config, out_dir)
    weights = model_path(config, out_dir)
    record_path = Path(config.out_dir) / f"{config.run_id()}.json"
    if weights.exists() and record_path.exists():
        record = read_json(record_path)
        data = data or prepare_data(config)
        model = build_model(config, data.input_shape, data.num_classes)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        log.info("loaded %s", weights)
        return record, model.eval()

    trainer = Trainer(config, data=data)
    record = trainer.fit()
    model = trainer.model.cpu()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    write_atomic(weights, buffer.getvalue())
    return record, model.eval()


@dataclass
class Features:
    """Backbone features (n, d), class probabilities (n, K) and predictions (n,)."""

    features: np.ndarray
    probabilities: np.ndarray
    predictions: np.ndarray


@torch.no_grad()
def extract_features(model: nn.Module, x: Tensor, batch_size: int = 500) -> Features:
    """Run ``model`` (a Classifier) in eval mode over ``x`` in batches.

    The model's mode is restored afterwards.
    """
    check_int("batch_size", batch_size, low=1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    features, probabilities = [], []
    for start in range(0, len(x), batch_size):
        batch = to_float(x[start:start + batch_size].to(device))
        z, out = model.features_and_output(batch)
        features.append(z.float().cpu())
        probabilities.append(out.responsibilities.float().cpu())

    model.train(was_training)
    probs = torch.cat(probabilities).numpy()
    return Features(torch.cat(features).numpy(), probs, probs.argmax(1))


def subsample(num_rows: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(size, num_rows)`` rows drawn without replacement."""
    check_int("size", size, low=1)
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(num_rows)[:min(size, num_rows)])


def tsne_with_centroids(
    features: np.ndarray,
    centroids: np.ndarray | None = None,
    perplexity: float = 30.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D t-SNE of features (n, d) and centroids (K, d), embedded together.

    t-SNE has no transform for new points, so the centroids are appended to
    the features before the embedding and split off after it. Returns
    ``(points (n, 2), centroids (K, 2) or None)``.
    """
    from sklearn.manifold import TSNE

    check_positive("perplexity", perplexity)
    features = np.asarray(features, dtype=np.float32)
    extra = np.zeros((0, features.shape[1]), np.float32)
    if centroids is not None:
        extra = np.asarray(centroids, dtype=np.float32)
        if extra.ndim != 2 or extra.shape[1] != features.shape[1]:
            raise ParameterError(
                "centroids", f"array of shape {extra.shape}",
                f"an array of shape (K, {features.shape[1]}) like the features",
            )
    stacked = np.concatenate([features, extra])
    perplexity = min(perplexity, (len(stacked) - 1) / 3)

    embedding = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed,
    ).fit_transform(stacked)
    points, embedded_centroids = embedding[:len(features)], embedding[len(features):]
    return points, (embedded_centroids if centroids is not None else None)


def confusion_data(true: Sequence[int], predicted: Sequence[int], num_classes: int):
    """Confusion matrix (K, K) of counts: row = true class, column = prediction."""
    check_int("num_classes", num_classes, low=1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true), np.asarray(predicted)), 1)
    return matrix


def class_means(features: np.ndarray, labels: np.ndarray, num_classes: int):
    """Mean feature of each class (K, d); a class without rows gets NaNs."""
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    means = np.full((num_classes, features.shape[1]), np.nan)
    for k in range(num_classes):
        if np.any(labels == k):
            means[k] = features[labels == k].mean(0)
    return means


def cluster_spread(features: np.ndarray, labels: np.ndarray, centroids: np.ndarray):
    """Mean squared distance of each feature to its class centroid, divided by the
    mean squared distance between centroids (smaller = tighter, better separated)."""
    features, centroids = np.asarray(features), np.asarray(centroids)
    within = ((features - centroids[np.asarray(labels)]) ** 2).sum(1).mean()
    gaps = ((centroids[:, None] - centroids[None]) ** 2).sum(-1)
    k = len(centroids)
    between = gaps.sum() / max(k * (k - 1), 1)
    return float(within / between)


def load_records(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Read results records from JSON files."""
    return [read_json(path) for path in paths]


def records_in(folder: str | os.PathLike) -> list[dict]:
    """Every results record in ``folder`` (one JSON file per run), by file name;
    JSON files without ``config`` and ``metrics`` (tables, timings) are skipped."""
    records = [read_json(path) for path in sorted(Path(folder).glob("*.json"))]
    needed = {"config", "metrics"}
    return [r for r in records if isinstance(r, dict) and needed <= set(r)]


def with_and_without_cm(
    records: Sequence[dict], metric: str = "test_acc"
) -> list[dict]:
    """Every method run with and without ``+cm`` under otherwise equal settings.

    Rows hold ``task`` (``dataset`` or ``source -> target``), ``uda``,
    ``base``, ``labels`` (text; ``all`` for the whole source pool), the means
    ``without`` and ``with`` over their seeds, ``gain`` and ``seeds`` (the
    smaller count). Rows are sorted: SSL first, then by task, method, labels.
    """
    ignored = set(PRESENTATION_FIELDS) | {"method", "seed", "w_ssl", "ssl_options"}
    groups: dict[tuple, list[float]] = {}
    for record in records:
        config = record["config"]
        setting = json.dumps(
            {k: v for k, v in config.items() if k not in ignored}, sort_keys=True
        )
        key = (setting, config["method"].removesuffix("+cm"),
               config["method"].endswith("+cm"))
        groups.setdefault(key, []).append(float(record["metrics"][metric]))

    rows = []
    for (setting, base, with_cm), values in groups.items():
        partner = groups.get((setting, base, True))
        if with_cm or partner is None:
            continue
        config = json.loads(setting)
        target = config.get("target_dataset")
        without, with_ = mean_std(values)[0], mean_std(partner)[0]
        task = f"{config['dataset']} → {target}" if target else config["dataset"]
        rows.append({
            "task": task,
            "uda": bool(target), "base": base,
            "labels_per_class": config["labels_per_class"],
            "labels": labels_text(config["labels_per_class"]),
            "without": without, "with": with_, "gain": with_ - without,
            "seeds": min(len(values), len(partner)),
        })
    rows.sort(key=lambda r: (r["uda"], r["task"], r["base"], r["labels_per_class"]))
    return rows


def record_value(record: dict, key: str):
    """A value of a record: a metric, a config field, ``seed`` or ``run_id``."""
    if key in ("seed", "run_id"):
        return record[key]
    if key in record["metrics"]:
        return record["metrics"][key]
    if key in record["config"]:
        return record["config"][key]
    raise ParameterError("key", key, "a metric or config field of the run record")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ParameterError("values", values, "at least one number")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def summarize(
    records: Sequence[dict],
    by: Sequence[str] = ("method",),
    metrics: Sequence[str] = ("test_acc",),
) -> list[dict]:
    """Group records by config fields ``by``; mean, std and count of each metric.

    Each row holds the ``by`` values, ``n`` and ``<metric>_mean``/``_std``,
    in the order the groups first appear.
    """
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = tuple(record_value(record, field) for field in by)
        groups.setdefault(key, []).append(record)

    rows = []
    for key, members in groups.items():
        row = dict(zip(by, key, strict=True))
        row["n"] = len(members)
        for metric in metrics:
            values = [record_value(r, metric) for r in members]
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(values)
        rows.append(row)
    return rows


def format_mean_std(mean: float, std: float, n: int, digits: int = 1) -> str:
    """``81.2 ± 1.3`` over several seeds, ``81.2`` for one."""
    if n > 1:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def paired_gains(
    records: Sequence[dict],
    base: str,
    variant: str,
    by: Sequence[str] = ("labels_per_class",),
    metric: str = "test_acc",
) -> list[dict]:
    """Gain of ``variant`` over ``base`` (methods), paired by seed within each group.

    Rows hold the ``by`` values, ``n`` (seeds run with both methods), the two
    means and ``gain_mean``/``gain_std`` of the per-seed differences.
    """
    table: dict[tuple, dict[str, dict[int, float]]] = {}
    for record in records:
        method = record["config"]["method"]
        if method not in (base, variant):
            continue
        key = tuple(record_value(record, field) for field in by)
        table.setdefault(key, {base: {}, variant: {}})
        table[key][method][record["seed"]] = float(record_value(record, metric))

    rows = []
    for key, runs in table.items():
        seeds = sorted(set(runs[base]) & set(runs[variant]))
        if not seeds:
            continue
        row = dict(zip(by, key, strict=True))
        row["n"] = len(seeds)
        row[f"{base}_mean"] = mean_std([runs[base][s] for s in seeds])[0]
        row[f"{variant}_mean"] = mean_std([runs[variant][s] for s in seeds])[0]
        differences = [runs[variant][s] - runs[base][s] for s in seeds]
        row["gain_mean"], row["gain_std"] = mean_std(differences)
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict], columns: dict[str, str]) -> str:
    """A markdown table of ``rows``; ``columns`` maps row keys to headers.

    Floats are shown with one decimal; other values as they are.
    """
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    lines = [
        "| " + " | ".join(columns.values()) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(k, "")) for k in columns) + " |")
    return "\n".join(lines)


def mean_std_table(
    records: Sequence[dict],
    by: Sequence[str] = ("method",),
    metrics: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    digits: int | dict[str, int] = 1,
) -> str:
    """Markdown table: one row per group of ``by`` values, each metric as mean ± std.

    ``metrics`` maps metric names to column headers (default: test accuracy);
    ``headers`` renames the ``by`` columns; ``digits`` is one number of
    decimals or one per metric (default 1). The last column counts the seeds.
    """
    metrics = metrics or {"test_acc": "test accuracy (%)"}
    rows = summarize(records, by, tuple(metrics))
    for row in rows:
        for metric in metrics:
            places = digits.get(metric, 1) if isinstance(digits, dict) else digits
            row[metric] = format_mean_std(
                row[f"{metric}_mean"], row[f"{metric}_std"], row["n"], places
            )
    headers = headers or {}
    columns = {field: headers.get(field, field) for field in by}
    columns.update(metrics)
    columns["n"] = "seeds"
    return markdown_table(rows, columns)


@dataclass(frozen=True)
class PublishedClaim:
    """A headline gain reported by the SuperCM paper (Singh et al., 2025)."""

    setting: str
    bases: tuple[str, ...]
    gain: float
    where: str


SUPERCM_PAPER = (
    "D. Singh, A. Boubekki, R. Jenssen and M. Kampffmeyer, SuperCM: Improving "
    "Semi-Supervised Learning and Domain Adaptation through differentiable "
    "clustering, Pattern Recognition (2025), arXiv:2507.13779"
)

PUBLISHED_CLAIMS = (
    PublishedClaim(
        "semi-supervised learning", ("ce", "pi", "mt", "vat", "pl"), 15.0,
        "low-label regimes on benchmarks such as CIFAR-10 and SVHN, on a GPU",
    ),
    PublishedClaim(
        "domain adaptation", ("dann",), 10.0,
        "DANN on benchmarks such as Office-31 and ImageCLEF",
    ),
)


def best_gain(records: Sequence[dict], bases: Sequence[str], metric="test_acc"):
    """The largest mean paired gain of ``base+cm`` over ``base`` over all bases and
    labels-per-class settings in ``records``; ``None`` when no pair was run."""
    best = None
    for base in bases:
        for row in paired_gains(records, base, f"{base}+cm", metric=metric):
            if best is None or row["gain_mean"] > best["gain_mean"]:
                best = {"base": base, **row}
    return best


def _where(gain: dict) -> str:
    labels = ""
    if gain["base"] in SSL_METHODS:
        labels = f", {gain['labels_per_class']} labels/class"
    return f"{gain['base']} vs {gain['base']}+cm{labels}, {gain['n']} seed(s)"


def claims_table(records: Sequence[dict], metric: str = "test_acc") -> list[dict]:
    """One row per published claim with the best gain measured in ``records``.

    ``measured`` is the mean gain over paired seeds (``None`` when the runs
    needed are missing); ``reached`` says whether it is at least the claim.
    """
    rows = []
    for claim in PUBLISHED_CLAIMS:
        best = best_gain(records, claim.bases, metric)
        row = {
            "setting": claim.setting,
            "published": f"up to +{claim.gain:.0f}",
            "published_where": claim.where,
            "measured": None if best is None else best["gain_mean"],
            "measured_where": "" if best is None else _where(best),
            "reached": best is not None and best["gain_mean"] >= claim.gain,
        }
        rows.append(row)
    return rows


def history_series(record: dict, key: str = "val_acc") -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` from a record's evaluation history."""
    steps = [entry["step"] for entry in record["history"] if key in entry]
    values = [entry[key] for entry in record["history"] if key in entry]
    if not steps:
        raise ParameterError("key", key, "a key of the record's history entries")
    return steps, values


def plot_histories(records: Sequence[dict], key: str = "val_acc", ax=None,
                   label_by: str = "method", ylabel: str | None = None):
    """One line per record: ``key`` against the training step."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for record in records:
        steps, values = history_series(record, key)
        ax.plot(steps, values, marker="o", label=str(record_value(record, label_by)))
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.legend(title=label_by, fontsize="small")
    return ax


def plot_embedding(points: np.ndarray, labels: np.ndarray, centroids=None, ax=None,
                   title: str = "", legend_title: str = "class", names=None):
    """Scatter 2-D points coloured by ``labels``; centroids as large outlined stars.

    ``names`` maps label values to legend names (default: the values).
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    labels = np.asarray(labels)
    values = np.unique(labels)
    palette = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
    for index, value in enumerate(values):
        mask = labels == value
        name = names[value] if names is not None else value
        ax.scatter(points[mask, 0], points[mask, 1], s=6, alpha=0.6,
                   color=palette(index % palette.N), label=str(name))
    if centroids is not None:
        for k, (cx, cy) in enumerate(centroids):
            ax.scatter(cx, cy, s=260, marker="*", color=palette(k % palette.N),
                       edgecolor="black", linewidth=1.2, zorder=3)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(title=legend_title, fontsize="x-small", markerscale=2,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def plot_confusion(matrix: np.ndarray, ax=None, title: str = ""):
    """Heat map of a confusion matrix, rows normalised to percent of the true class."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    matrix = np.asarray(matrix, dtype=float)
    percent = 100 * matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(len(matrix)))
    ax.set_yticks(range(len(matrix)))
    ax.set_title(title)
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, label="% of true class")
    return ax


def image_grid(x: Tensor, y: Tensor, num_classes: int, per_class: int = 8,
               title: str = ""):
    """A figure with one row per class and up to ``per_class`` images of it.

    ``x`` is (n, C, H, W), uint8 or float in [0, 1]; gray images use a gray map.
    """
    import matplotlib.pyplot as plt

    check_int("per_class", per_class, low=1)
    fig, axes = plt.subplots(
        num_classes, per_class, squeeze=False,
        figsize=(0.7 * per_class, 0.7 * num_classes),
    )
    for k in range(num_classes):
        rows = torch.nonzero(torch.as_tensor(y) == k).flatten()[:per_class]
        for column, ax in enumerate(axes[k]):
            ax.axis("off")
            if column < len(rows):
                image = to_float(x[rows[column]]).permute(1, 2, 0).squeeze(-1)
                ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
        axes[k][0].text(-0.12, 0.5, str(k), transform=axes[k][0].transAxes,
                        ha="right", va="center", fontsize="small")
    fig.subplots_adjust(left=0.06, top=0.94, wspace=0.05, hspace=0.05)
    fig.suptitle(title)
    return fig
