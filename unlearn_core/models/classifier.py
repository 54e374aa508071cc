"""The digits classifiers, each with an explicit config saved beside its weights: a small CNN that
generalises (``digits-cnn``) and an MLP that memorises (``digits-mlp``)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..errors import AssetError, shown
from .pretrained import CONFIG_NAME, WEIGHTS_NAME, PretrainedModule, RecipeDict, read_json, where

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "DigitsCNN", "DigitsCNNConfig", "DigitsMLP", "DigitsMLPConfig",
           "build_classifier", "load_classifier"]


@dataclasses.dataclass
class DigitsCNNConfig(RecipeDict):
    image_size: int = 16
    in_channels: int = 1
    num_classes: int = 10
    channels: tuple = (32, 64)
    hidden: int = 128


class DigitsCNN(PretrainedModule):
    """conv-conv-pool, conv-conv-pool, fc-fc. Six weight layers, so SLUG has layers to choose among."""

    config_class = DigitsCNNConfig

    def __init__(self, config: DigitsCNNConfig | None = None):
        super().__init__()
        self.config = config or DigitsCNNConfig()
        c1, c2 = self.config.channels
        self.conv1 = nn.Conv2d(self.config.in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c1, 3, padding=1)
        self.conv3 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv4 = nn.Conv2d(c2, c2, 3, padding=1)
        side = self.config.image_size // 4
        self.fc1 = nn.Linear(c2 * side * side, self.config.hidden)
        self.fc2 = nn.Linear(self.config.hidden, self.config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (used for the classifier-feature FID of generated images)."""
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.conv4(torch.relu(self.conv3(x))))
        x = nn.functional.max_pool2d(x, 2)
        return torch.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))

    @property
    def head(self) -> nn.Linear:
        return self.fc2


@dataclasses.dataclass
class DigitsMLPConfig(RecipeDict):
    image_size: int = 8
    in_channels: int = 1
    num_classes: int = 10
    hidden: tuple = (256, 256)


class DigitsMLP(PretrainedModule):
    """Flattened pixels through ReLU hidden layers: no convolution, no pooling, so nothing ties neighbouring
    pixels together and, trained without augmentation, it memorises its training images (like the papers'
    CIFAR-10 ResNets: train 100%, test a few points lower)."""

    config_class = DigitsMLPConfig

    def __init__(self, config: DigitsMLPConfig | None = None):
        super().__init__()
        self.config = config or DigitsMLPConfig()
        widths = [self.config.in_channels * self.config.image_size ** 2, *self.config.hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], self.config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))

    @property
    def head(self) -> nn.Linear:
        return self.out


CLASSIFIERS: dict[type, type] = {DigitsCNNConfig: DigitsCNN, DigitsMLPConfig: DigitsMLP}


def build_classifier(config: DigitsCNNConfig | DigitsMLPConfig) -> PretrainedModule:
    """A freshly initialised classifier of the architecture ``config`` describes."""
    return CLASSIFIERS[type(config)](config)


def load_classifier(folder: str | Path) -> PretrainedModule:
    """A saved classifier of whichever architecture its ``config.json`` names (``_class_name``)."""
    name = read_json(Path(folder) / CONFIG_NAME).get("_class_name", "DigitsCNN")
    by_name = {cls.__name__: cls for cls in CLASSIFIERS.values()}
    if name not in by_name:
        raise AssetError(f"{where(Path(folder) / CONFIG_NAME)} cannot be loaded: unknown classifier class "
                         f"{shown(name)}; known: {', '.join(by_name)}")
    return by_name[name].from_pretrained(folder)
