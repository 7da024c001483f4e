"""Per-sample stochastic augmentation, applied to whole batches on their device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .validation import check_int, check_nonnegative


@dataclass
class Augmentation:
    """Random translation by up to ``shift`` pixels, optional horizontal flip,
    optional Gaussian noise of standard deviation ``noise``.

    Each sample draws its own shift, flip and noise. 2-D inputs (n, features)
    get noise only. Digits are never flipped: a flipped 2 is no digit.
    """

    shift: int = 2
    flip: bool = False
    noise: float = 0.0

    def __post_init__(self):
        check_int("shift", self.shift, low=0)
        check_nonnegative("noise", self.noise)

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            if self.shift:
                x = random_translate(x, self.shift)
            if self.flip:
                flipped = torch.rand(len(x), device=x.device) < 0.5
                x = torch.where(flipped[:, None, None, None], x.flip(3), x)
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return x


def random_translate(x: Tensor, shift: int) -> Tensor:
    """Shift every image (n, C, H, W) by its own integer offset in [-shift, shift]."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (n, 1), device=x.device)
    dx = torch.randint(0, 2 * shift + 1, (n, 1), device=x.device)
    rows = dy + torch.arange(h, device=x.device)
    cols = dx + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


DEFAULT_AUGMENTATION = {
    "moons": Augmentation(shift=0, noise=0.05),
    "blobs": Augmentation(shift=0, noise=0.05),
    "mnist5k": Augmentation(shift=2),
    "ucidigits": Augmentation(shift=1),
    "mnist": Augmentation(shift=2),
    "usps": Augmentation(shift=2),
    "svhn": Augmentation(shift=2),
    "cifar10": Augmentation(shift=2, flip=True),
}


def augmentation_for(dataset: str) -> Augmentation:
    """The default augmentation of a data set (translation; flips only for CIFAR-10)."""
    return DEFAULT_AUGMENTATION[dataset]
