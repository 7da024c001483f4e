"""Tests of the SSL objectives: Pi-model, Mean Teacher, VAT, Pseudo-Label."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from supercm.backbones import MLP, Classifier, SmallCNN
from supercm.centroids import CentroidTracker, confident_predictions
from supercm.config import TrainConfig
from supercm.objectives import OBJECTIVES, StepContext, ramp
from supercm.ssl import (
    MeanTeacher,
    PseudoLabel,
    VirtualAdversarialTraining,
    adversarial_perturbation,
)
from supercm.validation import ParameterError


def shift_right(x):
    """A deterministic stand-in for augmentation that still changes the input."""
    return torch.roll(x, shifts=1, dims=-1)


def random_shift(x):
    return torch.roll(x, shifts=int(torch.randint(1, 4, ())), dims=-1) + 0.1 * (
        torch.randn_like(x)
    )


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return Classifier(SmallCNN(1, width=8), num_classes=10)


def context(model, x_labeled, y_labeled, x_unlabeled, augment, progress=1.0):
    """The StepContext the trainer builds: one pass of augmented labeled +
    unlabeled rows."""
    x_unlabeled_augmented = augment(x_unlabeled)
    batch = torch.cat([augment(x_labeled), x_unlabeled_augmented])
    features, out = model.features_and_output(batch)
    return StepContext(
        model, x_labeled, y_labeled, x_unlabeled, x_unlabeled_augmented,
        features, out.logits, len(x_labeled), 0, progress, augment,
    )


def config_for(method, **overrides):
    return TrainConfig(method=method, **overrides)


def build(method, model, **overrides):
    import supercm.ssl  # noqa: F401  registers the objectives

    return OBJECTIVES[method](config_for(method, **overrides), model)


# ramp and weights


def test_ramp_starts_near_0_0067_is_monotone_and_reaches_one():
    assert ramp(0.0) == pytest.approx(math.exp(-5), abs=1e-12)
    assert ramp(0.0) == pytest.approx(0.0067, abs=1e-4)
    values = [ramp(t / 100) for t in range(101)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    assert ramp(1.0) == 1.0
    assert ramp(1.5) == 1.0


@pytest.mark.parametrize("method", ["pi", "mt", "vat", "pl"])
def test_weight_is_w_ssl_times_ramp_of_progress_over_ramp_fraction(method):
    objective = build(method, small_cnn(), w_ssl=3.0, ramp_fraction=0.5)

    assert objective.weight(0.0) == pytest.approx(3.0 * math.exp(-5))
    assert objective.weight(0.25) == pytest.approx(3.0 * ramp(0.5))
    assert objective.weight(0.5) == 3.0
    assert objective.weight(0.9) == 3.0


def test_ramp_fraction_zero_means_full_weight_from_the_start():
    objective = build("pi", small_cnn(), w_ssl=2.0, ramp_fraction=0.0)
    assert objective.weight(0.0) == 2.0


@pytest.mark.parametrize(
    "method, expected", [("pi", 2.0), ("mt", 2.0), ("vat", 0.3), ("pl", 1.0)]
)
def test_w_ssl_none_takes_the_documented_method_default(method, expected):
    assert build(method, small_cnn()).w_ssl == expected


# bad input


@pytest.mark.parametrize("method", ["pi", "mt", "vat", "pl"])
def test_negative_weight_is_rejected_by_name(method):
    with pytest.raises(ParameterError, match="w_ssl"):
        build(method, small_cnn(), w_ssl=-1.0)


@pytest.mark.parametrize(
    "method, options, name",
    [
        ("pl", {"pl_threshold": 1.0}, "pl_threshold"),
        ("pl", {"pl_threshold": 0.0}, "pl_threshold"),
        ("pl", {"pl_threshold": -0.5}, "pl_threshold"),
        ("vat", {"vat_eps": 0.0}, "vat_eps"),
        ("vat", {"vat_eps": -1.0}, "vat_eps"),
        ("vat", {"vat_xi": 0.0}, "vat_xi"),
        ("vat", {"vat_power_iterations": 0}, "vat_power_iterations"),
        ("mt", {"mt_decay": 1.5}, "mt_decay"),
    ],
)
def test_bad_options_raise_an_error_naming_the_parameter(method, options, name):
    with pytest.raises(ParameterError, match=name):
        build(method, small_cnn(), ssl_options=options)


def test_unknown_option_names_itself_and_the_allowed_keys():
    with pytest.raises(ParameterError) as error:
        build("vat", small_cnn(), ssl_options={"vat_epsilon": 1.0})
    message = str(error.value)
    assert "vat_epsilon" in message
    for allowed in ("vat_eps", "vat_xi", "vat_power_iterations"):
        assert allowed in message


def test_unknown_method_and_bad_threshold_are_rejected_by_the_config():
    with pytest.raises(ParameterError, match="method"):
        TrainConfig(method="fixmatch").validate()
    with pytest.raises(ParameterError, match="pseudo_threshold"):
        TrainConfig(method="pl", pseudo_threshold=1.2).validate()
    with pytest.raises(ParameterError, match="w_ssl"):
        TrainConfig(method="pi", w_ssl=-0.1).validate()


# Pi-model and Mean Teacher


@pytest.mark.parametrize("method", ["pi", "mt"])
def test_consistency_on_the_first_step_is_positive_and_reaches_the_student(method):
    model = small_cnn()
    objective = build(method, model)
    x = torch.rand(12, 1, 28, 28)
    ctx = context(model, x[:4], torch.arange(4), x[4:], random_shift)

    loss, metrics = objective(ctx)
    loss.backward()

    assert loss.item() > 0
    assert metrics["ssl"] == pytest.approx(loss.item())
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    if method == "mt":
        assert all(p.grad is None for p in objective.teacher.parameters())


def test_teacher_after_k_updates_is_the_step_by_step_ema_of_the_student():
    torch.manual_seed(0)
    student = Classifier(MLP(2, width=8), num_classes=3)
    decay = 0.7
    teacher = MeanTeacher(student, 1.0, 0.0, decay)
    expected = [p.detach().clone() for p in student.parameters()]

    for _ in range(5):
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p))
        teacher.after_step(student)
        expected = [
            decay * e + (1 - decay) * p.detach()
            for e, p in zip(expected, student.parameters(), strict=True)
        ]

    for e, t in zip(expected, teacher.teacher.parameters(), strict=True):
        torch.testing.assert_close(t, e)


@pytest.mark.parametrize("decay", [0.0, 1.0])
def test_decay_zero_copies_the_student_and_one_freezes_the_teacher(decay):
    student = small_cnn()
    teacher = MeanTeacher(student, 1.0, 0.0, decay)
    initial = [p.detach().clone() for p in teacher.teacher.parameters()]

    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    teacher.after_step(student)

    reference = list(student.parameters()) if decay == 0.0 else initial
    for t, r in zip(teacher.teacher.parameters(), reference, strict=True):
        assert torch.equal(t, r)


def test_teacher_buffers_follow_the_student_and_the_counter_stays_integer():
    student = small_cnn()
    teacher = MeanTeacher(student, 1.0, 0.0, decay=1.0)
    student.train()
    student(torch.rand(8, 1, 28, 28))

    teacher.after_step(student)

    for (name, t), s in zip(
        teacher.teacher.named_buffers(), student.buffers(), strict=True
    ):
        assert torch.equal(t, s), name
        if name.endswith("num_batches_tracked"):
            assert t.dtype == torch.long and int(t) == 1


def test_teacher_and_student_evaluate_differently_after_one_step():
    model = small_cnn()
    objective = build("mt", model, ssl_options={"mt_decay": 0.9})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(12, 1, 28, 28)
    ctx = context(model, x[:4], torch.arange(4), x[4:], random_shift)

    loss, _ = objective(ctx)
    loss = loss + F.cross_entropy(ctx.logits[:4], torch.arange(4))
    loss.backward()
    optimizer.step()
    objective.after_step(model)

    model.eval()
    objective.teacher.eval()
    with torch.no_grad():
        assert not torch.allclose(model(x), objective.teacher(x))


# VAT


def test_vat_perturbation_has_norm_eps_per_sample_and_leaves_the_model_alone():
    model = small_cnn()
    model.train()
    x = torch.rand(4, 1, 28, 28)
    x[2] = 0.0
    with torch.no_grad():
        logits = model(x)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    eps = 2.5

    r = adversarial_perturbation(model, x, logits, eps=eps, xi=1e-6)

    assert r.shape == x.shape
    assert not torch.isnan(r).any()
    norms = r.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((4,), eps), atol=1e-5, rtol=0)
    for name, value in model.named_buffers():
        assert torch.equal(value, buffers[name]), name
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_vat_restores_eval_mode_and_normalises_2d_inputs_per_row():
    torch.manual_seed(0)
    model = Classifier(MLP(5, width=8), num_classes=3).eval()
    x = torch.randn(6, 5)
    x[0] = 0.0

    r = adversarial_perturbation(model, x, model(x).detach(), eps=0.5, xi=1e-6,
                                 power_iterations=2)

    assert not model.training
    torch.testing.assert_close(r.norm(dim=1), torch.full((6,), 0.5), atol=1e-5, rtol=0)


def test_vat_direction_finds_the_most_sensitive_input_in_float64():
    """For a linear 2-class model only one input direction changes the output."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 2.0, 0.0], [0.0, -2.0, 0.0]]))
        model.bias.zero_()
    x = torch.randn(5, 3, dtype=torch.float64)

    r = adversarial_perturbation(model, x, model(x).detach(), eps=1.0, xi=1e-3,
                                 power_iterations=3)

    torch.testing.assert_close(r[:, 1].abs(), torch.ones(5, dtype=torch.float64))


def test_vat_default_xi_finds_the_float64_direction_in_float32(monkeypatch):
    """xi = 1e-6 would be rounded away in float32; the default must not be."""
    import supercm.ssl.vat as vat

    draw = torch.randn_like
    monkeypatch.setattr(vat.torch, "randn_like", lambda t: draw(t.float()).to(t.dtype))
    model = small_cnn().train()
    model64 = copy.deepcopy(model).double()
    x = torch.rand(6, 1, 28, 28)
    xi = vat.DEFAULT_OPTIONS["vat_xi"]

    torch.manual_seed(1)
    r = adversarial_perturbation(model, x, model(x).detach(), eps=1.0, xi=xi)
    torch.manual_seed(1)
    x64 = x.double()
    r64 = adversarial_perturbation(model64, x64, model64(x64).detach(), 1.0, 1e-6)

    cosine = (r.double().flatten(1) * r64.flatten(1)).sum(1)
    assert cosine.min() > 0.9


def test_vat_loss_keeps_batchnorm_buffers_and_trains_the_parameters():
    model = small_cnn()
    objective = build("vat", model)
    x = torch.rand(12, 1, 28, 28)
    ctx = context(model, x[:4], torch.arange(4), x[4:], shift_right)
    buffers = {k: v.clone() for k, v in model.named_buffers()}

    loss, _ = objective(ctx)
    loss.backward()

    assert torch.isfinite(loss) and loss.item() > 0
    for name, value in model.named_buffers():
        assert torch.equal(value, buffers[name]), name
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert any(g.abs().sum() > 0 for g in grads)
    assert isinstance(objective, VirtualAdversarialTraining)


# Pseudo-Label


def logits_with_top_probabilities(top):
    """Logits (n, 3) whose softmax has the given top probabilities in column 0."""
    rows = []
    for p in top:
        rest = (1 - p) / 2
        rows.append([math.log(p), math.log(rest), math.log(rest)])
    return torch.tensor(rows, dtype=torch.float64)


def test_pseudo_label_gradient_is_exactly_zero_below_the_threshold():
    logits = logits_with_top_probabilities([0.99, 0.60, 0.50, 0.97])
    logits.requires_grad_(True)
    objective = PseudoLabel(1.0, 0.0, threshold=0.95)

    loss, keep = objective.loss(logits)
    loss.backward()

    assert keep.tolist() == [True, False, False, True]
    assert torch.equal(logits.grad[1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(logits.grad[2], torch.zeros(3, dtype=torch.float64))
    assert logits.grad[0].abs().sum() > 0 and logits.grad[3].abs().sum() > 0
    expected = -(math.log(0.99) + math.log(0.97)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_pseudo_label_with_no_confident_row_is_a_finite_zero_that_backpropagates():
    logits = logits_with_top_probabilities([0.60, 0.50, 0.90]).requires_grad_(True)
    objective = PseudoLabel(1.0, 0.0, threshold=0.95)

    loss, _ = objective.loss(logits)
    loss.backward()

    assert loss.item() == 0.0 and torch.isfinite(loss)
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_pseudo_label_threshold_defaults_to_the_config_pseudo_threshold():
    assert build("pl", small_cnn(), pseudo_threshold=0.8).threshold == 0.8
    options = {"pl_threshold": 0.7}
    assert build("pl", small_cnn(), ssl_options=options).threshold == 0.7


def test_pseudo_centroids_and_pseudo_label_share_the_confidence_rule():
    probs = F.softmax(logits_with_top_probabilities([0.99, 0.60, 0.50, 0.97]), 1)
    keep, predicted = confident_predictions(probs.float(), 0.95)
    assert keep.tolist() == [True, False, False, True]

    tracker = CentroidTracker(3, mode="labels+pseudo", pseudo_threshold=0.95)
    centroids = torch.zeros(3, 2)
    unlabeled = torch.tensor([[1.0, 1.0], [5.0, 5.0], [7.0, 7.0], [3.0, 3.0]])
    tracker.update(centroids, torch.zeros(1, 2) + 10, torch.tensor([1]),
                   unlabeled, probs.float())
    torch.testing.assert_close(centroids[0], torch.tensor([2.0, 2.0]))


# the trainer


@pytest.mark.parametrize("method", ["pi", "mt+cm", "vat", "pl+cm"])
def test_each_method_trains_a_few_steps_on_moons(method, tmp_path):
    from supercm import train

    record = train(dataset="moons", method=method, steps=4, eval_every=2,
                   out_dir=str(tmp_path), progress=False, val_size=50,
                   test_size=50, batch_size=8, unlabeled_batch_size=8)

    assert record["history"][-1]["ssl_weight"] > 0
    assert math.isfinite(record["history"][-1]["ssl"])


def test_pi_loss_is_zero_when_both_passes_see_the_same_input_in_eval_mode():
    model = small_cnn().eval()
    objective = build("pi", model)
    x = torch.rand(10, 1, 28, 28)

    loss, _ = objective(context(model, x[:4], torch.arange(4), x[4:], lambda t: t))

    assert loss.item() == 0.0


def test_pi_takes_no_options_and_says_so():
    with pytest.raises(ParameterError, match="no options"):
        build("pi", small_cnn(), ssl_options={"mt_decay": 0.9})


def test_vat_loss_ignores_the_labeled_rows_of_the_training_pass():
    """The reference prediction comes from the unlabeled rows alone."""
    model = small_cnn()
    objective = build("vat", model)
    x = torch.rand(12, 1, 28, 28)
    losses = []
    for labeled in (x[:4], 5 * x[:4]):
        torch.manual_seed(1)
        ctx = context(model, labeled, torch.arange(4), x[4:], lambda t: t)
        losses.append(objective(ctx)[0].item())

    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
