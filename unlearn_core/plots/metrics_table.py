"""The metrics table of a run (original / unlearned / Retrain, the gap to Retrain coloured by whether the method
beats doing nothing) and the summary paragraph under it, with every metric's words and one-line explanation."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from ..metrics import fid_worsening
from ..spread import beats_line
from .common import runs_of, spread_cell, summary_of

# Metric rows of the report, in display order: key -> the words a person reads (``FAMILY_METRIC_LABELS`` has
# a family's own wording where it differs).
METRIC_LABELS: dict[str, str] = {
    "ua": "UA: unlearning accuracy (100 - forget acc.)",
    "ra": "RA: retain accuracy",
    "ta": "TA: test accuracy",
    "mia": "MIA-efficacy (confidence)",
    "mia_entropy": "MIA-efficacy (entropy feature)",
    "forget_class_ta": "Test accuracy on the forget class",
    "forget_acc": "Generated forget-class samples classified as it",
    "retain_acc": "Generated retained-class samples classified correctly",
    "erasure": "Concept still drawn (% of concept-prompt images)",
    "erasure_paraphrase": "Concept still drawn for reworded prompts (%)",
    "preservation": "Other prompts drawn as asked (%)",
    "fid": "FID on retained classes (lower is better)",
    "zero_shot_forget": "CLIP zero-shot accuracy on the forget name's images",
    "zero_shot_forget_top5": "CLIP zero-shot top-5 accuracy on the forget name's images",
    "zero_shot_retain": "CLIP zero-shot accuracy on the other names' images",
    "forget_cosine": "Mean cosine of forget images to their name's prompt",
    "forget_alignment": "Guidance towards the concept kept (% of the original's)",
    "retain_alignment": "Guidance towards retain prompts kept (% of the original's)",
    "forget_change": "Pixel change of concept-prompt images (x100, same seeds)",
    "retain_change": "Pixel change of retain-prompt images (x100, same seeds)",
    "forget_clip_score": "CLIP-score of concept-prompt images",
    "retain_clip_score": "CLIP-score of retain-prompt images",
}
FAMILY_METRIC_LABELS: dict[str, dict[str, str]] = {
    "class-diffusion": {"ua": "UA: generated forget-class samples not classified as it (%)"},
    "text-diffusion": {"fid": "FID of other-prompt images vs real ones (lower is better)"},
    "gan": {"ua": "UA: samples not drawn as the forget class (%)",
            "forget_acc": "Samples drawn as the forget class (%)",
            "retain_acc": "Smallest retained class's share (% of the original's)",
            "fid": "Frechet distance of retained samples to real images (lower is better)",
            "confident": "Samples recognised with confidence >= 0.9 (%)",
            "worst_retained_class": "Retained class that lost most"},
}
# One line per metric: what it measures and which way is good (the table's last column).
METRIC_EXPLANATIONS: dict[str, str] = {
    "ua": "100 minus the accuracy on the forget set; Retrain shows how high it should be.",
    "ra": "Accuracy on the data kept for training; should stay near Retrain's.",
    "ta": "Accuracy on unseen test data; should stay near Retrain's.",
    "mia": "Share of forget samples a membership attack (confidence) calls unseen; Retrain is the target.",
    "mia_entropy": "The same membership attack on the prediction entropy instead of the confidence.",
    "forget_class_ta": "Accuracy on unseen test images of the forgotten class; Retrain shows the target.",
    "forget_acc": "Share of images generated for the forgotten class that a classifier still recognises.",
    "retain_acc": "Share of images generated for the other classes that a classifier recognises; keep it high.",
    "erasure": "Share of images for prompts naming the concept in which a classifier still finds it; 0 = erased.",
    "erasure_paraphrase": "The same for held-out rewordings of the concept: does the erasure generalise?",
    "preservation": "Share of images for prompts without the concept that show what they ask for; keep it high.",
    "fid": "Frechet distance of generated images of the retained classes to real ones; a rise = worse images.",
    "zero_shot_forget": "How often CLIP still names the forgotten images correctly; lower = forgotten.",
    "zero_shot_forget_top5": "The same, counting a hit when the name is among CLIP's five best guesses.",
    "zero_shot_retain": "How often CLIP names the other images correctly; keep it high.",
    "forget_cosine": "How close the forgotten images' embeddings stay to their name's prompt; lower = forgotten.",
    "forget_alignment": "How much of the original's pull towards the concept remains; 0 = none, below 0 = away.",
    "retain_alignment": "How much of the original's pull towards other prompts remains; keep it near 100.",
    "forget_change": "How much the concept-prompt images changed from the original's; larger = more changed.",
    "retain_change": "How much the other prompts' images changed from the original's; keep it small.",
    "forget_clip_score": "How well concept-prompt images match their prompt per CLIP; lower = erased.",
    "retain_clip_score": "How well the other prompts' images match their prompt per CLIP; keep it high.",
}
FAMILY_METRIC_EXPLANATIONS: dict[str, dict[str, str]] = {
    "class-diffusion": {"ua": "100 minus the share of forget-class images a classifier still recognises."},
    "text-diffusion": {"fid": "Frechet distance of images for prompts without the concept to real images; "
                              "a rise = worse images."},
    "gan": {"ua": "100 minus the share of samples (fixed latents) the judging classifier calls the forgotten class "
                  "(digits-cnn for digits, the shapes classifier for shapes).",
            "forget_acc": "Share of samples (fixed latents) the judging classifier calls the forgotten class.",
            "retain_acc": "Each retained class's share of samples against the original's; the smallest is shown. "
                          "100 = no class lost ground (mode coverage).",
            "confident": "Share of samples the classifier recognises with confidence >= 0.9: clear images.",
            "worst_retained_class": "Information, not a score: the retained class the generator draws least often "
                                    "against the original, and how many fewer samples it gets."},
}
AVG_GAP_EXPLANATION = "Mean distance to Retrain (the gold standard) over UA, RA, TA and MIA; lower is better."
GENERATION_GAP_LABEL = "Gap to Retrain (UA, retained-class acc., FID worsening)"
GENERATION_GAP_EXPLANATION = ("Mean of the UA and retained-class accuracy distances to Retrain and the FID's "
                              "worsening in % (capped at 100); lower is better.")
FID_WORSENING_FLAG_PERCENT = 20.0  # the summary warns when the FID worsens more than this over the original's
COLUMNS = ("Original", "Unlearned", "Retrain")
GAP_COLUMN = "Gap to Retrain"
EXPLANATION_COLUMN = "What it means"


def report_family(report: Mapping[str, Any]) -> str:
    """The model family a report comes from ("classification", "class-diffusion", "text-diffusion", "gan" or
    "zero-shot"): the report's own ``family`` if it has one, else read from the metrics it holds."""
    if report.get("family"):
        return str(report["family"])
    keys = {key for block in report.get("metrics", {}).values() for key in block}
    if keys & {"erasure", "preservation", "forget_alignment", "forget_clip_score"}:
        return "text-diffusion"
    if keys & {"zero_shot_forget", "zero_shot_retain"}:
        return "zero-shot"
    if keys & {"confident", "worst_retained_class"}:
        return "gan"
    if keys & {"forget_acc", "retain_acc"}:
        return "class-diffusion"
    return "classification"


def metric_label(key: str, family: str = "classification") -> str:
    """The words a person reads for a metric key (the family's own wording where it differs)."""
    label = FAMILY_METRIC_LABELS.get(family, {}).get(key) or METRIC_LABELS.get(key)
    return label if label else key.replace("_", " ").capitalize()


def metric_explanation(key: str, family: str = "classification") -> str:
    """One line on what a metric measures and which way is good."""
    return FAMILY_METRIC_EXPLANATIONS.get(family, {}).get(key) or METRIC_EXPLANATIONS.get(key, "")

def lost_most_cell(blocks: Sequence[Mapping[str, Any]]) -> str | None:
    """The "retained class that lost most" of one model over its seeds' metric blocks, in words: the class and
    how many fewer samples it gets than from the original (``retain_acc`` is its share in % of the original's)."""
    if not blocks or any("worst_retained_class" not in block for block in blocks):
        return None
    classes = [int(block["worst_retained_class"]) for block in blocks]
    drops = [100.0 - float(block.get("retain_acc", 100.0)) for block in blocks]
    if max(drops) <= 0:
        return "none lost samples"
    if len(set(classes)) > 1:
        return f"class {' / '.join(map(str, classes))} (by seed)"
    mean = "" if len(drops) == 1 else ", mean over seeds"
    return f"class {classes[0]} ({sum(drops) / len(drops):.1f}% fewer samples{mean})"


# Rows that name something rather than measure it: a sentence in each model's column, no gap to Retrain and no
# colour (a class number has no distance to Retrain's).
INFORMATION_CELLS = {"worst_retained_class": lost_most_cell}


def metrics_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Rows = metrics present in the report (in the user's words), columns = Original / Unlearned / Retrain,
    the gap and a one-line explanation of the metric. A result repeated over seeds shows "mean ± std" (sample
    std over the seeds) in every cell."""
    first = runs_of(report)[0]
    summary = summary_of(report)
    spreads = summary["metrics"]
    gaps = summary.get("metric_gaps", {})
    family = report_family(first)
    metrics = first.get("metrics", {})
    keys = [k for k in METRIC_LABELS if any(k in metrics.get(c.lower(), {}) for c in COLUMNS)]
    keys += sorted({k for block in metrics.values() for k in block} - set(keys))
    rows = []
    for key in keys:
        row: dict[str, Any] = {"Metric": metric_label(key, family)}
        for column in COLUMNS:
            if key in INFORMATION_CELLS:
                blocks = [run.get("metrics", {}).get(column.lower()) for run in runs_of(report)]
                row[column] = None if None in blocks else INFORMATION_CELLS[key](blocks)
            else:
                row[column] = spread_cell(spreads.get(column.lower(), {}).get(key))
        measured = key in gaps and key not in INFORMATION_CELLS
        row[GAP_COLUMN] = spread_cell(gaps[key]["unlearned"]) if measured else None
        row[EXPLANATION_COLUMN] = metric_explanation(key, family)
        rows.append(row)
    if "gap" in summary:
        label, explanation = (("Avg. Gap to Retrain (UA, RA, TA, MIA)", AVG_GAP_EXPLANATION)
                              if summary["gap_name"] == "avg_gap" else
                              (GENERATION_GAP_LABEL, GENERATION_GAP_EXPLANATION))
        rows.append({"Metric": label, "Original": spread_cell(summary["gap_original"]),
                     "Unlearned": spread_cell(summary["gap"]), "Retrain": 0.0,
                     GAP_COLUMN: spread_cell(summary["gap"]), EXPLANATION_COLUMN: explanation})
    return pd.DataFrame(rows, columns=["Metric", *COLUMNS, GAP_COLUMN, EXPLANATION_COLUMN])


def comparison_strength(comparison: Mapping[str, Any]) -> float:
    """How clearly a paired comparison with doing nothing (``{k, n, difference}``) is decided, in [0, 1]: the
    mean difference against its 95% half-interval (at the interval's edge 0.5, twice as far 1). One seed has no
    spread to judge by: a pale 0.25, whatever the difference."""
    difference = comparison["difference"]
    if difference["ci95"] is None:
        return 0.25
    half = (difference["ci95"][1] - difference["ci95"][0]) / 2
    if half <= 0:
        return 1.0 if difference["mean"] != 0 else 0.0
    return min(abs(difference["mean"]) / half, 2.0) / 2


def comparison_colour(comparison: Mapping[str, Any] | None) -> str:
    """A gap cell's colour: green only when the method is closer to Retrain than doing nothing on the mean and
    in most seeds, red when it is farther on the mean, amber when the seeds disagree; the stronger the colour,
    the clearer the difference against its spread (:func:`comparison_strength`)."""
    if comparison is None or comparison["difference"]["mean"] == 0:
        return ""
    mean, wins, n = comparison["difference"]["mean"], comparison["k"], comparison["n"]
    if mean < 0 and 2 * wins > n:
        base = (46, 160, 67)
    elif mean > 0:
        base = (214, 39, 40)
    else:
        base = (230, 150, 30)
    strength = 0.35 + 0.65 * comparison_strength(comparison)
    red, green, blue = (int(255 + (c - 255) * strength) for c in base)
    text = "white" if strength > 0.6 else "#222"
    return f"background-color: rgb({red}, {green}, {blue}); color: {text}; font-weight: bold"


def styled_metrics(report: Mapping[str, Any]):
    """The metrics table with each gap-to-Retrain cell coloured by whether the method beats doing nothing on
    that metric (:func:`comparison_colour`), the Avg. Gap row by the run's verdict."""
    frame = metrics_frame(report)
    summary = summary_of(report)
    gaps = summary.get("metric_gaps", {})
    first = runs_of(report)[0]
    family = report_family(first)
    by_label = {metric_label(key, family): comparison for key, comparison in gaps.items()
                if key not in INFORMATION_CELLS}
    colours = [comparison_colour(by_label.get(label)) for label in frame["Metric"]]
    if "beats_doing_nothing" in summary:
        colours[-1] = comparison_colour(summary["beats_doing_nothing"])
    styler = frame.style.format(precision=2, na_rep="-")
    return styler.apply(lambda column: colours, subset=[GAP_COLUMN])


def doing_nothing_verdict(gap: float, original_gap: float) -> str:
    """Whether a method's Avg. Gap beats doing nothing (the untouched original's gap to Retrain)."""
    if gap < original_gap:
        return f"beats doing nothing by {original_gap - gap:.2f} points"
    return (f"does not beat doing nothing: the untouched original is {gap - original_gap:.2f} points "
            "closer to Retrain")


def fid_warning(report: Mapping[str, Any], limit_percent: float = FID_WORSENING_FLAG_PERCENT) -> str | None:
    """A warning when the unlearned model's FID is worse than the original's by more than ``limit_percent``."""
    metrics = report.get("metrics", {})
    original, unlearned = metrics.get("original", {}).get("fid"), metrics.get("unlearned", {}).get("fid")
    if original is None or unlearned is None:
        return None
    worse = fid_worsening(float(unlearned), float(original))
    if worse <= limit_percent:
        return None
    kept = "prompts without the concept" if report_family(report) == "text-diffusion" else "retained classes"
    return (f"**Warning: FID is {worse:.0f}% worse than the original's** ({original:.1f} -> {unlearned:.1f}): "
            f"the images of the {kept} lost quality (flagged above {limit_percent:.0f}%).")


def _seeds_text(seeds: Sequence[Any]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} ({len(seeds)} runs)"


def summary_markdown(report: Mapping[str, Any]) -> str:
    """One paragraph under the table: gap (and doing nothing's), in how many seeds the method beats doing
    nothing, KL to Retrain, an FID warning, run times; over several seeds each number is a mean."""
    runs = runs_of(report)
    first = runs[0]
    summary = summary_of(report)
    several = len(runs) > 1
    parts = [f"**{first.get('method', '?')}** on **{first.get('model', '?')}**, "
             f"forget `{first.get('forget', '?')}`, {_seeds_text([r.get('seed', '?') for r in runs])}."]
    if "gap" in summary:
        name = "Avg. Gap to Retrain" if summary["gap_name"] == "avg_gap" else GENERATION_GAP_LABEL
        gap, nothing = summary["gap"], summary["gap_original"]
        if several:
            parts.append(f"{name}: **{gap['mean']:.2f} ± {gap['std']:.2f}** (doing nothing: {nothing['mean']:.2f} ± "
                         f"{nothing['std']:.2f}; mean ± std over the seeds, lower is better): it "
                         f"**{beats_line(summary)}**.")
        else:
            parts.append(f"{name}: **{gap['mean']:.2f}** (doing nothing: {nothing['mean']:.2f}; lower is better): it "
                         f"**{doing_nothing_verdict(gap['mean'], nothing['mean'])}**. One seed: run several to see "
                         "the spread (Repeat over N seeds).")
    elif "avg_gap" in first:
        parts.append(f"Avg. Gap to Retrain: **{first['avg_gap']:.2f}** points; lower is better.")
    if "kl_to_retrain" in first and not several:
        parts.append(f"KL(Retrain || unlearned) on the forget set: {first['kl_to_retrain']:.3f}.")
    for run in runs:
        warning = fid_warning(run)
        if warning:
            parts.append(warning if not several else f"Seed {run.get('seed')}: {warning}")
    runtime = summary.get("runtime_s", {}).get("unlearn")
    if runtime is not None:
        text = f"Unlearning took {runtime['mean']:.1f} s" + (" per seed on average" if several else "")
        retrain = first.get("runtime_s", {}).get("retrain")
        if retrain is not None and not several:
            text += f"; Retrain took {retrain:.1f} s"
        parts.append(text + ".")
    if "metrics" in first and "retrain" not in first["metrics"]:
        parts.append("No Retrain reference in this run, so there is no gap to show.")
    if several:
        parts.append(f"The panels below show seed {first.get('seed')}'s run.")
    return " ".join(parts)
