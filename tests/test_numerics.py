"""The clustering module and its loss stay finite and accurate at extreme inputs."""

import pytest
import torch

from supercm.cluster import ClusteringModule, clustering_loss

NUM_CLUSTERS, DIM, ROWS = 4, 8, 6


def extreme_module(logit_scale: float, temperature: float = 0.01):
    """A module whose logits are exactly +-``logit_scale`` for the inputs below."""
    module = ClusteringModule(DIM, NUM_CLUSTERS, temperature, learn_centroids=True)
    with torch.no_grad():
        module.assign.weight.zero_()
        module.assign.bias.zero_()
        module.assign.weight[:, :NUM_CLUSTERS] = torch.eye(NUM_CLUSTERS)
        module.assign.weight[:, :NUM_CLUSTERS] *= 2 * logit_scale * temperature
        module.assign.bias.fill_(-logit_scale * temperature)
        # Centroids 50 units from the origin along orthogonal axes: every
        # feature below (near the origin) is about 50 units from every centroid.
        module.centroids.copy_(50.0 * torch.eye(NUM_CLUSTERS, DIM))
    return module


def extreme_features():
    """Rows whose i-th coordinate is 1 (its logits: +scale for one cluster, -scale
    for the others), plus rows at the origin (all logits -scale: a tie)."""
    z = torch.zeros(ROWS, DIM)
    z[:NUM_CLUSTERS, :NUM_CLUSTERS] = torch.eye(NUM_CLUSTERS)
    return z


def forward_and_loss(module, z, alpha, autocast: bool):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = module(z)
        loss = clustering_loss(z, out.responsibilities, module.centroids, alpha,
                               logits=out.logits)
        total = loss.total + torch.nn.functional.cross_entropy(
            out.logits, torch.arange(len(z)) % NUM_CLUSTERS
        )
    return out, loss, total


@pytest.mark.parametrize("logit_scale", [1e4, 1e6])
@pytest.mark.parametrize("autocast", [False, True])
def test_extreme_logits_keep_everything_finite(logit_scale, autocast):
    module = extreme_module(logit_scale)
    z = extreme_features().requires_grad_(True)
    alpha = torch.tensor([0.5, 1.0, 2.0, 3.0])

    out, loss, total = forward_and_loss(module, z, alpha, autocast)
    total.backward()

    assert out.logits.abs().max().item() == pytest.approx(logit_scale, rel=1e-2)
    assert out.responsibilities.dtype == torch.float32
    assert torch.isfinite(out.responsibilities).all()
    assert torch.allclose(out.responsibilities.sum(1), torch.ones(ROWS), atol=1e-6)
    for value in loss.as_dict().values():
        assert torch.isfinite(torch.tensor(value))
    gradients = [z.grad, module.assign.weight.grad, module.assign.bias.grad,
                 module.centroids.grad]
    for gradient in gradients:
        assert gradient is not None and torch.isfinite(gradient).all()


@pytest.mark.parametrize("logit_scale", [1e4, 1e6])
def test_loss_under_bf16_autocast_matches_a_float64_reference(logit_scale):
    module = extreme_module(logit_scale)
    generator = torch.Generator().manual_seed(0)
    z = extreme_features() + 0.3 * torch.randn(ROWS, DIM, generator=generator)
    z = z.bfloat16()  # what a backbone under bf16 autocast hands the head
    alpha = torch.tensor([0.5, 1.0, 2.0, 3.0])

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(z)
        loss = clustering_loss(z, out.responsibilities, module.centroids, alpha,
                               logits=out.logits)

    reference_module = extreme_module(logit_scale).double()
    reference_out = reference_module(z.double())
    reference = clustering_loss(
        z.double(), reference_out.responsibilities, reference_module.centroids, alpha,
        logits=reference_out.logits,
    )
    assert loss.total.dtype == torch.float32
    for name, value in loss.as_dict().items():
        expected = reference.as_dict()[name]
        assert value == pytest.approx(expected, rel=1e-4, abs=1e-4), name


def test_module_logits_do_not_overflow_in_float16():
    module = extreme_module(1e6)
    z = extreme_features().half()
    with torch.autocast("cpu", dtype=torch.float16):
        out = module(z)
    assert out.logits.dtype == torch.float32
    assert torch.isfinite(out.logits).all()
    assert torch.isfinite(out.responsibilities).all()


def test_dirichlet_term_from_logits_survives_underflowing_responsibilities():
    logits = torch.tensor([[0.0, -1e4], [0.0, -2e4]], dtype=torch.float64,
                          requires_grad=True)
    g = torch.softmax(logits, 1)
    assert g[:, 1].max() == 0  # the second cluster's responsibilities underflow
    z = torch.zeros(2, 3, dtype=torch.float64)
    mu = torch.ones(2, 3, dtype=torch.float64)

    loss = clustering_loss(z, g, mu, alpha=torch.tensor([1.0, 0.5]), eps=1e-8,
                           logits=logits)
    loss.total.backward()

    assert loss.dirichlet.item() == pytest.approx(0.5 * torch.log(torch.tensor(1e-8)))
    assert torch.isfinite(logits.grad).all()
    without_logits = clustering_loss(z, g, mu, torch.tensor([1.0, 0.5]), 1e-8)
    assert without_logits.dirichlet.item() == pytest.approx(loss.dirichlet.item())


def test_dirichlet_term_equals_its_definition_with_and_without_logits():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(9, 3, generator=generator, dtype=torch.float64)
    g = torch.softmax(logits, 1)
    z = torch.randn(9, 5, generator=generator, dtype=torch.float64)
    mu = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    alpha = torch.tensor([0.2, 1.0, 4.0], dtype=torch.float64)

    expected = ((1 - alpha) * torch.log(g.mean(0) + 1e-8)).sum()
    for given in (None, logits):
        loss = clustering_loss(z, g, mu, alpha, logits=given)
        assert torch.allclose(loss.dirichlet, expected, rtol=1e-12)


def test_dirichlet_from_logits_passes_gradcheck_in_float64():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    z = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    mu = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    alpha = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)

    def total(z, logits, mu):
        return clustering_loss(z, torch.softmax(logits, 1), mu, alpha,
                               logits=logits).total

    inputs = [t.clone().requires_grad_(True) for t in (z, logits, mu)]
    assert torch.autograd.gradcheck(total, inputs)


def test_an_empty_batch_gives_a_zero_loss_not_nan():
    z = torch.zeros(0, 4)
    g = torch.zeros(0, 3)
    loss = clustering_loss(z, g, torch.randn(3, 4), alpha=0.5)
    assert loss.reconstruction.item() == 0.0
    assert torch.isfinite(loss.total)
