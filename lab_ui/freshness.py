"""Keeping what a section shows honest while the page changes around it: results marked stale when the controls
or a later run no longer match them, a running section's button disabled and saying so, and an old error
cleared when a new computation starts (instead of its progress drawn over the red message).

Wired after every older event (see ``layout``), so their numbers in the API stay as they were. Every event here is
private: the busy bookkeeping runs in the browser only (no request), the stale marks read the sections' records
(``gr.State``)."""
from __future__ import annotations

import html
import json
from typing import Any

import gradio as gr

from lab_ui.handlers import run_identity
from lab_ui.tabs import AuditSection, CompareTab, ResultPanels

# What a section's button says while its computation runs (it cannot be pressed again meanwhile).
RUNNING_LABELS = {"compare": "Comparing… (Cancel stops it)", "sweep": "Sweeping… (Cancel stops it)",
                  "audit": "Auditing… (Cancel stops it)"}


def stale_html(message: str) -> str:
    return f'<div class="lab-stale" role="status">{message}</div>'


def start_js(button: gr.Button, status: gr.Markdown, running_label: str) -> str:
    """The ``js`` of the event ``button`` starts (it runs in the page before the request leaves, as part of the
    event, and passes the inputs on): ``button`` is disabled and says it runs (``running_label``; a second press
    used to be dropped in silence), and an old error or stale mark is taken out of ``status``, so it is not left
    under the new progress. A separate event cannot do this: the page runs it only after the computation."""
    button_css, status_css = f"#{button.elem_id}", f"#{status.elem_id}"
    return ("(...inputs) => { const b = document.querySelector(" + json.dumps(button_css) + "); "
            "if (b) { b.dataset.idleLabel = b.dataset.idleLabel || b.innerText; b.innerText = "
            + json.dumps(running_label) + "; b.disabled = true; } "
            "document.querySelectorAll(" + json.dumps(f"{status_css} .lab-error, {status_css} .lab-stale")
            + ").forEach(e => e.remove()); return inputs.length === 1 ? inputs[0] : inputs; }")


def wire_busy(button: gr.Button, cancel_button: gr.Button, event: gr.events.Dependency) -> None:
    """``button`` (disabled by :func:`start_js` while ``event`` runs) back to its own label once ``event`` ends
    or is cancelled. In the page alone, touching no component's value."""
    done = ("() => { const b = document.querySelector(" + json.dumps(f"#{button.elem_id}") + "); "
            "if (b && b.dataset.idleLabel) { b.innerText = b.dataset.idleLabel; } if (b) b.disabled = false; }")
    event.then(None, None, None, js=done, api_visibility="private", show_progress="hidden")
    # A cancelled event may never reach its .then.
    cancel_button.click(None, None, None, js=done, api_visibility="private", queue=False, show_progress="hidden")


def wire_compare_freshness(tab: CompareTab, compare_event: gr.events.Dependency,
                           sweep_event: gr.events.Dependency) -> None:
    """Compare and Run sweep: busy notes and cleared errors; on a new model, the table, chart and sweep plot of
    the previous one are marked stale."""
    section = tab.sweep
    wire_busy(tab.compare_button, tab.cancel_button, compare_event)
    wire_busy(section.run_button, section.cancel_button, sweep_event)

    def mark_stale(model: str, compared: dict | None, swept: dict | None):
        def note(shown: dict | None, what: str, button: str):
            if not shown or shown["model"] == model:
                return gr.skip()
            target = f", forget <code>{html.escape(shown['forget'])}</code>" if shown.get("forget") else ""
            return stale_html(f"<strong>The {what} below {'is' if what.endswith('plot') else 'are'} for "
                              f"{html.escape(shown['model'])}</strong>{target}, not {html.escape(model)}: press "
                              f"<strong>{button}</strong>.")

        return note(compared, "table and chart", "Compare"), note(swept, "sweep plot", "Run sweep")

    tab.model.input(mark_stale, [tab.model, tab.shown, section.shown], [tab.status, section.status],
                    api_visibility="private", show_progress="hidden")


def wire_audit_freshness(section: AuditSection, audit_event: gr.events.Dependency, panels: ResultPanels,
                         session: gr.State) -> None:
    """Audit: busy note and cleared error; the audit panels marked stale once the Lab shows another run (a new
    Run, a lesson's Try it, a shared link): the audit belongs to the run it was made on."""
    wire_busy(section.run_button, section.cancel_button, audit_event)

    def mark_stale(view: dict[str, Any] | None, audited: dict[str, Any] | None):
        shown = run_identity(view)
        if not audited or shown == audited:
            return gr.skip()
        seeds = audited["seeds"]
        which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
        now = f" The results above are now {html.escape(shown['method'])} on {html.escape(shown['model'])}." \
            if shown else ""
        return stale_html(f"<strong>The audit below is of an earlier run</strong>: {html.escape(audited['method'])} "
                          f"on {html.escape(audited['model'])}, forget <code>{html.escape(audited['forget'])}</code>, "
                          f"{which}.{now} Press <strong>Audit this run</strong> to audit the run shown.")

    panels.status.change(mark_stale, [session, section.audited], section.status, api_visibility="private",
                         show_progress="hidden")
