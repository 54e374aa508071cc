"""The digits classifier: a small CNN with an explicit config saved beside its weights."""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .pretrained import CONFIG_NAME, WEIGHTS_NAME, PretrainedModule, RecipeDict

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "DigitsCNN", "DigitsCNNConfig"]


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
