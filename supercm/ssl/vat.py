"""Virtual adversarial training (Miyato et al., 2018): smooth where it hurts most.

For every unlabeled row, find the direction ``r`` of norm ``eps`` that changes
the prediction most, and penalise the change:
``L = mean_i KL(p(. | x_i) || p(. | x_i + r_i))`` with ``p(. | x_i)`` fixed.
``r_i`` comes from power iteration: start from a random unit ``d_i``, set
``d_i <- normalise(grad_d KL(p(x_i) || p(x_i + xi d_i)))`` ``vat_power_iterations``
times, then ``r_i = eps d_i``. Norms are per sample, over (C, H, W) for images
and over the features for 2-D inputs.

The reference prediction ``p(. | x_i)`` comes from its own pass without
gradient, under the same normalisation as the perturbed passes (BatchNorm on
the unlabeled batch alone). Reusing the training pass's logits, whose batch
also holds the labeled rows, would make ``p(x) != p(x + 0)``; the search would
then follow that first-order mismatch instead of the curvature it is meant to
find. The clean, search and adversarial passes leave BatchNorm running
statistics untouched, restore the model's train/eval mode and leave no
gradient on the parameters (the search differentiates with respect to ``d``
only).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..objectives import StepContext, register_objective
from ..validation import check_int, check_positive
from .base import SSLObjective, at_least_float32, method_settings

# Weight 0.3 with one power iteration: the VAT settings of Oliver et al.,
# "Realistic Evaluation of Deep Semi-Supervised Learning Algorithms" (NeurIPS
# 2018), appendix table, and Miyato et al. (2018). Both use xi = 1e-6, but in
# float32 on [0, 1] pixels a step of 1e-6 spread over 784 pixels is mostly
# rounded away: on an untrained SmallCNN the direction it finds has cosine 0.1
# with the float64 answer, while xi = 1e-3 gives 0.999 (xi = 0.1 gives 0.9).
# Hence xi = 1e-3 here; pass vat_xi=1e-6 to follow the papers. eps depends on the
# input scale (they use 6 on ZCA-whitened CIFAR-10, 1 on SVHN). For digits with
# pixels in [0, 1], an mnist5k digit has norm 9.2 on average; eps = 2.0 moves
# it by about a fifth of that, enough to cross a stroke, not to erase it.
DEFAULT_WEIGHT = 0.3
DEFAULT_OPTIONS = {"vat_eps": 2.0, "vat_xi": 1e-3, "vat_power_iterations": 1}


def unit_per_sample(d: Tensor, fallback: Tensor | None = None) -> Tensor:
    """Scale every row of ``d`` (n, ...) to L2 norm 1 over its non-batch dims.

    Rows whose norm is zero or not finite take the matching row of
    ``fallback`` (already unit norm) instead, so the result never holds NaN.
    """
    flat = d.flatten(1).double()
    norms = flat.norm(dim=1, keepdim=True)
    good = torch.isfinite(norms) & (norms > 0)
    unit = (flat / torch.where(good, norms, torch.ones_like(norms))).to(d.dtype)
    unit = unit.view_as(d)
    if fallback is None:
        return unit
    mask = good.view(-1, *([1] * (d.dim() - 1)))
    return torch.where(mask, unit, fallback)


@contextlib.contextmanager
def frozen_batchnorm_statistics(model: nn.Module):
    """Run ``model`` without changing its BatchNorm buffers.

    Inside the block every BatchNorm layer stops tracking: in train mode it
    normalises with the batch statistics and neither moves its running
    averages nor counts the batch; in eval mode it uses the running averages as
    usual. Nothing is written in place, so graphs built inside stay valid.
    """
    norms = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    for module in norms:
        module.track_running_stats = False
    try:
        yield
    finally:
        for module in norms:
            module.track_running_stats = True


def kl_to(target_logits: Tensor, logits: Tensor) -> Tensor:
    """``mean_i KL(softmax(target_i) || softmax(logits_i))``; no gradient to target."""
    target = F.log_softmax(at_least_float32(target_logits.detach()), dim=1)
    return F.kl_div(
        F.log_softmax(at_least_float32(logits), dim=1), target, reduction="batchmean",
        log_target=True,
    )


def adversarial_perturbation(
    model: nn.Module, x: Tensor, logits: Tensor, eps: float, xi: float = 1e-6,
    power_iterations: int = 1,
) -> Tensor:
    """The virtual adversarial perturbation ``r`` (same shape as ``x``), norm ``eps``
    per sample.

    ``logits`` (n, K) are the model's predictions at ``x``. Parameters receive
    no gradient; BatchNorm buffers and the train/eval mode are as before.
    """
    check_positive("vat_eps", eps)
    check_positive("vat_xi", xi)
    check_int("vat_power_iterations", power_iterations, low=1)

    x = x.detach()
    d = unit_per_sample(torch.randn_like(x))
    was_training = model.training
    with frozen_batchnorm_statistics(model):
        for _ in range(power_iterations):
            d.requires_grad_(True)
            divergence = kl_to(logits, model(x + xi * d))
            (grad,) = torch.autograd.grad(divergence, d)
            d = unit_per_sample(grad.detach(), fallback=d.detach())
    model.train(was_training)
    return eps * d


class VirtualAdversarialTraining(SSLObjective):
    """KL divergence between predictions at ``x`` and at ``x + r_adv``."""

    def __init__(self, w_ssl: float, ramp_fraction: float, eps: float = 2.0,
                 xi: float = 1e-3, power_iterations: int = 1):
        super().__init__(w_ssl, ramp_fraction)
        self.eps = float(check_positive("vat_eps", eps))
        self.xi = float(check_positive("vat_xi", xi))
        self.power_iterations = check_int(
            "vat_power_iterations", power_iterations, low=1
        )

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, eps={self.eps}, xi={self.xi}, "
                f"power_iterations={self.power_iterations}")

    def loss(self, model: nn.Module, x: Tensor) -> Tensor:
        """VAT loss (a scalar) of the inputs ``x`` (n, ...)."""
        x = x.detach()
        with frozen_batchnorm_statistics(model):
            with torch.no_grad():
                clean_logits = model(x)

            r_adv = adversarial_perturbation(
                model, x, clean_logits, self.eps, self.xi, self.power_iterations
            )
            return kl_to(clean_logits, model(x + r_adv))

    def forward(self, ctx: StepContext):
        loss = self.loss(ctx.model, ctx.x_unlabeled_augmented)
        return loss, self.metrics(loss, ctx.progress)


@register_objective("vat")
def build_vat(config, model) -> VirtualAdversarialTraining:
    w_ssl, options = method_settings(config, "vat", DEFAULT_WEIGHT, DEFAULT_OPTIONS)
    return VirtualAdversarialTraining(
        w_ssl, config.ramp_fraction, options["vat_eps"], options["vat_xi"],
        options["vat_power_iterations"],
    )
