"""digits-cnn: the digits classifier that generalises (test accuracy ~99%), with its Retrain references for
every class. Shared machinery (task factory, training entry, model card): :mod:`.shipped_classifier`."""
from __future__ import annotations

from ..models.classifier import DigitsCNNConfig
from ..training import ClassifierRecipe
from .registry import CostProfile
from .shipped_classifier import ShippedClassifier, register_classifier

DIGITS_CNN = ShippedClassifier(
    name="digits-cnn", config=DigitsCNNConfig(image_size=16), recipe=ClassifierRecipe(),
    architecture="A small CNN (4 conv + 2 linear layers)",
    description="Digits classifier (CNN, 16x16 input) trained by this project on scikit-learn's digits; "
                "it generalises (train 100%, test 99%)",
)
# The run budget's prices (CostProfile: measured on one thread from benchmarks/digits-cnn.json and timed evaluations).
register_classifier(DIGITS_CNN, cost=CostProfile(pass_s=1.13e-3, score_s=0.11, evaluation_s=1.0,
                                                 retrain_s=106.0))
