"""Issue 26 (defects 4 and 5) on the figure data: SLUG's Pareto labels, placed in the plot's pixels, lie inside
the plot area and clear of each other (the front of shapes-t2i, and digits-cnn's single front layer at the left
edge, which was labelled "ght"); the salient-share chart names each row above a full-width bar and keeps its
title and notes above the top x axis."""
from __future__ import annotations

import pytest

from unlearn_core import plots
from unlearn_core.plots import label_layout

# shapes-t2i's layer analysis for concept:triangle (alignment, importance): three front layers at one height.
T2I_FRONT = {"unet.up_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.weight": (0.00565, 1.75e-4),
             "unet.up_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight": (0.0055, 9.97e-5),
             "unet.up_blocks.1.resnets.0.conv_shortcut.weight": (0.0428, 2.79e-3),
             "unet.up_blocks.1.resnets.1.conv2.weight": (0.0704, 3.02e-3),
             "unet.up_blocks.1.resnets.1.conv_shortcut.weight": (0.0131, 2.57e-3),
             "unet.conv_out.weight": (0.237, 1.33e-2)}
T2I_OTHERS = {f"unet.block.{i}.weight": (0.02 + 0.01 * i, 1e-5 * (1 + i % 7)) for i in range(30)}


def _slug(front: dict, others: dict, chosen: str | None) -> dict:
    layers = [{"name": n, "alignment": a, "importance": i, "on_front": n in front}
              for n, (a, i) in {**front, **others}.items()]
    return {"layers": layers, "front": list(front), "chosen": chosen, "trace": [{"lambda": 1.0}] if chosen else [],
            "lambda": 2.0 if chosen else None}


def _label_boxes(figure) -> tuple[list[label_layout.Box], label_layout.Box]:
    """Each front label's box in the small plot area the labels are placed for, and that area."""
    front = next(trace for trace in figure.data if trace.name == "Pareto front")
    width, height = plots.PARETO_PLOT_WIDTH_PX, plots.PARETO_PLOT_HEIGHT_PX
    boxes = []
    for x, y, text, position in zip(front.x, front.y, front.text, front.textposition):
        px = label_layout.to_pixels(x, figure.layout.xaxis.range, width)
        py = label_layout.to_pixels(y, figure.layout.yaxis.range, height, flip=True)
        boxes.append(label_layout.label_box(px, py, position, label_layout.text_width_px(text),
                                            label_layout.LINE_PX, 8.0))
    return boxes, label_layout.Box(0.0, 0.0, width, height)


@pytest.mark.parametrize("chosen", [None, "unet.up_blocks.1.resnets.1.conv_shortcut.weight"])
def test_shapes_t2i_pareto_labels_lie_inside_and_apart(chosen):
    figure = plots.slug_pareto(_slug(T2I_FRONT, T2I_OTHERS, chosen))
    boxes, frame = _label_boxes(figure)
    assert len(boxes) == len(T2I_FRONT)
    assert all(box.outside(frame) == 0 for box in boxes)
    assert all(a.overlap(b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    front = next(trace for trace in figure.data if trace.name == "Pareto front")
    assert len(set(front.text)) == len(front.text) and "weight" not in " ".join(front.text)
    assert list(front.customdata) == sorted(T2I_FRONT, key=lambda n: T2I_FRONT[n][0])  # full names on hover


def test_a_front_point_at_the_left_edge_labels_inwards():
    """digits-cnn: fc2 has the lowest alignment (the left edge) and the highest importance (the top)."""
    scores = {"conv1.weight": (0.314, 2.93e-4), "conv2.weight": (0.0773, 1.15e-4), "fc1.weight": (0.0354, 1.63e-4)}
    figure = plots.slug_pareto(_slug({"fc2.weight": (0.0294, 1.75e-3)}, scores, "fc2.weight"))
    boxes, frame = _label_boxes(figure)
    assert boxes[0].outside(frame) == 0
    front = next(trace for trace in figure.data if trace.name == "Pareto front")
    assert front.textposition[0].endswith("right")
    assert any(trace.name.startswith("edited: fc2") for trace in figure.data)


def test_long_block_names_sit_above_full_width_bars():
    names = [f"unet.down_blocks.{b}.attentions.0.transformer_blocks.0.{p}.weight" for b in range(3)
             for p in ("attn1.to_q", "attn2.to_out.0", "ff.net.0.proj")]
    layers = [{"name": n, "shape": (64, 64), "salient_share": 0.5} for n in names]
    figure = plots.salient_share_bars(layers, 0.5)
    rows = list(figure.data[0].y)
    row_labels = [a.text for a in figure.layout.annotations if a.yref == "y"]
    assert row_labels == rows and len(set(rows)) == len(rows)
    assert figure.layout.yaxis.showticklabels is False and figure.layout.margin.l <= 20  # bars span the width
    assert all(a.x == 0 and a.xanchor == "left" and a.yanchor == "bottom" for a in figure.layout.annotations
               if a.yref == "y")
    # Title and notes stand above the room the top x axis's ticks and title take.
    notes = next(a for a in figure.layout.annotations if a.name == "notes")
    assert notes.yshift >= plots.SHARE_AXIS_PX and figure.layout.title.pad.b > notes.yshift
    assert figure.layout.margin.t >= figure.layout.title.pad.b + plots.SHARE_NOTE_PX


def test_fit_labels_keep_labels_distinct_and_short():
    labels = [f"text_encoder.encoder.layers.{i}.self_attn.{p}.* (2)" for i in range(2) for p in ("k_proj", "q_proj")]
    fitted = label_layout.fit_labels(labels, 40)
    assert len(set(fitted)) == len(fitted) and all(len(f) <= 40 for f in fitted)
    assert all(f.startswith("text_encoder") and f.endswith(".* (2)") for f in fitted)
    assert label_layout.fit_labels(["a.b", "fc1.weight"], 40) == ["a.b", "fc1.weight"]
