"""Semi-supervised baselines, each an :class:`~supercm.objectives.Objective`.

Importing this package registers ``pi``, ``mt``, ``vat`` and ``pl`` in
:data:`supercm.objectives.OBJECTIVES`. Every loss is computed on the unlabeled
rows and weighted ``w_ssl * ramp(progress / ramp_fraction)``.
"""

from . import mean_teacher, pi_model, pseudo_label, vat
from .base import SSLObjective, method_settings, softmax_mse
from .mean_teacher import MeanTeacher
from .pi_model import PiModel
from .pseudo_label import PseudoLabel
from .vat import (
    VirtualAdversarialTraining,
    adversarial_perturbation,
    frozen_batchnorm_statistics,
    unit_per_sample,
)

DEFAULT_WEIGHTS = {
    "pi": pi_model.DEFAULT_WEIGHT,
    "mt": mean_teacher.DEFAULT_WEIGHT,
    "vat": vat.DEFAULT_WEIGHT,
    "pl": pseudo_label.DEFAULT_WEIGHT,
}

__all__ = [
    "DEFAULT_WEIGHTS", "MeanTeacher", "PiModel", "PseudoLabel", "SSLObjective",
    "VirtualAdversarialTraining", "adversarial_perturbation",
    "frozen_batchnorm_statistics", "method_settings", "softmax_mse",
    "unit_per_sample",
]
