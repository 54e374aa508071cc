"""The audits' figures and verdict lines (unlearn_core/audit): membership inference, relearning, concept
inversion, built from the plain data the attacks return."""
from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go

from .common import ACCENT, FRONT_COLOUR, message_figure

AUDIT_MODELS = (("unlearned", "unlearned", ACCENT), ("original", "original (doing nothing)", "#333333"),
                ("retrain", "Retrain", "#2ca02c"))


def _audit_layout(fig: go.Figure, title: str, subtitle: str, xaxis: dict, yaxis: dict) -> go.Figure:
    fig.update_layout(title={"text": f"{title}<br><sup>{subtitle}</sup>"}, xaxis=xaxis, yaxis=yaxis, height=420,
                      margin={"l": 60, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.22},
                      plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def ulira_roc_figure(ulira: Mapping[str, Any]) -> go.Figure:
    """ROC of the per-example attack (forget samples vs never-seen ones) on the unlearned model, the original
    and Retrain, with each AUC in its legend entry and the chance diagonal."""
    roc = ulira.get("roc") or {}
    if not roc:
        return message_figure("No membership-inference result to plot.")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                             line={"dash": "dot", "color": "#999"}, hoverinfo="skip"))
    for key, label, colour in AUDIT_MODELS:
        curve = roc.get(key)
        if not curve:
            continue
        auc = ulira.get("auc") if key == "unlearned" else (ulira.get(key) or {}).get("auc")
        name = f"{label}: AUC {auc:.3f}" if auc is not None else label
        fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=name,
                                 line={"color": colour, "width": 3 if key == "unlearned" else 2},
                                 hovertemplate=f"{label}<br>FPR %{{x:.3f}}<br>TPR %{{y:.3f}}<extra></extra>"))
    subtitle = (f"{ulira.get('members', '?')} forgotten vs {ulira.get('non_members', '?')} never-seen samples, "
                f"{ulira.get('shadows', '?')} shadows")
    return _audit_layout(fig, "Per-example membership inference (U-LiRA)", subtitle,
                         {"title": "false positive rate (never-seen called member)", "range": [0, 1]},
                         {"title": "true positive rate (forgotten sample caught)", "range": [0, 1.02]})


def relearn_figure(relearn: Mapping[str, Any]) -> go.Figure:
    """The measure against attack steps from the unlearned model, the original and Retrain; the dashed line is
    the recovery threshold. A class: the forget score (recovered = half the original's). A random forget set:
    the loss on the forget samples the attacker does not hold, since every model still classifies them right
    (recovered = halfway from Retrain's loss down to the original's)."""
    curves = [(key, label, colour, relearn[key]["curve"]) for key, label, colour in AUDIT_MODELS
              if relearn.get(key) and relearn[key].get("curve")]
    if not curves:
        return message_figure("No relearning result to plot.")
    by_loss = relearn.get("measure") == "loss"
    fig = go.Figure()
    for key, label, colour, curve in curves:
        steps = relearn[key].get("steps_to_recover")
        if by_loss and key == "original":
            suffix = ": the remembered level"
        else:
            suffix = f": recovers at step {steps}" if steps is not None else f": not within {relearn.get('steps')} steps"
        fig.add_trace(go.Scatter(x=[p[0] for p in curve], y=[p[1] for p in curve], mode="lines+markers",
                                 name=label + suffix, line={"color": colour, "width": 3 if key == "unlearned" else 2},
                                 hovertemplate=f"{label}<br>step %{{x}}<br>%{{y:.3g}}<extra></extra>"))
    threshold = relearn.get("threshold")
    values = [p[1] for _, _, _, c in curves for p in c] + ([threshold] if threshold is not None else [])
    if threshold is not None:
        text = f"recovered: loss ≤ {threshold:.3g}" if by_loss else f"recovered: {threshold:.1f}"
        fig.add_hline(y=threshold, line={"dash": "dash", "color": FRONT_COLOUR}, annotation_text=text,
                      annotation_position="top left")
    last = max(p[0] for _, _, _, c in curves for p in c)
    samples = relearn.get("samples", "?")
    if by_loss:
        title = "Relearning attack: loss on the random forget set"
        subtitle = (f"fine-tuning on {samples} forget samples; the loss on the {relearn.get('measured_on', '?')} "
                    "it does not hold<br>(all models classify them right: memory shows as a loss near the "
                    "original's, far below Retrain's)")
        y_range = [0, max(values) * 1.15 or 1.0]
    else:
        title = "Relearning attack"
        subtitle = f"fine-tuning on {samples} forget samples; Retrain learns the target from scratch"
        y_range = [-2, max(105.0, max(values) + 5)]
    fig = _audit_layout(fig, title, subtitle, {"title": "attack step", "range": [-0.5, last + 0.5]},
                        {"title": relearn.get("score_name", "forget score (%)"), "range": y_range})
    if by_loss:
        fig.update_layout(margin={"t": 100})
    return fig


def inversion_figure(inversion: Mapping[str, Any]) -> go.Figure:
    """The forget score without and with the learned embedding: the unlearned model, the original (the positive
    control: the attack must find the concept there) and Retrain where one exists."""
    groups = [("unlearned", "unlearned", inversion)] + [
        (key, label, inversion[key]) for key, label, _ in AUDIT_MODELS[1:] if inversion.get(key)]
    if "erasure" not in inversion:
        return message_figure("No concept-inversion result to plot.")
    labels = [label for _, label, _ in groups]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[g["erasure"] for _, _, g in groups], name="plain prompt",
                         marker_color="#9ecae1", text=[f"{g['erasure']:.0f}%" for _, _, g in groups],
                         textposition="outside"))
    fig.add_trace(go.Bar(x=labels, y=[g["erasure_under_attack"] for _, _, g in groups], name="learned embedding",
                         marker_color=FRONT_COLOUR, text=[f"{g['erasure_under_attack']:.0f}%" for _, _, g in groups],
                         textposition="outside"))
    fig.update_layout(barmode="group")
    score = inversion.get("score_name", "samples showing the concept")
    return _audit_layout(fig, "Concept inversion", "a new embedding learned against each frozen model",
                         {"title": "model"}, {"title": f"{score} (%)", "range": [0, 115]})


def audit_summary_markdown(audit: Mapping[str, Any]) -> str:
    """One line per attack with its verdict numbers, read against the original and Retrain."""
    lines = []
    if "ulira" in audit:
        u = audit["ulira"]
        original, retrain = u.get("original") or {}, u.get("retrain") or {}
        lines.append(f"**Membership (U-LiRA):** AUC {u['auc']:.3f} (original {original.get('auc', float('nan')):.3f}, "
                     f"Retrain {retrain.get('auc', float('nan')):.3f}); TPR at 1% FPR {u['tpr_at_1pct_fpr']:.1f}%. "
                     f"The population attack's MIA-efficacy: {u.get('mia_efficacy', {}).get('unlearned', float('nan')):.1f}.")
    if "relearn" in audit:
        r = audit["relearn"]

        def steps(part: Mapping[str, Any] | None) -> str:
            if part is None:
                return "not shipped"
            recovered = part["steps_to_recover"]
            return f"step {recovered}" if recovered is not None else f"not within {r['steps']} steps"

        if r.get("measure") == "loss":
            lines.append(f"**Relearning (random forget set, measured by its loss):** accuracy cannot tell here, as "
                         "every model classifies most of a random forget set right; memory shows as a low loss. On "
                         f"the {r.get('measured_on', '?')} forget samples the attacker does not hold the loss starts at "
                         f"{r['unlearned']['curve'][0][1]:.3g} for the unlearned model (original "
                         f"{r['original_score']:.3g}, never seen {r['unseen_loss']:.3g}) and falls "
                         f"{r.get('recover_share', 50):g}% of the way to the original's at {steps(r['unlearned'])}; "
                         f"Retrain's at {steps(r.get('retrain'))}.")
        else:
            lines.append(f"**Relearning:** the unlearned model recovers half the original's score at "
                         f"{steps(r['unlearned'])}; Retrain at {steps(r.get('retrain'))}.")
    if "inversion" in audit:
        i = audit["inversion"]
        control = i.get("original") or {}
        lines.append(f"**Concept inversion:** {i['erasure']:.0f}% of samples show it plainly, "
                     f"{i['erasure_under_attack']:.0f}% with the learned embedding (control on the original: "
                     f"{control.get('erasure_under_attack', float('nan')):.0f}%).")
    seconds = audit.get("seconds") or {}
    if seconds:
        lines.append("Audit time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".")
    return "\n\n".join(lines) or "No audit yet."
