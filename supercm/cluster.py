"""The clustering module (CM): a differentiable isotropic Gaussian-mixture layer.

The layer doubles as the classifier head: its assignment logits are the class
logits, so a network with a clustering module needs no other output layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .validation import check_int, check_parameter


@dataclass
class ClusterOutput:
    """What the clustering module computes for one batch.

    Shapes: ``logits`` and ``responsibilities`` are (n, K), ``reconstruction``
    is (n, d).
    """

    logits: Tensor
    responsibilities: Tensor
    reconstruction: Tensor


class ClusteringModule(nn.Module):
    """Assignment logits ``a = (W z + b) / T``, responsibilities ``g = softmax(a)``
    and the reconstruction ``z_hat = g @ mu``.

    Args:
        in_features: feature size ``d``.
        num_clusters: number of clusters ``K`` (the number of classes).
        temperature: ``T > 0``; smaller values give harder responsibilities.
        learn_centroids: if True, ``mu`` is an ``nn.Parameter`` trained by the
            clustering loss (the original, unsupervised clustering module);
            otherwise it is a buffer that SuperCM sets from labeled features.

    Shape: ``z`` (n, d) -> logits (n, K), responsibilities (n, K),
    reconstruction (n, d).
    """

    def __init__(
        self,
        in_features: int,
        num_clusters: int,
        temperature: float = 1.0,
        learn_centroids: bool = False,
    ):
        super().__init__()
        check_parameter("temperature", temperature)
        check_int("in_features", in_features, low=1)
        check_int("num_clusters", num_clusters, low=1)
        self.in_features = in_features
        self.num_clusters = num_clusters
        self.temperature = float(temperature)
        self.learn_centroids = learn_centroids
        self.assign = nn.Linear(in_features, num_clusters)
        centroids = torch.randn(num_clusters, in_features) * 0.1
        if learn_centroids:
            self.centroids = nn.Parameter(centroids)
        else:
            self.register_buffer("centroids", centroids)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_clusters={self.num_clusters}, "
            f"temperature={self.temperature}, learn_centroids={self.learn_centroids}"
        )

    def forward(self, z: Tensor) -> ClusterOutput:
        """Logits, responsibilities and reconstruction in float32 (float64 for
        float64 inputs), also under autocast: a small temperature would push
        half-precision logits past their range."""
        dtype = torch.float64 if z.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=z.device.type, enabled=False):
            scores = F.linear(
                z.to(dtype), self.assign.weight.to(dtype), self.assign.bias.to(dtype)
            )
            logits = scores / self.temperature
            responsibilities = torch.softmax(logits, dim=1)
            reconstruction = responsibilities @ self.centroids.to(dtype)
        return ClusterOutput(logits, responsibilities, reconstruction)


@dataclass
class ClusteringLoss:
    """The four terms of the clustering loss and their sum."""

    total: Tensor
    reconstruction: Tensor
    sparsity: Tensor
    merging: Tensor
    dirichlet: Tensor

    def as_dict(self) -> dict[str, float]:
        terms = {
            "cm_total": self.total,
            "cm_reconstruction": self.reconstruction,
            "cm_sparsity": self.sparsity,
            "cm_merging": self.merging,
            "cm_dirichlet": self.dirichlet,
        }
        return {name: float(value.detach()) for name, value in terms.items()}


def clustering_loss(
    z: Tensor,
    responsibilities: Tensor,
    centroids: Tensor,
    alpha: float | Tensor = 1.0,
    eps: float = 1e-8,
    logits: Tensor | None = None,
) -> ClusteringLoss:
    """Clustering loss ``E1 + E2 + E3 + E4`` of an isotropic Gaussian mixture.

    With ``nd = n * d``::

        E1 = sum_i ||z_i - sum_k g_ik mu_k||^2 / nd                 (reconstruction)
        E2 = sum_k (sum_i g_ik (1 - g_ik)) ||mu_k||^2 / nd          (sparsity)
        E3 = -sum_{k != l} (sum_i g_ik g_il) <mu_k, mu_l> / nd      (merging)
        E4 = sum_k (1 - alpha_k) log(mean_i g_ik + eps)             (Dirichlet prior)

    ``E1 + E2 + E3`` equals the soft k-means distortion
    ``sum_i sum_k g_ik ||z_i - mu_k||^2 / nd``. ``alpha = 1`` (the default)
    switches the prior off. Everything is computed in float32 (or float64 if
    the inputs are float64), also under autocast. The log in ``E4`` is a
    log-sum-exp over ``log g_ik - log n`` and ``log eps``, taken from
    ``log_softmax(logits)`` when the logits are given, so a cluster whose
    responsibilities underflow still has a finite value and gradient. An
    empty batch gives a zero loss rather than NaN.

    Shapes: ``z`` (n, d), ``responsibilities`` (n, K), ``centroids`` (K, d),
    ``alpha`` a float or a (K,) tensor, ``logits`` (n, K) or None.
    """
    dtype = torch.float64 if z.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.to(dtype)
        g = responsibilities.to(dtype)
        mu = centroids.to(dtype)
        n, d = z.shape
        nd = max(n * d, 1)

        reconstruction = ((z - g @ mu) ** 2).sum() / nd
        squared_norms = (mu**2).sum(dim=1)
        sparsity = ((g * (1 - g)).sum(dim=0) * squared_norms).sum() / nd
        co_assignment = g.t() @ g
        gram = mu @ mu.t()
        off_diagonal = 1.0 - torch.eye(len(mu), dtype=dtype, device=mu.device)
        merging = -(co_assignment * gram * off_diagonal).sum() / nd

        alpha = torch.as_tensor(alpha, dtype=dtype, device=z.device)
        log_cluster_sizes = _log_mean_plus_eps(g, logits, eps)
        dirichlet = ((1 - alpha) * log_cluster_sizes).sum()

    total = reconstruction + sparsity + merging + dirichlet
    return ClusteringLoss(total, reconstruction, sparsity, merging, dirichlet)


def _log_mean_plus_eps(g: Tensor, logits: Tensor | None, eps: float) -> Tensor:
    """``log(mean_i g_ik + eps)`` for every cluster k, as a log-sum-exp.

    Shapes: ``g`` (n, K), ``logits`` (n, K) or None -> (K,).
    """
    if logits is not None:
        log_g = torch.log_softmax(logits.to(g.dtype), dim=1)
    else:
        log_g = torch.log(g.clamp_min(torch.finfo(g.dtype).tiny))
    terms = log_g - math.log(max(len(g), 1))
    floor = torch.full((1, g.shape[1]), math.log(eps), dtype=g.dtype, device=g.device)
    return torch.logsumexp(torch.cat([terms, floor]), dim=0)


def soft_kmeans_distortion(z: Tensor, responsibilities: Tensor, centroids: Tensor):
    """``sum_i sum_k g_ik ||z_i - mu_k||^2 / (n d)``, the reference for E1+E2+E3."""
    n, d = z.shape
    squared_distances = torch.cdist(z, centroids) ** 2
    return (responsibilities * squared_distances).sum() / (n * d)
