"""The one training loop for every method, with EMA, evaluation and checkpoints."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from . import checkpoint, distributed
from .augment import Augmentation, augmentation_for
from .backbones import Classifier, build_backbone, default_backbone
from .centroids import CentroidTracker
from .cluster import clustering_loss
from .config import TrainConfig
from .data import load_dataset, to_float
from .loaders import PairedBatches
from .objectives import OBJECTIVES, StepContext
from .results import versions, write_json
from .seeding import seed_everything
from .splits import make_splits

log = logging.getLogger(__name__)

# The keys of a results record's ``metrics``; domain adaptation adds the last two.
METRICS = (
    "test_acc", "test_acc_at_best_val", "test_acc_last", "ema_test_acc_at_best_val",
    "ema_test_acc_last", "best_val_acc", "best_step", "ema_best_val_acc",
    "ema_best_step", "proxy_a_distance", "oracle_test_acc",
)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class RunData:
    """Tensors of one run: labeled, unlabeled (or target), validation and test rows."""

    x_labeled: Tensor
    y_labeled: Tensor
    x_unlabeled: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    augmentation: Augmentation
    split_sizes: dict

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_labeled.shape[1:])


def prepare_data(config: TrainConfig) -> RunData:
    """Load the data set(s) of ``config`` and split them (``config`` is checked,
    and unset split sizes take the data set's, on a copy)."""
    config = dataclasses.replace(config).validate()
    if config.is_uda:
        from .domains import prepare_domain_data

        return prepare_domain_data(config)
    source = load_dataset(
        config.dataset, config.data_root, config.download, seed=config.seed
    )
    num_test = None if source.test_x is None else len(source.test_x)
    splits = make_splits(
        source.y, config.labels_per_class, config.seed, config.val_size,
        config.test_size, num_test,
    )
    test_x = source.x if splits.test_from_pool else source.test_x
    test_y = source.y if splits.test_from_pool else source.test_y
    return RunData(
        source.x[splits.labeled], source.y[splits.labeled],
        source.x[splits.unlabeled],
        source.x[splits.val], source.y[splits.val],
        test_x[splits.test], test_y[splits.test],
        source.num_classes, augmentation_for(config.dataset), splits.sizes(),
    )


def labeled_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy averaged over the labeled rows only.

    ``logits`` (n, K) hold the ``len(labels)`` labeled rows first; any rows after
    them (unlabeled or target rows) do not enter the loss or its average.
    """
    return F.cross_entropy(logits[: len(labels)].float(), labels)


def pick_device(name: str = "auto") -> torch.device:
    """``cuda`` when asked for or available (with ``auto``), else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available; "
                         "use device='auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def build_model(config: TrainConfig, input_shape, num_classes: int) -> Classifier:
    name = config.backbone
    if name == "auto":
        name = default_backbone(input_shape)
    return Classifier(
        build_backbone(name, input_shape), num_classes, config.temperature,
        learn_centroids=config.centroid_mode == "learned",
    )


class ModelEMA:
    """Exponential moving average of a model's weights (buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        pairs = zip(self.model.parameters(), model.parameters(), strict=True)
        for ema, current in pairs:
            ema.lerp_(current.detach(), 1.0 - self.decay)
        for ema, current in zip(self.model.buffers(), model.buffers(), strict=True):
            ema.copy_(current)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent, in eval mode (the mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(x), batch_size):
        xb = to_float(x[start:start + batch_size].to(device))
        correct += (model(xb).argmax(1).cpu() == y[start:start + batch_size]).sum()
    model.train(was_training)
    return 100.0 * int(correct) / max(len(x), 1)


class Trainer:
    """Train one configuration end to end and write its results record.

    ``callbacks`` are called after every step as ``callback(trainer, step)``;
    the book uses them to record how the centroids move.
    """

    def __init__(self, config: TrainConfig, callbacks: list[Callable] | None = None,
                 data: RunData | None = None):
        self.config = config.validate()
        self.callbacks = list(callbacks or [])
        seed_everything(config.seed, config.deterministic)
        self.device = pick_device(config.device)
        self.dist = distributed.setup(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.data = data or prepare_data(config)
        self.model = build_model(config, self.data.input_shape, self.data.num_classes)
        self.model.to(self.device)
        if self.device.type == "cuda" and self.data.x_labeled.dim() == 4:
            self.model.to(memory_format=torch.channels_last)
        self.tracker = CentroidTracker(
            self.data.num_classes, config.centroid_mode, config.centroid_update,
            config.centroid_momentum, config.pseudo_threshold,
        ).to(self.device)
        self.objective = self._build_objective()
        self.ema = ModelEMA(self.model, config.ema_decay)
        parameters = list(self.model.parameters())
        if self.objective is not None:
            self.objective.to(self.device)
            parameters += list(self.objective.parameters())
        self.optimizer = torch.optim.Adam(
            parameters, lr=config.lr, weight_decay=config.weight_decay
        )
        self.ddp = None
        if self.dist.enabled:
            self.ddp = distributed.wrap(self.model, self.dist, self.device)
            if self.objective is not None:
                distributed.broadcast_module(self.objective, self.dist)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_dtype == torch.float16
        )
        self.augment = self.data.augmentation if config.augment else (lambda x: x)
        self.step = 0
        self.history: list[dict] = []
        self.pending_parts: list[dict] = []  # step losses since the last evaluation
        self.best = {"val_acc": -1.0, "ema_val_acc": -1.0}
        self.timings = {"total_s": 0.0, "eval_s": 0.0, "centroid_s": 0.0}
        self.run_id = config.run_id()
        self.out_dir = Path(config.out_dir)

    def _build_objective(self):
        base = self.config.base_method
        if base in ("ce", "source"):
            return None
        if base not in OBJECTIVES:  # the modules register their objectives on import
            if self.config.is_uda:
                from . import uda  # noqa: F401
            else:
                from . import ssl  # noqa: F401
        return OBJECTIVES[base](self.config, self.model)

    def _amp_dtype(self):
        if not self.config.amp:
            return None
        if self.device.type != "cuda":
            log.info("amp=True needs CUDA; training in float32 on %s", self.device)
            return None
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoints" / f"{self.run_id}.pt"

    @property
    def results_path(self) -> Path:
        return self.out_dir / f"{self.run_id}.json"

    def _to_device(self, x: Tensor) -> Tensor:
        x = to_float(x.to(self.device, non_blocking=True))
        if self.device.type == "cuda" and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.no_grad()
    def _refresh_centroids(self, x_labeled: Tensor, y_labeled: Tensor, x_unlabeled):
        """Published refresh: an extra eval-mode pass of the un-augmented batches."""
        start = time.perf_counter()
        self.model.eval()
        z_labeled = self.model.backbone(x_labeled)
        z_unlabeled = probs = None
        if self.tracker.mode == "labels+pseudo":
            z_unlabeled, out = self.model.features_and_output(x_unlabeled)
            probs = out.responsibilities
        self.model.train()
        self.tracker.update(
            self.model.head.centroids, z_labeled, y_labeled, z_unlabeled, probs
        )
        self.timings["centroid_s"] += time.perf_counter() - start

    def train_step(self, x_labeled: Tensor, y_labeled: Tensor, x_unlabeled: Tensor):
        """One optimiser step; returns the step's loss parts as floats."""
        config = self.config
        progress = self.step / config.steps
        tracks_labels = config.use_cm and config.centroid_mode != "learned"
        if tracks_labels and config.centroid_source == "extra_pass":
            self._refresh_centroids(x_labeled, y_labeled, x_unlabeled)

        x_unlabeled_augmented = self.augment(x_unlabeled)
        batch = torch.cat([self.augment(x_labeled), x_unlabeled_augmented])
        n_labeled = len(x_labeled)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            forward = self.model.features_and_output if self.ddp is None else self.ddp
            z, out = forward(batch)
        logits = out.logits.float()
        ce = labeled_cross_entropy(logits, y_labeled)
        loss = ce
        parts = {"ce": float(ce.detach())}

        if self.objective is not None:
            ctx = StepContext(
                self.model, x_labeled, y_labeled, x_unlabeled, x_unlabeled_augmented,
                z, logits, n_labeled, self.step, progress, self.augment,
            )
            extra, metrics = self.objective(ctx)
            loss = loss + self.objective.weight(progress) * extra
            parts.update(metrics)

        if config.use_cm:
            if tracks_labels and config.centroid_source == "train_pass":
                probs = out.responsibilities[n_labeled:].detach()
                self.tracker.update(
                    self.model.head.centroids, z[:n_labeled].detach(), y_labeled,
                    z[n_labeled:].detach(), probs,
                )
            cm = clustering_loss(z, out.responsibilities, self.model.head.centroids,
                                 config.alpha)
            loss = loss + config.beta * cm.total
            parts.update(cm.as_dict())

        finite = bool(torch.isfinite(loss))
        if distributed.any_rank(not finite, self.dist, self.device):
            if finite:  # another rank diverged: stop now, not in an all-reduce
                raise NonFiniteLossError(
                    f"the training loss of another rank is not finite at step "
                    f"{self.step}; rank {self.dist.rank} stops with it"
                )
            where = f" on rank {self.dist.rank}" if self.dist.enabled else ""
            raise NonFiniteLossError(
                f"the training loss is {float(loss.detach())} at step {self.step}"
                f"{where} (parts: {parts}); lower lr (now {config.lr}) or beta "
                f"(now {config.beta}), or raise temperature (now {config.temperature})"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.objective is not None:
            distributed.average_gradients(self.objective.parameters(), self.dist)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.objective is not None:
            self.objective.after_step(self.model)
        self.ema.update(self.model)
        parts["loss"] = float(loss.detach())
        return parts

    def _set_lr(self, progress: float) -> None:
        if self.config.lr_anneal:
            lr = self.config.lr / (1.0 + 10.0 * progress) ** 0.75
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def evaluate(self) -> dict[str, float]:
        d = self.data
        start = time.perf_counter()
        metrics = {
            "val_acc": accuracy(self.model, d.x_val, d.y_val),
            "test_acc": accuracy(self.model, d.x_test, d.y_test),
            "ema_val_acc": accuracy(self.ema.model, d.x_val, d.y_val),
            "ema_test_acc": accuracy(self.ema.model, d.x_test, d.y_test),
        }
        self.timings["eval_s"] += time.perf_counter() - start
        return metrics

    def _record(self, step_parts: list[dict]) -> dict:
        metrics = self.evaluate()
        means = {
            key: sum(p[key] for p in step_parts) / len(step_parts)
            for key in step_parts[0]
        }
        entry = {"step": self.step, **means, **metrics}
        self.history.append(entry)
        for prefix in ("", "ema_"):
            if metrics[f"{prefix}val_acc"] > self.best[f"{prefix}val_acc"]:
                self.best[f"{prefix}val_acc"] = metrics[f"{prefix}val_acc"]
                self.best[f"{prefix}test_acc"] = metrics[f"{prefix}test_acc"]
                self.best[f"{prefix}step"] = self.step
        return entry

    def fit(self) -> dict:
        """Train for ``config.steps`` steps (continuing from a checkpoint with
        ``resume``); write and return the results record."""
        config = self.config
        if config.resume:
            checkpoint.resume(self)
        batches = iter(PairedBatches(
            self.data.x_labeled, self.data.y_labeled, self.data.x_unlabeled,
            config.batch_size, config.unlabeled_batch_size, config.seed,
            start_step=self.step, num_workers=config.num_workers,
            pin_memory=self.device.type == "cuda",
        ))
        progress_bar = tqdm(
            total=config.steps, initial=self.step, desc=config.method,
            disable=(not config.progress or not self.dist.is_main
                     or os.environ.get("SUPERCM_PROGRESS") == "0"),
            leave=False,
        )
        start = time.perf_counter()
        while self.step < config.steps:
            x_labeled, y_labeled, x_unlabeled = (
                distributed.shard(rows, self.dist) for rows in next(batches)
            )
            self._set_lr(self.step / config.steps)
            parts = self.train_step(
                self._to_device(x_labeled), y_labeled.to(self.device),
                self._to_device(x_unlabeled),
            )
            self.pending_parts.append(parts)
            self.step += 1
            for callback in self.callbacks:
                callback(self, self.step)
            if self.step % config.eval_every == 0 or self.step == config.steps:
                entry = self._record(self.pending_parts)
                self.pending_parts = []
                progress_bar.set_postfix(val=f"{entry['val_acc']:.1f}")
            if (config.checkpoint_every and self.step % config.checkpoint_every == 0
                    and self.dist.is_main):
                start = self._add_time(start)  # a resumed run counts all its time
                checkpoint.save(self)
            progress_bar.update(1)
        progress_bar.close()
        self._add_time(start)
        saved = config.checkpoint_every and self.step % config.checkpoint_every == 0
        if config.checkpoint_every and not saved and self.dist.is_main:
            checkpoint.save(self)
        return self.write_results()

    def _add_time(self, start: float) -> float:
        """Add the time since ``start`` to ``timings['total_s']``; return now."""
        now = time.perf_counter()
        self.timings["total_s"] += now - start
        return now

    def results(self) -> dict:
        last = self.history[-1]
        metrics = {
            "test_acc": self.best["test_acc"],
            "test_acc_at_best_val": self.best["test_acc"],
            "test_acc_last": last["test_acc"],
            "ema_test_acc_at_best_val": self.best["ema_test_acc"],
            "ema_test_acc_last": last["ema_test_acc"],
            "best_val_acc": self.best["val_acc"],
            "best_step": self.best["step"],
            "ema_best_val_acc": self.best["ema_val_acc"],
            "ema_best_step": self.best["ema_step"],
        }
        if self.objective is not None and hasattr(self.objective, "final_metrics"):
            metrics.update(self.objective.final_metrics(self))
        if self.config.is_uda:
            from .uda import uda_metrics

            metrics.update(uda_metrics(self))
        timings = dict(self.timings)
        timings["train_s"] = timings["total_s"] - timings["eval_s"]
        timings["per_step_ms"] = 1000 * timings["train_s"] / max(self.config.steps, 1)
        return {
            "run_id": self.run_id,
            "config": self.config.to_dict(),
            "seed": self.config.seed,
            "device": str(self.device),
            "splits": self.data.split_sizes,
            "metrics": metrics,
            "history": self.history,
            "timings": timings,
            "versions": versions(),
        }

    def write_results(self) -> dict:
        """The results record, written to ``results_path`` by the main rank only."""
        record = self.results()
        if not self.dist.is_main:
            return record
        write_json(self.results_path, record)
        log.info("wrote %s", self.results_path)
        return record


def train(config: TrainConfig | None = None, **overrides) -> dict:
    """Train one run and return its results record (see :class:`Trainer`).

    >>> record = train(dataset="moons", method="ce+cm", steps=20, progress=False)
    """
    values = {**(config.to_dict() if config else {}), **overrides}
    config = TrainConfig.from_dict(values)
    return Trainer(config).fit()
