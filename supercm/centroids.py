"""SuperCM centroids: cluster centres set from labeled features, not learned."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .validation import check_choice, check_open_unit, check_unit

CENTROID_MODES = ("labels", "labels+pseudo", "learned")
CENTROID_UPDATES = ("cumulative", "ema")


class CentroidTracker(nn.Module):
    """Running class means of labeled features, written into the clustering module.

    Each call to :meth:`update` takes features computed without gradient, forms
    the mean of every class present in the batch and moves that class's
    centroid towards it:

    - ``cumulative`` (the published default): ``mu_k`` is the plain mean of all
      batch means of class k seen so far;
    - ``ema``: ``mu_k <- m mu_k + (1 - m) mean_k`` with ``m = centroid_momentum``
      (the first batch mean of a class is taken as it is).

    A class absent from the batch keeps its centroid bit for bit. In
    ``labels+pseudo`` mode, unlabeled rows whose top probability exceeds
    ``pseudo_threshold`` join their predicted class. Under
    ``torch.distributed`` the class sums and counts are all-reduced, so every
    rank holds the same centroids.
    """

    def __init__(
        self,
        num_classes: int,
        mode: str = "labels",
        update: str = "cumulative",
        centroid_momentum: float = 0.9,
        pseudo_threshold: float = 0.95,
    ):
        super().__init__()
        check_choice("centroid_mode", mode, CENTROID_MODES)
        check_choice("centroid_update", update, CENTROID_UPDATES)
        check_unit("centroid_momentum", centroid_momentum)
        check_open_unit("pseudo_threshold", pseudo_threshold)
        self.num_classes = num_classes
        self.mode = mode
        self.update_rule = update
        self.centroid_momentum = centroid_momentum
        self.pseudo_threshold = pseudo_threshold
        self.register_buffer("updates_seen", torch.zeros(num_classes, dtype=torch.long))

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode!r}, update={self.update_rule!r}, "
            f"centroid_momentum={self.centroid_momentum}, "
            f"pseudo_threshold={self.pseudo_threshold}"
        )

    @torch.no_grad()
    def update(
        self,
        centroids: Tensor,
        features: Tensor,
        labels: Tensor,
        unlabeled_features: Tensor | None = None,
        unlabeled_probs: Tensor | None = None,
    ) -> Tensor:
        """Move ``centroids`` (K, d) in place towards the class means of ``features``.

        Returns the boolean mask (K,) of classes whose centroid changed.
        """
        if self.mode == "learned":
            return torch.zeros(self.num_classes, dtype=torch.bool)

        features = features.detach().float()
        labels = labels.detach()
        if self.mode == "labels+pseudo" and unlabeled_features is not None:
            keep, predicted = confident_predictions(
                unlabeled_probs.detach(), self.pseudo_threshold
            )
            features = torch.cat([features, unlabeled_features.detach().float()[keep]])
            labels = torch.cat([labels, predicted[keep]])

        sums, counts = class_sums(features, labels, self.num_classes)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
            dist.all_reduce(counts)

        present = counts > 0
        self.updates_seen = self.updates_seen.to(present.device)
        batch_means = sums[present] / counts[present, None]
        current = centroids[present].float()
        if self.update_rule == "cumulative":
            seen = self.updates_seen[present].float()[:, None]
            new = current + (batch_means - current) / (seen + 1)
        else:
            first = (self.updates_seen[present] == 0)[:, None]
            moved = self.centroid_momentum * current
            moved = moved + (1 - self.centroid_momentum) * batch_means
            new = torch.where(first, batch_means, moved)
        centroids[present] = new.to(centroids.dtype)
        self.updates_seen[present] += 1
        return present


def confident_predictions(probs: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """The confidence rule shared by ``labels+pseudo`` centroids and Pseudo-Label.

    A row of ``probs`` (n, K) is confident when its top probability is strictly
    greater than ``threshold``. Returns the mask (n,) of confident rows and the
    argmax class (n,) of every row.
    """
    confidence, predicted = probs.max(dim=1)
    return confidence > threshold, predicted


def class_sums(features: Tensor, labels: Tensor, num_classes: int):
    """Per-class sums (K, d) and counts (K,) of ``features`` (n, d)."""
    sums = torch.zeros(num_classes, features.shape[1], device=features.device)
    sums.index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).to(features.dtype)
    return sums, counts
