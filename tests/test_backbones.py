import pytest
import torch

from supercm.backbones import Classifier, build_backbone, count_parameters
from supercm.validation import ParameterError


@pytest.mark.parametrize(
    "name, shape, width",
    [("mlp", (2,), 32), ("smallcnn", (1, 28, 28), 64), ("smallcnn", (1, 8, 8), 64),
     ("wrn28-2", (3, 32, 32), 128)],
)
def test_backbones_map_inputs_to_features(name, shape, width):
    backbone = build_backbone(name, shape)
    assert backbone(torch.zeros(2, *shape)).shape == (2, width)


def test_wrn28_2_has_about_one_and_a_half_million_parameters():
    assert 1.4e6 < count_parameters(build_backbone("wrn28-2", (3, 32, 32))) < 1.6e6


def test_clustering_module_is_the_classifier_head():
    model = Classifier(build_backbone("smallcnn", (1, 28, 28)), num_classes=10)
    x = torch.randn(3, 1, 28, 28)
    z, out = model.features_and_output(x)
    assert z.shape == (3, 64) and out.logits.shape == (3, 10)
    model.eval()
    assert torch.allclose(model(x), model.head(model.backbone(x)).logits)


@pytest.mark.parametrize("name, shape", [("mlp", (1, 28, 28)), ("smallcnn", (2,)),
                                         ("resnet50", (3, 32, 32))])
def test_backbone_that_does_not_fit_the_input_names_the_parameter(name, shape):
    with pytest.raises(ParameterError, match="backbone="):
        build_backbone(name, shape)
