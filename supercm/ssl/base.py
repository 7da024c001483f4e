"""What every SSL objective shares: its weight schedule and its options."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor

from ..objectives import Objective, ramp
from ..validation import ParameterError, check_nonnegative, check_unit

log = logging.getLogger(__name__)


class SSLObjective(Objective):
    """An unsupervised loss on the unlabeled rows, weighted ``w_ssl * ramp(t)``.

    ``t = progress / ramp_fraction``: the weight climbs from about
    ``0.0067 w_ssl`` to ``w_ssl`` over the first ``ramp_fraction`` of training
    and stays there; ``ramp_fraction = 0`` gives ``w_ssl`` from the first step.
    """

    def __init__(self, w_ssl: float, ramp_fraction: float):
        super().__init__()
        self.w_ssl = float(check_nonnegative("w_ssl", w_ssl))
        self.ramp_fraction = float(check_unit("ramp_fraction", ramp_fraction))

    def weight(self, progress: float) -> float:
        if self.ramp_fraction == 0:
            return self.w_ssl
        return self.w_ssl * ramp(progress / self.ramp_fraction)

    def metrics(self, loss: Tensor, progress: float) -> dict[str, float]:
        """The step's unweighted SSL loss and its current weight, for the history."""
        return {"ssl": float(loss.detach()), "ssl_weight": self.weight(progress)}

    def extra_repr(self) -> str:
        return f"w_ssl={self.w_ssl}, ramp_fraction={self.ramp_fraction}"


def method_settings(config, method: str, default_weight: float, defaults: dict):
    """``(w_ssl, options)`` of ``config`` for ``method``, defaults filled in.

    ``config.w_ssl = None`` takes ``default_weight``; ``config.ssl_options``
    may set any key of ``defaults`` and nothing else.
    """
    options = dict(config.ssl_options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "no options"
        raise ParameterError(
            f"ssl_options[{unknown[0]!r}]", options[unknown[0]],
            f"left out: method {method!r} takes only {allowed}",
        )

    w_ssl = default_weight if config.w_ssl is None else config.w_ssl
    settings = {**defaults, **options}
    log.info("%s: w_ssl=%s, %s", method, w_ssl, settings)
    return w_ssl, settings


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32, or as it is if it is already float64 (gradient checks)."""
    return x if x.dtype == torch.float64 else x.float()


def softmax_mse(logits: Tensor, target_logits: Tensor) -> Tensor:
    """Consistency ``mean_{i,k} (softmax(a)_ik - softmax(b)_ik)^2`` (no gradient to b).

    Shapes: both (n, K); the result is a scalar averaged over rows and classes.
    """
    target = F.softmax(at_least_float32(target_logits.detach()), dim=1)
    return (F.softmax(at_least_float32(logits), dim=1) - target).pow(2).mean()
