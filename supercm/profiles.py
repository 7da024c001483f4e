"""Run profiles: ``smoke`` (CI), ``workshop`` (laptop CPU, default), ``paper`` (GPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from .validation import check_choice

PROFILE_NAMES = ("smoke", "workshop", "paper")


@dataclass(frozen=True)
class Profile:
    """Budgets and data for one profile; notebooks read their settings from here.

    ``train_overrides`` are TrainConfig fields every run of the profile uses.
    """

    name: str
    steps: int
    eval_every: int
    seeds: tuple[int, ...]
    ssl_dataset: str
    uda_source: str
    uda_target: str
    labels_per_class: int
    labels_per_class_sweep: tuple[int, ...]
    points_2d: int
    tsne_points: int
    train_overrides: dict = field(default_factory=dict)
    steps_2d: int = 500

    def config(self, **overrides):
        """A TrainConfig with this profile's budget, updated by ``overrides``."""
        from .config import TrainConfig

        values = {
            "dataset": self.ssl_dataset,
            "steps": self.steps,
            "eval_every": self.eval_every,
            "labels_per_class": self.labels_per_class,
            **self.train_overrides,
            **overrides,
        }
        return TrainConfig(**values)

    def config_2d(self, **overrides):
        """A TrainConfig for the 2-D teaching chapters: ``moons``, the MLP, no
        augmentation, ``steps_2d`` steps and splits that fit 1,000 points."""
        from .config import TrainConfig

        values = {
            "dataset": "moons", "backbone": "mlp", "steps": self.steps_2d,
            "eval_every": max(self.steps_2d // 5, 1), "labels_per_class": 4,
            "val_size": 100, "test_size": 300, "augment": False, "progress": False,
            **overrides,
        }
        return TrainConfig(**values)


PROFILES = {
    "smoke": Profile(
        name="smoke", steps=30, eval_every=15, seeds=(0,), ssl_dataset="mnist5k",
        uda_source="mnist5k", uda_target="ucidigits", labels_per_class=10,
        labels_per_class_sweep=(1, 10), points_2d=300, tsne_points=300,
        train_overrides={"val_size": 200, "test_size": 300}, steps_2d=300,
    ),
    "workshop": Profile(
        name="workshop", steps=400, eval_every=100, seeds=(0, 1, 2),
        ssl_dataset="mnist5k", uda_source="mnist5k", uda_target="ucidigits",
        labels_per_class=10, labels_per_class_sweep=(1, 5, 10, 50), points_2d=1000,
        tsne_points=1000,
    ),
    "paper": Profile(
        name="paper", steps=20_000, eval_every=1000, seeds=(0, 1, 2),
        ssl_dataset="cifar10", uda_source="mnist", uda_target="usps",
        labels_per_class=25, labels_per_class_sweep=(4, 25, 400), points_2d=2000,
        tsne_points=3000,
        train_overrides={"amp": True, "backbone": "wrn28-2", "val_size": 1000,
                         "num_workers": 4, "lr": 3e-3, "ema_decay": 0.999},
    ),
}


def get_profile(name: str | None = None, **changes) -> Profile:
    """The profile called ``name``, else ``$SUPERCM_PROFILE``, else ``workshop``."""
    name = name or os.environ.get("SUPERCM_PROFILE", "workshop")
    check_choice("profile", name, PROFILE_NAMES)
    profile = PROFILES[name]
    return replace(profile, **changes) if changes else profile


# Full-scale settings of the ``paper`` profile, per experiment: total labels
# 40/250/4000 on CIFAR-10 and 250/1000 on SVHN (as labels per class), and the
# two digit domain pairs (their source labels follow the profile).
PAPER_EXPERIMENTS = {
    "cifar10": {"dataset": "cifar10", "labels_per_class": (4, 25, 400),
                "backbone": "wrn28-2", "method": "ce+cm"},
    "svhn": {"dataset": "svhn", "labels_per_class": (25, 100),
             "backbone": "wrn28-2", "method": "ce+cm"},
    "mnist->usps": {"dataset": "mnist", "target_dataset": "usps",
                    "method": "dann+cm",
                    "backbone": "auto"},
    "svhn->mnist": {"dataset": "svhn", "target_dataset": "mnist",
                    "method": "dann+cm",
                    "backbone": "auto"},
}


def paper_configs(experiment: str, seeds=None, **overrides) -> list:
    """TrainConfigs of one ``paper`` experiment, one per label budget and seed.

    >>> [c.labels_per_class for c in paper_configs("cifar10", seeds=[0])]
    [4, 25, 400]
    """
    check_choice("experiment", experiment, tuple(PAPER_EXPERIMENTS))
    settings = dict(PAPER_EXPERIMENTS[experiment])
    profile = PROFILES["paper"]
    budgets = settings.pop("labels_per_class", (profile.labels_per_class,))
    return [
        profile.config(**{**settings, "labels_per_class": labels, "seed": seed,
                          **overrides})
        for labels in budgets
        for seed in (profile.seeds if seeds is None else seeds)
    ]
