import pytest
import torch

from supercm.backbones import MLP, Classifier
from supercm.centroids import CentroidTracker
from supercm.cluster import clustering_loss
from supercm.validation import ParameterError


def test_absent_class_keeps_its_centroid_bit_for_bit():
    centroids = torch.randn(3, 4)
    before = centroids.clone()
    tracker = CentroidTracker(3)
    features = torch.randn(6, 4)
    changed = tracker.update(centroids, features, torch.tensor([0, 0, 2, 2, 0, 2]))
    assert changed.tolist() == [True, False, True]
    assert torch.equal(centroids[1], before[1])
    assert not torch.equal(centroids[0], before[0])


def test_cumulative_mean_of_batch_means_equals_their_plain_mean():
    tracker = CentroidTracker(2)
    centroids = torch.zeros(2, 3)
    batch_means = []
    for seed in range(5):
        features = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed))
        labels = torch.tensor([0, 0, 1, 1])
        tracker.update(centroids, features, labels)
        batch_means.append(torch.stack([features[:2].mean(0), features[2:].mean(0)]))
    assert torch.allclose(centroids, torch.stack(batch_means).mean(0), atol=1e-6)


def test_ema_starts_at_first_batch_mean_then_moves_by_momentum():
    tracker = CentroidTracker(1, update="ema", centroid_momentum=0.75)
    centroids = torch.full((1, 2), 100.0)
    tracker.update(centroids, torch.tensor([[2.0, 2.0]]), torch.tensor([0]))
    assert torch.equal(centroids, torch.tensor([[2.0, 2.0]]))
    tracker.update(centroids, torch.tensor([[6.0, 2.0]]), torch.tensor([0]))
    assert torch.allclose(centroids, torch.tensor([[3.0, 2.0]]))


def test_pseudo_mode_adds_only_confident_unlabeled_rows():
    tracker = CentroidTracker(2, mode="labels+pseudo", pseudo_threshold=0.9)
    centroids = torch.zeros(2, 1)
    labeled = torch.tensor([[0.0]])
    unlabeled = torch.tensor([[4.0], [10.0], [20.0]])
    probs = torch.tensor([[0.95, 0.05], [0.5, 0.5], [0.02, 0.98]])
    tracker.update(centroids, labeled, torch.tensor([0]), unlabeled, probs)
    assert centroids.flatten().tolist() == [2.0, 20.0]


def test_no_gradient_reaches_centroids_in_label_modes():
    model = Classifier(MLP(2, 8), num_classes=2)
    tracker = CentroidTracker(2)
    x, y = torch.randn(10, 2), torch.tensor([0, 1] * 5)
    with torch.no_grad():
        tracker.update(model.head.centroids, model.backbone(x), y)
    z, out = model.features_and_output(x)
    clustering_loss(z, out.responsibilities, model.head.centroids).total.backward()
    assert not model.head.centroids.requires_grad
    assert model.head.centroids.grad is None
    assert model.backbone.net[0].weight.grad is not None


def test_learned_mode_leaves_centroids_to_the_optimiser():
    centroids = torch.randn(2, 3)
    before = centroids.clone()
    CentroidTracker(2, mode="learned").update(centroids, torch.ones(2, 3),
                                              torch.tensor([0, 1]))
    assert torch.equal(centroids, before)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"mode": "kmeans"}, "centroid_mode"), ({"update": "median"}, "centroid_update"),
     ({"pseudo_threshold": 1.0}, "pseudo_threshold"),
     ({"centroid_momentum": 1.5}, "centroid_momentum")],
)
def test_bad_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        CentroidTracker(2, **kwargs)
