"""Forget and retain data a user brings for the large models: folders of images and files of prompts.

Layouts (all optional parts are named in the error messages):

- names/identities: ``DATA/<name>/*.png|jpg|jpeg|webp|bmp`` where ``<name>`` is the name with spaces or
  underscores (``DATA/elon_musk/`` holds images of "elon musk"), or a names file with one name per line;
- prompts: a text file with one prompt per line (blank lines and lines starting with ``#`` are skipped).
"""
from __future__ import annotations

from pathlib import Path

from .errors import UnlearningInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def normalise_name(text: str) -> str:
    """Case-, underscore- and space-insensitive key of a name ("Elon_Musk" == "elon musk")."""
    return " ".join(str(text).replace("_", " ").split()).lower()


def image_files(folder: str | Path, limit: int | None = None) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name, at most ``limit``."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UnlearningInputError(f"image folder {str(folder)!r} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return files[:limit] if limit is not None else files


def load_images(files: list[Path]) -> list:
    """PIL RGB images."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in files:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (UnidentifiedImageError, OSError):
            raise UnlearningInputError(f"{str(path)!r} is not a readable image") from None
    return images


def name_folders(root: str | Path) -> dict[str, Path]:
    """``{normalised name: folder}`` for every sub-folder of ``root`` that holds images."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UnlearningInputError(f"data folder {str(root)!r} does not exist (expected DATA/<name>/*.png)")
    return {normalise_name(p.name): p for p in sorted(root.iterdir()) if p.is_dir() and image_files(p)}


def read_lines(path: str | Path, what: str) -> list[str]:
    """Non-empty, non-comment lines of a text file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UnlearningInputError(f"{what} file {str(path)!r} does not exist")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise UnlearningInputError(f"{what} file {str(path)!r} is empty")
    return lines


def display_names(names_file: str | Path | None, folders: dict[str, Path]) -> list[str]:
    """The zero-shot label set: the names file's lines, else the data folders' names (underscores as spaces)."""
    if names_file:
        names = read_lines(names_file, "names")
    else:
        names = [" ".join(p.name.replace("_", " ").split()) for p in folders.values()]
    keys = [normalise_name(n) for n in names]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise UnlearningInputError(f"names appear twice: {', '.join(duplicated)}")
    if len(names) < 2:
        raise UnlearningInputError("zero-shot classification needs at least two names (folders or names file)")
    return names
