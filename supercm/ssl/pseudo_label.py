"""Pseudo-Label (Lee, 2013): confident predictions become hard targets.

``L = (1 / n) sum_i 1[max_k p_ik > tau] CE(a_i, argmax_k p_ik)`` over the ``n``
unlabeled rows, with ``p = softmax(a)`` taken without gradient. A row at or
below the threshold ``tau`` contributes nothing, not even a gradient; when no
row passes, the loss is exactly 0. The confidence rule is the one the
``labels+pseudo`` centroid mode uses.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..centroids import confident_predictions
from ..objectives import StepContext, register_objective
from ..validation import check_open_unit
from .base import SSLObjective, at_least_float32, method_settings

# Weight 1 and threshold 0.95: the Pseudo-Label settings of Oliver et al.,
# "Realistic Evaluation of Deep Semi-Supervised Learning Algorithms"
# (NeurIPS 2018), appendix table. The threshold defaults to
# ``config.pseudo_threshold`` (0.95), so one number governs both uses of the rule.
DEFAULT_WEIGHT = 1.0


class PseudoLabel(SSLObjective):
    """Cross-entropy towards the argmax on rows above ``threshold``."""

    def __init__(self, w_ssl: float, ramp_fraction: float, threshold: float = 0.95):
        super().__init__(w_ssl, ramp_fraction)
        self.threshold = float(check_open_unit("pl_threshold", threshold))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, threshold={self.threshold}"

    def loss(self, logits: Tensor):
        """``(loss, mask)`` for unlabeled logits (n, K); ``mask`` (n,) marks targets."""
        logits = at_least_float32(logits)
        keep, targets = confident_predictions(
            F.softmax(logits.detach(), dim=1), self.threshold
        )
        per_row = F.cross_entropy(logits[keep], targets[keep], reduction="none")
        return per_row.sum() / max(len(logits), 1), keep

    def forward(self, ctx: StepContext):
        loss, keep = self.loss(ctx.unlabeled_logits)
        metrics = self.metrics(loss, ctx.progress)
        metrics["pseudo_label_rate"] = float(keep.float().mean())
        return loss, metrics


@register_objective("pl")
def build_pseudo_label(config, model) -> PseudoLabel:
    defaults = {"pl_threshold": config.pseudo_threshold}
    w_ssl, options = method_settings(config, "pl", DEFAULT_WEIGHT, defaults)
    return PseudoLabel(w_ssl, config.ramp_fraction, options["pl_threshold"])
