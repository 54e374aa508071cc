"""Text on crowded plots that a person can read: short distinct layer names, and for labelled points a text
position per point, chosen in pixels, so every label lies inside the plot area and clear of the other labels.

Plotly does not lay out point labels itself (a label at the plot's edge is clipped; close points' labels
stack), so the plot builders estimate each label's box from its length and place it here. Sizes are estimated
generously (``CHAR_PX``), so a label that fits here fits the drawn one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

CHAR_PX = 6.6          # width of one character of a 12 px plotly label, rounded up (names average ~5.5)
LINE_PX = 16.0         # height of one line of a 12 px label
ELLIPSIS = "..."
# Where a point's label may go, best first: up-left of the point is where a Pareto front has room (nothing
# beats a front point there), then the other corners, then the sides.
TEXT_POSITIONS = ("top left", "bottom right", "top right", "bottom left", "middle left", "middle right",
                  "top center", "bottom center")


def distinct_short_names(names: Sequence[str], keep: int = 2, count_numbers: bool = True) -> list[str]:
    """For each dotted name, its shortest suffix of at least ``keep`` parts that no other name ends with
    (so ``down_blocks.0.resnets.0.conv1.weight`` and ``down_blocks.1.resnets.0.conv1.weight`` stay apart);
    a shortened name starts with "...". With ``count_numbers=False`` an index part ("0") does not count
    towards ``keep`` ("attn2.to_out.0", not "to_out.0"). Labels on crowded plots; hover has the full names."""
    split = [name.split(".") for name in names]
    labels = []
    for parts in split:
        depth = min(_depth_for_words(parts, keep) if not count_numbers else keep, len(parts))
        while depth < len(parts) and any(other[-depth:] == parts[-depth:] for other in split
                                         if other is not parts and other != parts):
            depth += 1
        labels.append(".".join(parts) if depth >= len(parts) else ELLIPSIS + ".".join(parts[-depth:]))
    return labels


def _depth_for_words(parts: Sequence[str], words: int) -> int:
    """How many trailing parts hold ``words`` parts that are not plain indices."""
    seen = 0
    for depth, part in enumerate(reversed(parts), start=1):
        seen += not part.isdigit()
        if seen >= words:
            return depth
    return len(parts)


def point_labels(names: Sequence[str]) -> list[str]:
    """Short distinct labels of layer names for a scatter plot: the last part every name shares (``weight``)
    dropped, then the shortest distinct suffix with two words ("...attn2.to_out.0", "...resnets.1.conv2")."""
    split = [name.split(".") for name in names]
    if split and all(len(parts) > 1 and parts[-1] == split[0][-1] for parts in split):
        names = [".".join(parts[:-1]) for parts in split]
    return distinct_short_names(names, keep=1, count_numbers=False)


def fit_labels(labels: Sequence[str], max_chars: int) -> list[str]:
    """Each label at most ``max_chars`` long where it can be, by dropping dotted parts from its middle (the
    start says where in the model, the end which layer: "text_encoder...layers.0.mlp.* (4)"); labels stay
    distinct (labels that would be the same keep more of their parts)."""
    budgets = [max_chars] * len(labels)
    fitted = [_elide_middle(label, max_chars) for label in labels]
    for _ in range(len(labels)):
        counts: dict[str, int] = {}
        for label in fitted:
            counts[label] = counts.get(label, 0) + 1
        clashes = [i for i, label in enumerate(fitted) if counts[label] > 1]
        if not clashes:
            break
        for i in clashes:
            budgets[i] += 8
            fitted[i] = _elide_middle(labels[i], budgets[i])
    return fitted


def _elide_middle(label: str, max_chars: int) -> str:
    """``label`` as its first and last dotted parts with "..." between, keeping as many characters as fit in
    ``max_chars`` (more of the end on a tie: it names the layer); unchanged when it fits or cannot shrink."""
    parts = label.split(".")
    if len(label) <= max_chars or len(parts) < 3:
        return label
    best = None
    for head in range(1, len(parts) - 1):
        for tail in range(1, len(parts) - head):
            text = ".".join(parts[:head]) + ELLIPSIS + ".".join(parts[-tail:])
            if len(text) <= max_chars and (best is None or (len(text), tail) > (len(best[0]), best[1])):
                best = (text, tail)
    return best[0] if best else parts[0] + ELLIPSIS + parts[-1]


def text_width_px(text: str, font_px: float = 12.0) -> float:
    return len(text) * CHAR_PX * font_px / 12.0


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels, y downwards (as the page draws it)."""
    left: float
    top: float
    right: float
    bottom: float

    def overlap(self, other: "Box") -> float:
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        return width * height if width > 0 and height > 0 else 0.0

    def outside(self, frame: "Box") -> float:
        """How far, in pixels summed over the four sides, this box sticks out of ``frame``."""
        return (max(frame.left - self.left, 0.0) + max(self.right - frame.right, 0.0)
                + max(frame.top - self.top, 0.0) + max(self.bottom - frame.bottom, 0.0))


def label_box(x: float, y: float, position: str, width: float, height: float, offset: float) -> Box:
    """The box of a label of ``width`` x ``height`` drawn at plotly text ``position`` around the point
    (x, y), ``offset`` pixels from it (plotly keeps a label clear of its marker)."""
    vertical, horizontal = position.split()
    if horizontal == "left":
        left = x - offset - width
    elif horizontal == "right":
        left = x + offset
    else:
        left = x - width / 2
    if vertical == "top":
        top = y - offset - height
    elif vertical == "bottom":
        top = y + offset
    else:
        top = y - height / 2
    return Box(left, top, left + width, top + height)


def marker_box(x: float, y: float, size: float) -> Box:
    return Box(x - size / 2, y - size / 2, x + size / 2, y + size / 2)


def place_labels(points: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]], frame: Box,
                 markers: Iterable[Box] = (), offset: float = 8.0, passes: int = 4) -> list[str]:
    """A plotly text position per point (pixels, y down): the first positions (in ``TEXT_POSITIONS`` order)
    that keep every label inside ``frame`` and apart, where there are such; else each in turn takes its best
    given the labels placed before it, then each moves to its best given all the others, a few passes over.
    Best: inside ``frame``, then overlapping the other labels least, then covering ``markers`` least, then
    earliest in ``TEXT_POSITIONS``."""
    markers = list(markers)
    positions: list[str | None] = [None] * len(points)

    def box(index: int, position: str) -> Box:
        (x, y), (width, height) = points[index], sizes[index]
        return label_box(x, y, position, width, height, offset)

    def cost(index: int, position: str) -> tuple[float, float, float]:
        candidate = box(index, position)
        others = [box(j, other) for j, other in enumerate(positions) if j != index and other is not None]
        return (candidate.outside(frame), sum(candidate.overlap(other) for other in others),
                sum(candidate.overlap(marker) for marker in markers))

    clear = _clear_positions(len(points), box, frame)
    if clear is not None:
        return clear
    for _ in range(passes):
        before = list(positions)
        for index in range(len(points)):
            positions[index] = min(TEXT_POSITIONS, key=lambda position: cost(index, position))
        if positions == before:
            break
    return [position or TEXT_POSITIONS[0] for position in positions]


def _clear_positions(count: int, box, frame: Box, budget: int = 20000) -> list[str] | None:
    """Positions with every label inside ``frame`` and no two overlapping, found by backtracking (each label
    tries ``TEXT_POSITIONS`` in order); None when there are none or ``budget`` tries did not find them."""
    chosen: list[str] = []
    tries = 0

    def extend() -> bool:
        nonlocal tries
        if len(chosen) == count:
            return True
        index = len(chosen)
        for position in TEXT_POSITIONS:
            tries += 1
            if tries > budget:
                return False
            candidate = box(index, position)
            if candidate.outside(frame) == 0 and all(candidate.overlap(box(j, other)) == 0
                                                     for j, other in enumerate(chosen)):
                chosen.append(position)
                if extend():
                    return True
                chosen.pop()
        return False

    return list(chosen) if extend() else None


def padded_log_range(values: Iterable[float], length_px: float, pad_low_px: float, pad_high_px: float,
                     min_decades: float = 0.5) -> list[float]:
    """A log axis's range (log10 units, as plotly takes it) holding every positive value with ``pad_low_px`` /
    ``pad_high_px`` pixels to spare below / above, on an axis ``length_px`` long; the values span at least
    ``min_decades`` (one point, or points close together, sit in the middle)."""
    logs = [math.log10(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    low, high = (min(logs), max(logs)) if logs else (-1.0, 0.0)
    if high - low < min_decades:
        middle = (low + high) / 2
        low, high = middle - min_decades / 2, middle + min_decades / 2
    per_px = (high - low) / max(length_px - pad_low_px - pad_high_px, 1.0)
    return [low - pad_low_px * per_px, high + pad_high_px * per_px]


def to_pixels(value: float, axis_range: Sequence[float], length_px: float, flip: bool = False) -> float:
    """Pixel position of ``value`` on a log axis of ``axis_range`` (log10 units) drawn ``length_px`` long;
    ``flip`` for a y axis (pixels run downwards, values upwards)."""
    low, high = axis_range
    share = (math.log10(value) - low) / (high - low)
    return length_px * (1.0 - share if flip else share)


@dataclass(frozen=True)
class LabelledLogScatter:
    """Where labelled points of a log-log scatter go: both axes' ranges (log10 units) and each label's plotly
    text position."""
    x_range: list[float]
    y_range: list[float]
    positions: list[str]


def layout_log_scatter(points: Sequence[tuple[float, float]], labels: Sequence[str],
                       markers: Sequence[tuple[float, float, float]], width_px: float, height_px: float,
                       font_px: float = 12.0, offset: float = 8.0, rounds: int = 4) -> LabelledLogScatter:
    """Axis ranges and label positions for labelled ``points`` (x, y > 0) on a log-log plot area of
    ``width_px`` x ``height_px`` (estimated; a wider one only spreads the points), among ``markers``
    (x, y, size in px; every point drawn, labelled or not, so ranges hold them all). Labels go where they fit
    (:func:`place_labels`); where one still sticks out, the axis grows on that side by as much, and again."""
    sizes = [(text_width_px(label, font_px), LINE_PX * font_px / 12.0) for label in labels]
    edge = max([size for _, _, size in markers] + [offset]) / 2 + 2  # a marker is whole inside the axes
    pads = {"left": edge, "right": edge, "top": edge, "bottom": edge}
    xs = [x for x, _, _ in markers] + [x for x, _ in points]
    ys = [y for _, y, _ in markers] + [y for _, y in points]
    frame = Box(0.0, 0.0, width_px, height_px)
    for _ in range(rounds):
        x_range = padded_log_range(xs, width_px, pads["left"], pads["right"])
        y_range = padded_log_range(ys, height_px, pads["bottom"], pads["top"])
        pixels = [(to_pixels(x, x_range, width_px), to_pixels(y, y_range, height_px, flip=True)) for x, y in points]
        marker_boxes = [marker_box(to_pixels(x, x_range, width_px), to_pixels(y, y_range, height_px, flip=True), size)
                        for x, y, size in markers]
        positions = place_labels(pixels, sizes, frame, marker_boxes, offset)
        boxes = [label_box(x, y, position, width, height, offset)
                 for (x, y), position, (width, height) in zip(pixels, positions, sizes)]
        overflow = {"left": max([frame.left - box.left for box in boxes] + [0.0]),
                    "right": max([box.right - frame.right for box in boxes] + [0.0]),
                    "top": max([frame.top - box.top for box in boxes] + [0.0]),
                    "bottom": max([box.bottom - frame.bottom for box in boxes] + [0.0])}
        if not any(overflow.values()):
            break
        pads = {side: pad + overflow[side] for side, pad in pads.items()}
    return LabelledLogScatter(x_range, y_range, positions)
