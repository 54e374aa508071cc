"""Image grids (classes x seeds) for before/after comparisons, with the forget class's row marked."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..models.ddpm import to_pixels

CELL = 32          # pixels per generated image (8x8 digits drawn with nearest-neighbour upscaling)
GAP = 2
LABEL_W = 74
TITLE_H = 22
HEADER_H = 18
FORGET_COLOUR = (214, 39, 40)


def sample_grid(task, model, classes: Sequence[int], seeds: Sequence[int], guidance: float | None = None,
                steps: int | None = None) -> torch.Tensor:
    """Samples for every (class, seed): shape (classes, seeds, H, W) in [0, 1]. Column j uses seed j's noise
    in every row and in every model, so rows are comparable across models."""
    labels = [c for c in classes for _ in seeds]
    all_seeds = [s for _ in classes for s in seeds]
    samples = task.sample(model, labels, all_seeds, guidance, steps)
    pixels = to_pixels(samples)
    pixels = pixels[:, 0] if pixels.shape[1] == 1 else pixels  # grey (N, H, W) or colour (N, 3, H, W)
    return pixels.view(len(classes), len(seeds), *pixels.shape[1:])


def _panel_image(grid: torch.Tensor) -> Image.Image:
    rows, cols = grid.shape[:2]
    canvas = Image.new("L", (cols * (CELL + GAP) - GAP, rows * (CELL + GAP) - GAP), 255)
    for r in range(rows):
        for c in range(cols):
            array = (grid[r, c].numpy() * 255).round().astype(np.uint8)
            tile = Image.fromarray(255 - array).resize((CELL, CELL), Image.NEAREST)  # dark ink on white
            canvas.paste(tile, (c * (CELL + GAP), r * (CELL + GAP)))
    return canvas


def _render_rows(panels: list[tuple[str, torch.Tensor]], labels: Sequence[str], marked: Sequence[bool],
                 columns: int, path: Path, title: str, label_width: int, panel_image, frame_width: int) -> Path:
    """Panels side by side (before | after | ...), one row per label, marked rows' labels in red and framed;
    ``panel_image`` turns one panel's (rows, columns, ...) tensor into a PIL image. Saved as a PNG."""
    font = ImageFont.load_default()
    panel_w = columns * (CELL + GAP) - GAP
    panel_h = len(labels) * (CELL + GAP) - GAP
    width = max(label_width + len(panels) * (panel_w + 16) + 4, 8 + 6 * len(title))
    height = TITLE_H + HEADER_H + panel_h + 8
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), title, fill=(0, 0, 0), font=font)
    top = TITLE_H + HEADER_H
    for r, label in enumerate(labels):
        y = top + r * (CELL + GAP) + CELL // 2 - 6
        draw.text((6, y), label, fill=FORGET_COLOUR if marked[r] else (0, 0, 0), font=font)
    for p, (name, grid) in enumerate(panels):
        left = label_width + p * (panel_w + 16)
        draw.text((left, TITLE_H), name, fill=(0, 0, 0), font=font)
        image.paste(panel_image(grid).convert("RGB"), (left, top))
        for r, flag in enumerate(marked):
            if flag:
                y0 = top + r * (CELL + GAP) - 2
                draw.rectangle([left - 2, y0, left + panel_w + 1, y0 + CELL + 3], outline=FORGET_COLOUR,
                               width=frame_width)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def render_grid(panels: list[tuple[str, torch.Tensor]], classes: Sequence[int], seeds: Sequence[int],
                forget_class: int | None, path: Path, title: str = "", class_names: Sequence[str] | None = None) -> Path:
    """Draw panels side by side (e.g. before | after | Retrain), one row per class, and save a PNG; grey
    panels (rows, cols, H, W) as dark ink on white, colour ones (rows, cols, 3, H, W) as they are."""
    marked = [c == forget_class for c in classes]
    labels = [(class_names[c] if class_names else f"class {c}") + (" forget" if flag else "")
              for c, flag in zip(classes, marked)]
    colour = panels[0][1].ndim == 5
    return _render_rows(panels, labels, marked, len(seeds), path, title, LABEL_W,
                        _rgb_panel if colour else _panel_image, frame_width=2)


def before_after_class_grid(task, outcome, path: Path, title: str, seeds: Sequence[int] | None = None) -> Path:
    """The CLI's grid for a class-wise generator (``task.sample``, ``task.original``, ``task.num_classes``,
    ``task.forget_class``): rows = classes, columns = seeds; the original, the unlearned and (when shipped)
    Retrain."""
    seeds = list(seeds or [1000 * int(outcome.report.get("seed", 0)) + i for i in range(8)])
    classes = list(range(task.num_classes))
    panels = [("before: original", sample_grid(task, task.original, classes, seeds)),
              (f"after: {outcome.report.get('method', 'unlearned')}", sample_grid(task, outcome.model, classes, seeds))]
    if task.retrain_available():
        panels.append(("Retrain (exact)", sample_grid(task, task.retrain().model, classes, seeds)))
    return render_grid(panels, classes, seeds, task.forget_class, Path(path), title=title,
                       class_names=getattr(task, "class_names", None))


PROMPT_LABEL_W = 250


def _rgb_panel(grid: torch.Tensor) -> Image.Image:
    """(rows, cols, 3, H, W) images in [0, 1] -> one RGB panel, nearest-neighbour upscaled to CELL pixels."""
    rows, cols = grid.shape[:2]
    canvas = Image.new("RGB", (cols * (CELL + GAP) - GAP, rows * (CELL + GAP) - GAP), (255, 255, 255))
    for r in range(rows):
        for c in range(cols):
            array = (grid[r, c].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
            canvas.paste(Image.fromarray(array).resize((CELL, CELL), Image.NEAREST), (c * (CELL + GAP), r * (CELL + GAP)))
    return canvas


def render_prompt_grid(panels: list[tuple[str, torch.Tensor]], prompts: Sequence[str], seeds: Sequence[int],
                       marked: Sequence[bool], path: Path, title: str = "") -> Path:
    """Text-to-image before/after grid: one row per prompt (rows asking for the erased concept in red and
    framed), one column per seed, panels side by side; saved as a PNG."""
    labels = [prompt if len(prompt) <= 40 else prompt[:39] + "…" for prompt in prompts]
    return _render_rows(panels, labels, marked, len(seeds), path, title, PROMPT_LABEL_W, _rgb_panel, frame_width=1)
