"""diffusers-style ``save_pretrained`` / ``from_pretrained`` for the project's small models: a dataclass config
as JSON beside safetensors weights, so a shipped folder says what it holds and rebuilds without code changes."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class RecipeDict:
    """``to_dict`` / ``from_dict`` for a config or recipe dataclass whose tuple fields (channels) are saved as
    JSON lists; unknown keys in a saved file are ignored, missing ones take the defaults."""

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in raw.items() if k in fields}
        for name, value in values.items():
            if isinstance(fields[name].default, tuple) and isinstance(value, list):
                values[name] = tuple(value)
        return cls(**values)


class PretrainedModule(nn.Module):
    """A module built from ``config_class`` (a :class:`RecipeDict` dataclass) and kept in ``self.config``."""

    config_class: ClassVar[type[RecipeDict]]

    def save_pretrained(self, folder: str | Path, card: str | None = None, extra: dict | None = None) -> None:
        """Write ``config.json`` (the config, the class name and ``extra`` fields such as label names),
        ``model.safetensors`` and, when given, the model card ``README.md``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {**self.config.to_dict(), "_class_name": type(self).__name__, **(extra or {})}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, default=float) + "\n")
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_NAME))
        if card is not None:
            (folder / "README.md").write_text(card)

    @classmethod
    def from_pretrained(cls, folder: str | Path):
        folder = Path(folder)
        model = cls(cls.config_class.from_dict(json.loads((folder / CONFIG_NAME).read_text())))
        model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
        return model.eval()
