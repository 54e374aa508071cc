"""diffusers-style ``save_pretrained`` / ``from_pretrained`` for the project's small models: a dataclass config
as JSON beside safetensors weights, so a shipped folder says what it holds and rebuilds without code changes."""
from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..assets import ASSETS
from ..errors import AssetError, UnlearningInputError, shown

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class RecipeDict:
    """``to_dict`` / ``from_dict`` for a config or recipe dataclass whose tuple fields (channels) are saved as
    JSON lists; unknown keys in a saved file are ignored, missing ones take the defaults."""

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict):
        """The dataclass from a saved dict; a value of another type than its field's default (a string where a
        number belongs, a float channel count) raises TypeError naming the key, before any module is built."""
        if not isinstance(raw, dict):
            raise TypeError(f"expected a JSON object of {cls.__name__} settings; got {shown(raw)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in raw.items() if k in fields}
        for name, value in values.items():
            default = fields[name].default
            if isinstance(default, tuple) and isinstance(value, list):
                value = values[name] = tuple(value)
            if default is not dataclasses.MISSING and not _same_kind(default, value):
                raise TypeError(f"{name} must be like {shown(default)}; got {shown(value)}")
        return cls(**values)


def _same_kind(default: Any, value: Any) -> bool:
    """Whether a saved ``value`` has the type of the field's ``default`` (an int where a float belongs is fine)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(_same_kind(default[0], v) for v in value) if default else True
    if default is None:
        return True
    return isinstance(value, type(default))


def where(path: str | Path) -> str:
    """A file of the model as a message names it: relative to the project for a shipped one (no machine path),
    else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ASSETS.parent))
    except ValueError:
        return str(path)


# What reading a damaged model raises: a garbled or truncated safetensors file, unreadable or invalid JSON
# (JSONDecodeError and UnicodeDecodeError are ValueErrors), a config of the wrong types, weights of the wrong
# shapes or names (RuntimeError from load_state_dict), a missing key.
DAMAGED = (SafetensorError, OSError, ValueError, TypeError, RuntimeError, KeyError)


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn the failure of reading the model at ``path`` (a file or a folder) into an AssetError naming it."""
    try:
        yield
    except UnlearningInputError:
        raise
    except DAMAGED as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise AssetError(f"{where(path)} cannot be loaded: {shown(reason, 200)} ({type(error).__name__}); "
                         "restore the file or train the model again") from None


def read_json(path: str | Path) -> dict:
    """A JSON object from ``path``, or an AssetError naming the file."""
    with reading(path):
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise AssetError(f"{where(path)} cannot be loaded: expected a JSON object; got {shown(raw)}; "
                         "restore the file or train the model again")
    return raw


def check_weights(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Weights a trained model can have: finite, and not all zero (a zeroed file is not the trained model; it
    would run to "Done" with constant outputs). Raises AssetError naming the file and a bad tensor."""
    floating = {name: t for name, t in tensors.items() if torch.is_floating_point(t)}
    for name, tensor in floating.items():
        if not torch.isfinite(tensor).all():
            raise AssetError(f"{where(path)} cannot be loaded: weight {name} holds NaN or infinite values; "
                             "restore the file or train the model again")
    if floating and not any(bool(t.any()) for t in floating.values()):
        raise AssetError(f"{where(path)} cannot be loaded: every weight is zero, so it is not a trained model; "
                         "restore the file or train the model again")


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load ``path`` (safetensors) into ``model`` strictly: a damaged file, other names or other shapes raise
    an AssetError naming the file."""
    with reading(path):
        state = load_file(str(path))
    check_weights(state, path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{name} is {tuple(state[name].shape)}, expected {tuple(t.shape)}"
             for name, t in expected.items() if name in state and state[name].shape != t.shape]
    problems = ([f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")] if missing else []) + \
               ([f"unexpected {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else "")]
                if unexpected else []) + wrong[:2]
    if problems:
        raise AssetError(f"{where(path)} does not fit the model its config describes: {'; '.join(problems)}; "
                         "restore the file or train the model again")
    model.load_state_dict(state)


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
        """The saved model of ``folder``; an AssetError naming the file when one is damaged (see ``reading``)."""
        folder = Path(folder)
        raw = read_json(folder / CONFIG_NAME)
        with reading(folder / CONFIG_NAME):  # a config of the wrong types, or one no module can be built from
            model = cls(cls.config_class.from_dict(raw))
        load_weights(model, folder / WEIGHTS_NAME)
        return model.eval()
