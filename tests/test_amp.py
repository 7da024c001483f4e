"""Mixed precision: under bf16 autocast the clustering loss stays float32 and close."""

import torch

from supercm.backbones import Classifier, SmallCNN
from supercm.cluster import clustering_loss
from supercm.config import TrainConfig
from supercm.train import Trainer


def model_and_batch():
    torch.manual_seed(0)
    model = Classifier(SmallCNN(1, width=16), num_classes=10)
    with torch.no_grad():
        model.head.centroids.copy_(torch.randn(10, model.head.in_features))
    return model, torch.rand(32, 1, 28, 28)


def loss_of(model, x, autocast: bool):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        z, out = model.features_and_output(x)
        loss = clustering_loss(z, out.responsibilities, model.head.centroids)
    return z, loss


def test_bf16_clustering_loss_is_float32_finite_and_close():
    model, x = model_and_batch()
    z_low, low = loss_of(model, x, autocast=True)
    z_full, full = loss_of(model, x, autocast=False)

    assert z_low.dtype == torch.bfloat16 and z_full.dtype == torch.float32
    for term in ("total", "reconstruction", "sparsity", "merging"):
        value = getattr(low, term)
        assert value.dtype == torch.float32 and torch.isfinite(value), term
        torch.testing.assert_close(value, getattr(full, term), rtol=3e-2, atol=1e-3,
                                   msg=term)

    low.total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_amp_on_the_cpu_falls_back_to_float32(tmp_path):
    config = TrainConfig(
        dataset="moons", method="ce+cm", steps=2, eval_every=2, batch_size=8,
        unlabeled_batch_size=8, val_size=50, test_size=100, amp=True,
        device="cpu", progress=False, out_dir=str(tmp_path),
    )
    trainer = Trainer(config)
    assert trainer.amp_dtype is None and not trainer.scaler.is_enabled()
    assert trainer.fit()["device"] == "cpu"
