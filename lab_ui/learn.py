"""The Learn tab: the lessons of ``unlearn_core/learn.md`` with their maths, a small figure each (drawn at
start-up from the data shipped in ``unlearn_core/learn_figures.json``, see ``unlearn_core.lesson_data``) and a
"Try it" button that ``layout.wire_learn`` wires to load the lesson's configuration into the Lab."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import gradio as gr

from unlearn_core.lesson_data import load_lesson_data
from unlearn_core.plots.lessons import lesson_figure

from lab_ui.catalogue import methods_table

LEARN_PAGE = Path(__file__).resolve().parent.parent / "unlearn_core" / "learn.md"
# Maths in the Learn tab: $...$ inline, $$...$$ displayed (KaTeX, bundled with gradio: no request leaves).
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
LESSON = re.compile(r"^<!-- lesson(?: figure: (\S+))?(?: try: (\S+) (\S+) (\S+) (\d+))? -->$", re.M)


@dataclasses.dataclass
class Lesson:
    """One lesson of the Learn tab, and its "Try it" button with the configuration it loads into the Lab."""
    title: str
    button: gr.Button | None
    config: tuple[str, str, str, int] | None  # (model, forget, method, seed)


@dataclasses.dataclass
class LessonText:
    """One lesson as ``learn.md`` writes it: its markdown, its figure's name and its Try-it configuration."""
    markdown: str
    figure: str | None
    config: tuple[str, str, str, int] | None


def lessons(text: str) -> list[LessonText]:
    """The lessons of ``learn.md``, split at its lesson markers."""
    parts = LESSON.split(text)
    found = []
    for i in range(1, len(parts), 6):
        figure, model, forget, method, seed = parts[i:i + 5]
        found.append(LessonText(parts[i + 5].strip(), figure, (model, forget, method, int(seed)) if model else None))
    return found


def learn_tab(models: list[tuple[str, str]]) -> list[Lesson]:
    """Short lessons with rendered maths and a figure each; a lesson about a configuration has a "Try it"
    button (wired in ``layout``) that loads it into the Lab tab. Lessons about a model that is not here have
    no button."""
    available = {value for _, value in models}
    figure_data = load_lesson_data()
    found = []
    for i, lesson in enumerate(lessons(LEARN_PAGE.read_text(encoding="utf-8"))):
        title = next((line.lstrip("# ") for line in lesson.markdown.splitlines() if line.startswith("#")), "")
        with gr.Column(variant="panel", elem_classes=["lesson"]):
            gr.Markdown(lesson.markdown, latex_delimiters=LATEX, elem_id=f"lesson-{i}", elem_classes=["lesson-text"])
            if lesson.figure:
                gr.Plot(lesson_figure(lesson.figure, figure_data), label=title, show_label=False,
                        elem_id=f"lesson-plot-{i}", elem_classes=["lesson-plot"])
            button = None
            if lesson.config and lesson.config[0] in available:
                model, forget, method, seed = lesson.config
                button = gr.Button(f"Try it: {method} on {model}, forget {forget}, seed {seed}", size="sm",
                                   variant="secondary", elem_id=f"try-{i}", elem_classes=["try-it"])
        found.append(Lesson(title, button, lesson.config if button else None))
    gr.Markdown(methods_table())
    return found
