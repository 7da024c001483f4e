import pytest
import torch

from supercm.cluster import ClusteringModule, clustering_loss, soft_kmeans_distortion
from supercm.validation import ParameterError


def random_inputs(n=7, d=5, k=3, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=generator, dtype=dtype)
    logits = torch.randn(n, k, generator=generator, dtype=dtype)
    mu = torch.randn(k, d, generator=generator, dtype=dtype)
    return z, torch.softmax(logits, dim=1), mu


@pytest.mark.parametrize("seed", range(5))
def test_first_three_terms_equal_soft_kmeans_distortion(seed):
    z, g, mu = random_inputs(seed=seed)
    loss = clustering_loss(z, g, mu)
    three_terms = loss.reconstruction + loss.sparsity + loss.merging
    assert torch.allclose(three_terms, soft_kmeans_distortion(z, g, mu), atol=1e-12)


def test_loss_passes_gradcheck_in_float64():
    z, g, mu = random_inputs()
    logits = torch.log(g)
    alpha = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)

    def total(z, logits, mu):
        return clustering_loss(z, torch.softmax(logits, 1), mu, alpha).total

    inputs = [t.clone().requires_grad_(True) for t in (z, logits, mu)]
    assert torch.autograd.gradcheck(total, inputs)


def test_dirichlet_term_is_zero_at_alpha_one_and_finite_otherwise():
    z, g, mu = random_inputs()
    assert clustering_loss(z, g, mu, alpha=1.0).dirichlet.item() == 0.0
    prior = clustering_loss(z, g, mu, alpha=torch.tensor([0.1, 3.0, 10.0]))
    assert torch.isfinite(prior.dirichlet) and prior.dirichlet.item() != 0.0
    one_hot = torch.nn.functional.one_hot(torch.zeros(7, dtype=torch.long), 3)
    empty_clusters = clustering_loss(z, one_hot.double(), mu, alpha=0.5)
    assert torch.isfinite(empty_clusters.dirichlet)


def test_each_term_matches_its_definition():
    z, g, mu = random_inputs(n=4, d=2, k=2)
    nd = 8
    loss = clustering_loss(z, g, mu)
    reconstruction = sum(((z[i] - g[i] @ mu) ** 2).sum() for i in range(4)) / nd
    sparsity = sum((g[:, k] * (1 - g[:, k])).sum() * mu[k] @ mu[k] for k in range(2))
    merging = -2 * (g[:, 0] * g[:, 1]).sum() * (mu[0] @ mu[1]) / nd
    assert torch.allclose(loss.reconstruction, reconstruction)
    assert torch.allclose(loss.sparsity, sparsity / nd)
    assert torch.allclose(loss.merging, merging)


def test_module_shapes_and_temperature():
    layer = ClusteringModule(in_features=6, num_clusters=4, temperature=0.5)
    z = torch.randn(10, 6)
    out = layer(z)
    assert out.logits.shape == (10, 4)
    assert out.reconstruction.shape == (10, 6)
    assert torch.allclose(out.responsibilities.sum(1), torch.ones(10))
    assert torch.allclose(out.logits, layer.assign(z) / 0.5)
    assert "temperature=0.5" in repr(layer)


def test_centroids_are_a_buffer_unless_learned():
    assert "centroids" in dict(ClusteringModule(3, 2).named_buffers())
    learned = ClusteringModule(3, 2, learn_centroids=True)
    assert "centroids" in dict(learned.named_parameters())


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan")])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ParameterError, match="temperature"):
        ClusteringModule(3, 2, temperature=temperature)
