"""Backbones that map inputs to features ``z``; the clustering module is the head."""

from __future__ import annotations

from torch import Tensor, nn

from .cluster import ClusteringModule, ClusterOutput
from .validation import ParameterError, check_choice

BACKBONES = ("mlp", "smallcnn", "wrn28-2")


class MLP(nn.Module):
    """Two hidden layers for 2-D teaching data: (n, in_features) -> (n, width)."""

    def __init__(self, in_features: int = 2, width: int = 32):
        super().__init__()
        self.out_features = width
        self.net = nn.Sequential(
            nn.Linear(in_features, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.1),
    )


class SmallCNN(nn.Module):
    """A small CNN for gray digits, fast on a CPU: (n, C, H, W) -> (n, width).

    Three conv blocks (two followed by 2x2 max pooling) and global average
    pooling; any input size from 8x8 up works.
    """

    def __init__(self, in_channels: int = 1, width: int = 64):
        super().__init__()
        self.out_features = width
        self.net = nn.Sequential(
            _conv_block(in_channels, width // 2),
            nn.MaxPool2d(2),
            _conv_block(width // 2, width),
            nn.MaxPool2d(2),
            _conv_block(width, width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, momentum=0.001)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=0.001)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.act = nn.LeakyReLU(0.1)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.act(self.bn2(out)))
        return out + residual


class WideResNet(nn.Module):
    """WRN-28-2 (depth 28, widen factor 2) for 32x32 colour images -> (n, 128)."""

    def __init__(self, in_channels: int = 3, depth: int = 28, widen: int = 2):
        super().__init__()
        blocks_per_stage = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.out_features = widths[-1]
        stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        layers: list[nn.Module] = [stem]
        for stage in range(3):
            for block in range(blocks_per_stage):
                c_in = widths[stage] if block == 0 else widths[stage + 1]
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(_WideBlock(c_in, widths[stage + 1], stride))
        layers += [
            nn.BatchNorm2d(widths[-1], momentum=0.001),
            nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Classifier(nn.Module):
    """A backbone with the clustering module as its head.

    ``forward`` returns logits; :meth:`features_and_output` also returns the
    features ``z`` and the module's responsibilities and reconstruction.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, temperature: float = 1.0,
                 learn_centroids: bool = False):
        super().__init__()
        self.backbone = backbone
        self.head = ClusteringModule(
            backbone.out_features, num_classes, temperature, learn_centroids
        )

    def features_and_output(self, x: Tensor) -> tuple[Tensor, ClusterOutput]:
        z = self.backbone(x)
        return z, self.head(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)).logits


def build_backbone(name: str, input_shape: tuple[int, ...]) -> nn.Module:
    """Build a backbone by name for inputs of shape ``input_shape`` (no batch dim)."""
    check_choice("backbone", name, BACKBONES)
    if name == "mlp":
        if len(input_shape) != 1:
            raise ParameterError(
                "backbone", name, f"'smallcnn' or 'wrn28-2' (or 'auto') for image "
                f"inputs of shape {tuple(input_shape)}; 'mlp' takes vectors",
            )
        return MLP(input_shape[0])
    if len(input_shape) != 3:
        raise ParameterError(
            "backbone", name, f"'mlp' (or 'auto') for vector inputs of shape "
            f"{tuple(input_shape)}; {name!r} takes images (C, H, W)",
        )
    if name == "smallcnn":
        return SmallCNN(input_shape[0])
    return WideResNet(input_shape[0])


def default_backbone(input_shape: tuple[int, ...]) -> str:
    """``mlp`` for vectors, ``wrn28-2`` for colour images, ``smallcnn`` otherwise."""
    if len(input_shape) == 1:
        return "mlp"
    return "wrn28-2" if input_shape[0] == 3 else "smallcnn"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "BACKBONES", "MLP", "SmallCNN", "WideResNet", "Classifier",
    "build_backbone", "default_backbone", "count_parameters",
]
