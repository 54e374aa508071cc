"""The before/after sample grids of generative models as labelled uint8 pictures, from the plain samples
``inspection.before_after_samples`` returns: a title over each panel, the seed over each column, the row's class
or prompt on both sides (the forget target's rows framed in red).

Labels are drawn at ``LABEL_FONT_PX`` natural pixels so that the picture, shown at the width of the results
column or wider, still reads at 12 px or more (on a projector too); long prompts wrap onto two lines instead
of being cut.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

LABEL_FONT_PX = 18   # row labels and titles, in the picture's own pixels
SEED_FONT_PX = 13    # the seed over each column
CELL_PX = 48         # one sample; a row is CELL_PX + pad high, which holds two lines of label text
LABEL_WIDTH_PX = 240
HEADER_PX = 70       # the panel title (two lines) and the seeds
RED = (214, 39, 40)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def row_labels(generated: Mapping[str, Any]) -> tuple[list[str], list[bool]]:
    """Row labels of a before/after grid (``class K`` or the prompt) and which rows hold the forget target."""
    if generated.get("prompts") is not None:
        return list(generated["prompts"]), list(generated["marked"])
    forget, names = generated.get("forget_class"), generated.get("class_names")
    return [(names[c] if names else f"class {c}") + (" (forgotten)" if c == forget else "")
            for c in generated["classes"]], [c == forget for c in generated["classes"]]


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's own scalable font: the same on every machine


def _shorten(text: str, width_px: float, font) -> str:
    """``text`` cut to ``width_px`` with an ellipsis (only when even wrapping cannot fit it)."""
    if font.getlength(text) <= width_px:
        return text
    while text and font.getlength(text + "…") > width_px:
        text = text[:-1]
    return text + "…"


def wrap_label(text: str, width_px: float, font, max_lines: int = 2) -> list[str]:
    """``text`` broken at spaces into at most ``max_lines`` lines of at most ``width_px``; only a remainder that
    does not fit in the last line is cut with an ellipsis."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and font.getlength(f"{line} {words[0]}") <= width_px:
            line += " " + words.pop(0)
        lines.append(_shorten(line, width_px, font))
    if words:
        lines.append(_shorten(" ".join(words), width_px, font))
    return lines


def labelled_grid_image(generated: Mapping[str, Any], panels: Sequence[tuple[str, str]], cell: int = CELL_PX,
                        pad: int = 4, label_width: int = LABEL_WIDTH_PX, header: int = HEADER_PX) -> np.ndarray:
    """Grids side by side, labelled so they read on their own: a title over each panel (``panels`` =
    [(which samples, title), ...]), the seed over each column, and the row's class or prompt on the left and on
    the right (the forget target's rows in red). With two copies of the same layout, a slider whose handle sits
    in the middle opens on a clean split between the panels (see :func:`before_after_slider`)."""
    from PIL import Image, ImageDraw

    labels, marked = row_labels(generated)
    per = int(generated["per_class"])
    seeds = list(generated.get("seeds") or range(per))
    grid_width = per * (cell + pad) + pad
    rows = len(labels)
    height = header + rows * (cell + pad) + pad
    width = 2 * label_width + len(panels) * grid_width
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for index, (which, _) in enumerate(panels):
        samples = np.asarray(generated[which])
        left0 = label_width + index * grid_width
        for r in range(rows):
            top = header + pad + r * (cell + pad)
            if marked[r]:
                canvas[top - pad:top + cell + pad, left0:left0 + grid_width] = RED
            for c in range(per):
                image = samples[r * per + c]
                if generated.get("prompts") is None and np.ndim(image) == 3 and np.shape(image)[0] == 1:
                    image = 1.0 - image  # digits: ink drawn dark on white
                pixels = _to_uint8(image)
                ys = np.arange(cell) * pixels.shape[0] // cell
                xs = np.arange(cell) * pixels.shape[1] // cell
                left = left0 + pad + c * (cell + pad)
                canvas[top:top + cell, left:left + cell] = pixels[ys][:, xs]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    label_font, seed_font = _font(LABEL_FONT_PX), _font(SEED_FONT_PX)
    line_px = sum(label_font.getmetrics())
    for index, (_, title) in enumerate(panels):
        left0 = label_width + index * grid_width
        draw.multiline_text((left0 + pad, 2), "\n".join(wrap_label(title, grid_width - pad, label_font)),
                            fill=(0, 0, 0), font=label_font, spacing=0)
        for c, seed in enumerate(seeds[:per]):
            draw.text((left0 + pad + c * (cell + pad), header - SEED_FONT_PX - 4),
                      _shorten(f"s{seed}", cell + pad, seed_font), fill=(90, 90, 90), font=seed_font)
    fitting_lines = max(1, (cell + pad) // line_px)
    for r, (text, is_marked) in enumerate(zip(labels, marked)):
        lines = wrap_label(text, label_width - 8, label_font, fitting_lines)
        y = header + pad + r * (cell + pad) + (cell - len(lines) * line_px) // 2
        colour = RED if is_marked else (0, 0, 0)
        for left in (4, width - label_width + 4):
            draw.multiline_text((left, y), "\n".join(lines), fill=colour, font=label_font, spacing=0)
    return np.asarray(picture)


def before_after_slider(generated: Mapping[str, Any], method: str) -> tuple[np.ndarray, np.ndarray]:
    """The slider's two images: [labels | before | before | labels] and [labels | after | after | labels]. The
    handle starts in the middle, which is the boundary between the two copies, so the page opens on the
    original's samples on the left and the unlearned model's on the right, the same seeds on both sides; dragging
    shows either model everywhere."""
    before_title, after_title = "before: the original model", f"after: {method}"
    before = labelled_grid_image(generated, [("before", before_title), ("before", before_title)])
    after = labelled_grid_image(generated, [("after", after_title), ("after", after_title)])
    return before, after


def grid_panels(generated: Mapping[str, Any], method: str) -> list[tuple[str, str, str]]:
    """The panels a run has to show: (which samples, title, one-word caption) for the original, the unlearned
    model and, when there is one, Retrain."""
    panels = [("before", "before: the original model", "before"), ("after", f"after: {method}", "after")]
    if generated.get("retrain") is not None:
        panels.append(("retrain", "Retrain (never saw the class)", "Retrain"))
    return panels


def large_view_image(generated: Mapping[str, Any], method: str) -> np.ndarray:
    """Every panel side by side in one picture, for the page's full-width view (a projector): the same rows and
    seeds across the original, the unlearned model and Retrain."""
    return labelled_grid_image(generated, [(which, title) for which, title, _ in grid_panels(generated, method)])
