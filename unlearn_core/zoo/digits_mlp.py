"""digits-mlp: the digits classifier that memorises (train 100%, test ~95%), like the papers' CIFAR-10
models. A model that generalises almost perfectly (digits-cnn) has little to forget when the forget set is a
random share: Retrain still recognises those samples, so doing nothing is already close to Retrain. This one,
an MLP on the native 8x8 pixels trained without augmentation on half of the training part, recognises
unseen digits less surely, so Retrain without a random 10% differs from the original by several points.
Recipe chosen on forget seeds 10-19 (never reported) among MLP widths, depths, epochs and training shares:
the original's Avg. Gap to Retrain on `random:10` was 3.4 on average (256-wide, 150 epochs: 2.9; 40% of the
training part: 3.6 but with forget sets of 57 images).
Shared machinery (task factory, training entry, model card): :mod:`.shipped_classifier`."""
from __future__ import annotations

from ..models.classifier import DigitsMLPConfig
from ..training import ClassifierRecipe
from .registry import CostProfile
from .shipped_classifier import ShippedClassifier, register_classifier

DIGITS_MLP = ShippedClassifier(
    name="digits-mlp", config=DigitsMLPConfig(image_size=8, hidden=(128, 128)),
    recipe=ClassifierRecipe(epochs=100, batch_size=64, lr=1e-3, weight_decay=0.0, shift_px=0.0, rotate_deg=0.0,
                            scale=0.0),
    architecture="An MLP (two hidden ReLU layers of 128 units on the flattened pixels)",
    description="Digits classifier (MLP, 8x8 input) that memorises (train 100%, test ~95%): random "
                "forgetting has something to undo",
    train_share=0.5,
)
# The run budget's prices (CostProfile: measured on one thread from benchmarks/digits-mlp.json and timed evaluations).
register_classifier(DIGITS_MLP, cost=CostProfile(pass_s=7.7e-5, score_s=0.01, evaluation_s=0.3,
                                                 retrain_s=7.6))
