"""SuperCM: a clustering-module regularizer for semi-supervised learning and
unsupervised domain adaptation, with centroids set from labeled data."""

__version__ = "0.1.0"

from .centroids import CentroidTracker  # noqa: E402
from .cluster import ClusteringModule, clustering_loss  # noqa: E402
from .config import METHODS, TrainConfig  # noqa: E402
from .seeding import seed_everything  # noqa: E402
from .train import Trainer, train  # noqa: E402

__all__ = [
    "CentroidTracker", "ClusteringModule", "clustering_loss", "METHODS",
    "TrainConfig", "Trainer", "seed_everything", "train", "__version__",
]
