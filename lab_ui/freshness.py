"""Keeping what a section shows honest while the page changes around it: results marked stale when the controls
or a later run no longer match them, a second click on a running section's button answered, and an old error
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
from lab_ui.tabs import AuditSection, CompareTab, Progress, ResultPanels

# What the page shows instead of silence when a section's button is pressed again while it computes.
BUSY_MESSAGES = {"compare": "A comparison is already running: wait for it or press <strong>Cancel</strong>.",
                 "sweep": "A sweep is already running: wait for it or press <strong>Cancel</strong>.",
                 "audit": "An audit is already running: wait for it or press <strong>Cancel</strong>."}


def stale_html(message: str) -> str:
    return f'<div class="lab-stale" role="status">{message}</div>'


def wire_busy(button: gr.Button, cancel_button: gr.Button, event: gr.events.Dependency, progress: Progress,
              status: gr.Markdown, busy_message: str) -> None:
    """A press of ``button`` while its ``event`` runs shows ``busy_message`` (gradio drops the second press
    silently); a press that starts a computation removes an old error or stale mark from ``status`` first, so it
    is not left under the new progress. The flag lives in the page: it is set before any request leaves, so no race with the event."""
    busy = json.dumps(stale_html(busy_message))
    # The old message is taken out of the page, not written over through ``status``: an event with ``status``
    # among its inputs or outputs waits while the computation shows its progress there, and then blanked the
    # computation's own new status line (a Compare answered from the cache showed an empty status).
    clear = f"document.querySelectorAll('#{status.elem_id} .lab-error, #{status.elem_id} .lab-stale')"
    button.click(None, progress.running, [progress.running, progress.busy_note],
                 js=f"(running) => {{ if (running) return [true, {busy}]; {clear}.forEach(e => e.remove()); "
                    "return [true, '']; }",
                 api_visibility="private", queue=False, show_progress="hidden")
    done = "() => [false, '']"
    event.then(None, None, [progress.running, progress.busy_note], js=done, api_visibility="private",
               show_progress="hidden")
    # A cancelled event may never reach its .then.
    cancel_button.click(None, None, [progress.running, progress.busy_note], js=done, api_visibility="private",
                        queue=False, show_progress="hidden")


def wire_compare_freshness(tab: CompareTab, compare_event: gr.events.Dependency,
                           sweep_event: gr.events.Dependency) -> None:
    """Compare and Run sweep: busy notes and cleared errors; on a new model, the table, chart and sweep plot of
    the previous one are marked stale."""
    section = tab.sweep
    wire_busy(tab.compare_button, tab.cancel_button, compare_event, tab.progress, tab.status,
              BUSY_MESSAGES["compare"])
    wire_busy(section.run_button, section.cancel_button, sweep_event, section.progress, section.status,
              BUSY_MESSAGES["sweep"])

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
    wire_busy(section.run_button, section.cancel_button, audit_event, section.progress, section.status,
              BUSY_MESSAGES["audit"])

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
