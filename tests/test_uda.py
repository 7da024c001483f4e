"""Tests for supercm.uda: gradient reversal, DANN objective, Proxy-A distance."""

import numpy as np
import pytest
import torch

from supercm.config import WHOLE_SOURCE_POOL, TrainConfig
from supercm.data import load_dataset
from supercm.domains import prepare_domain_data
from supercm.loaders import PairedBatches
from supercm.objectives import OBJECTIVES, StepContext
from supercm.train import METRICS, Trainer
from supercm.uda import (
    DANN,
    GradientReversal,
    GradientReversalFunction,
    dann_lambda,
    domain_loss,
    proxy_a_distance,
    reverse_gradient,
)
from supercm.validation import ParameterError


def uda_config(tmp_path, **overrides):
    values = dict(dataset="mnist5k", target_dataset="ucidigits", method="dann",
                  labels_per_class=WHOLE_SOURCE_POOL, val_size=100, test_size=200,
                  steps=4, eval_every=2, batch_size=16, unlabeled_batch_size=16,
                  progress=False, out_dir=str(tmp_path))
    return TrainConfig(**{**values, **overrides})


def context(features, num_source, progress=0.5):
    n = len(features)
    return StepContext(None, None, None, None, None, features,
                       torch.zeros(n, 10), num_source, 0, progress, lambda x: x)


def test_reversal_forward_is_identity():
    x = torch.randn(5, 3)
    assert torch.equal(GradientReversal(0.7)(x), x)


def test_reversal_gradient_is_minus_lambda_times_plain_gradient():
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(6, 4, dtype=torch.float64)

    (plain,) = torch.autograd.grad((weights * x**2).sum(), x)
    reversed_loss = (weights * reverse_gradient(x, 0.3) ** 2).sum()
    (reversed_,) = torch.autograd.grad(reversed_loss, x)

    assert torch.allclose(reversed_, -0.3 * plain, rtol=0, atol=1e-12)


def test_reversal_grad_fn_is_the_custom_node():
    x = torch.randn(3, requires_grad=True)
    y = reverse_gradient(x, 1.0)
    assert isinstance(y.grad_fn, GradientReversalFunction._backward_cls)


def test_reversal_lambda_float_or_tensor_agree():
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    grads = []
    for lam in (0.4, torch.tensor(0.4, dtype=torch.float64)):
        (grad,) = torch.autograd.grad(reverse_gradient(x, lam).pow(3).sum(), x)
        grads.append(grad)
    assert torch.equal(grads[0], grads[1])


def test_lambda_schedule():
    grid = np.linspace(0, 1, 101)
    values = [dann_lambda(p) for p in grid]

    assert dann_lambda(0.0) == 0.0
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] < 1.0
    assert dann_lambda(-3.0) == 0.0
    assert dann_lambda(7.0) == dann_lambda(1.0)


def test_domain_classifier_step_lowers_domain_loss():
    torch.manual_seed(0)
    source = torch.randn(32, 8, dtype=torch.float64)
    target = torch.randn(32, 8, dtype=torch.float64) + 1.0
    features = torch.cat([source, target]).requires_grad_()
    objective = DANN(8, domain_hidden=16).double()
    optimizer = torch.optim.SGD(objective.domain_classifier.parameters(), lr=0.5)

    before, metrics = objective(context(features, 32))
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after, _ = objective(context(features.detach(), 32))

    assert after.item() < before.item()
    assert set(metrics) >= {"domain_loss", "domain_acc"}


def test_features_get_the_reversed_gradient():
    torch.manual_seed(1)
    features = torch.randn(10, 8, dtype=torch.float64, requires_grad=True)
    objective = DANN(8, domain_hidden=16).double()
    lam = dann_lambda(0.5)

    loss, _ = objective(context(features, 5, progress=0.5))
    (reversed_,) = torch.autograd.grad(loss, features)
    plain_loss, _ = domain_loss(objective.domain_classifier(features.double()), 5)
    (plain,) = torch.autograd.grad(plain_loss, features)

    assert torch.allclose(reversed_, -lam * plain, rtol=0, atol=1e-12)


def test_negative_domain_weight_is_rejected(tmp_path):
    with pytest.raises(ParameterError) as info:
        DANN(8, domain_weight=-0.5)
    assert info.value.name == "domain_weight"
    with pytest.raises(ParameterError, match="domain_weight"):
        uda_config(tmp_path, domain_weight=-1.0).validate()


def test_unknown_dann_option_is_rejected(tmp_path):
    config = uda_config(tmp_path, ssl_options={"width": 3})
    import supercm.uda  # noqa: F401

    with pytest.raises(ParameterError, match="ssl_options"):
        OBJECTIVES["dann"](config, torch.nn.Module())


def one_step_state(tmp_path, monkeypatch, relabel):
    real = load_dataset

    def load(name, *args, **kwargs):
        data = real(name, *args, **kwargs)
        if name == "ucidigits":
            data.y = relabel(data.y)
        return data

    monkeypatch.setattr("supercm.domains.load_dataset", load)
    config = uda_config(tmp_path, method="dann+cm")
    trainer = Trainer(config, data=prepare_domain_data(config))
    d = trainer.data
    x_l, y_l, x_u = next(iter(PairedBatches(d.x_labeled, d.y_labeled, d.x_unlabeled,
                                            16, 16, config.seed)))
    parts = trainer.train_step(x_l, y_l, x_u)
    state = {**trainer.model.state_dict(), **trainer.objective.state_dict()}
    return parts, state


def test_dann_step_ignores_target_labels(tmp_path, monkeypatch):
    generator = torch.Generator().manual_seed(0)
    runs = [
        one_step_state(tmp_path, monkeypatch, relabel)
        for relabel in (
            lambda y: y,
            lambda y: y[torch.randperm(len(y), generator=generator)],
            lambda y: torch.full_like(y, -1),
        )
    ]

    parts, state = runs[0]
    assert "domain_loss" in parts and "domain_acc" in parts
    for other_parts, other_state in runs[1:]:
        assert other_parts == parts
        for key, value in state.items():
            assert torch.equal(value, other_state[key]), key


def test_dann_run_progress_and_record(tmp_path, monkeypatch):
    seen = []
    forward = DANN.forward

    def recording_forward(self, ctx):
        seen.append(ctx.progress)
        return forward(self, ctx)

    monkeypatch.setattr(DANN, "forward", recording_forward)
    record = Trainer(uda_config(tmp_path)).fit()

    assert len(seen) == 4 and all(0 <= p < 1 for p in seen)
    assert seen == sorted(seen)
    metrics = record["metrics"]
    assert -2.0 <= metrics["proxy_a_distance"] <= 2.0
    assert metrics["oracle_test_acc"] >= metrics["test_acc"]
    assert set(metrics) == set(METRICS)  # the grid checks --metric against these
    assert {"domain_loss", "domain_acc", "ce"} <= set(record["history"][0])


def test_source_only_record_has_proxy_a_distance(tmp_path):
    record = Trainer(uda_config(tmp_path, method="source", steps=2)).fit()
    assert "proxy_a_distance" in record["metrics"]
    assert "domain_loss" not in record["history"][0]


def test_proxy_a_distance_separated_clouds():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (400, 5))
    b = rng.normal(0.0, 1.0, (400, 5)) + 10.0
    assert proxy_a_distance(a, b, seed=0) > 1.9


def test_proxy_a_distance_one_distribution():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, (1000, 5))
    b = rng.normal(0.0, 1.0, (800, 5))
    assert abs(proxy_a_distance(a, b, seed=0)) < 0.3


def test_proxy_a_distance_rejects_mismatched_features():
    with pytest.raises(ParameterError, match="features_b"):
        proxy_a_distance(np.zeros((10, 3)), np.zeros((10, 4)))
