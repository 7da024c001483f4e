"""The interface every extra training objective (SSL or UDA) implements."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass
class StepContext:
    """What one training step knows when the extra objectives are computed.

    ``features`` and ``logits`` hold the labeled rows first (``num_labeled``
    of them), then the unlabeled (or target) rows, from one forward pass of
    the augmented batch.
    """

    model: nn.Module
    x_labeled: Tensor
    y_labeled: Tensor
    x_unlabeled: Tensor
    x_unlabeled_augmented: Tensor
    features: Tensor
    logits: Tensor
    num_labeled: int
    step: int
    progress: float
    augment: Callable[[Tensor], Tensor]

    @property
    def unlabeled_logits(self) -> Tensor:
        return self.logits[self.num_labeled:]


class Objective(nn.Module):
    """An extra loss term with its own parameters (if any) and per-step hooks.

    ``forward(ctx)`` returns ``(loss, metrics)``; the trainer multiplies the
    loss by ``weight(progress)``. ``after_step(model)`` runs after the
    optimiser step (for example to move a teacher).
    """

    def weight(self, progress: float) -> float:
        return 1.0

    def forward(self, ctx: StepContext) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError

    def after_step(self, model: nn.Module) -> None:
        return None


def ramp(t: float) -> float:
    """Ramp-up ``exp(-5 (1 - min(t, 1))^2)``: about 0.0067 at 0, exactly 1 from 1."""
    t = min(max(float(t), 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


# Factories keyed by method base name; each takes (config, model) and returns
# an Objective. The SSL and UDA modules register theirs here.
OBJECTIVES: dict[str, Callable] = {}


def register_objective(name: str):
    def decorator(factory):
        OBJECTIVES[name] = factory
        return factory

    return decorator
