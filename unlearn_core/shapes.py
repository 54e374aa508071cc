"""The procedural captioned image set behind ``shapes-t2i``: coloured shapes on a dark or light background.

Every image is 16x16 RGB in [0, 1], drawn by supersampling (4x) a shape mask and averaging it down, with a
random size, position and a small colour jitter. Captions come from templates ("a red triangle on a dark
background", "a triangle, red", ...). Two kinds of concept can be named in a prompt and erased:

- objects: the shape (``SHAPES``);
- attributes: the colour (``COLOURS``) and the background (``BACKGROUNDS``).

Some captions say a shape or colour with a synonym phrase ("three sided shape", "crimson"), so the model
learns those words. The paraphrase prompts of :func:`paraphrase_prompts` are built from held-out *templates*
that never occur in training; they are used only to ask whether an erasure survives rewording.

Everything is a pure function of a seed (:func:`make_dataset`), so the set is regenerated, not stored.
"""
from __future__ import annotations

import dataclasses
import functools
import re

import torch
import torch.nn.functional as F

IMAGE_SIZE = 16
SUPERSAMPLE = 4
DATA_SEED = 0
DATASET_SIZE = 16_000

SHAPES = ("circle", "square", "triangle", "cross", "diamond")
COLOURS = ("red", "green", "blue", "yellow")
BACKGROUNDS = ("dark", "light")
NONE_SHAPE = len(SHAPES)  # the classifier's extra "no shape" class

RGB = {"red": (0.90, 0.15, 0.12), "green": (0.15, 0.75, 0.20), "blue": (0.18, 0.35, 0.95),
       "yellow": (0.95, 0.85, 0.10)}
BACKGROUND_GREY = {"dark": (0.06, 0.16), "light": (0.78, 0.90)}

# Synonym phrases seen in training (a share of captions use them instead of the word).
SHAPE_SYNONYMS = {"circle": ("disc", "round shape"), "square": ("box", "four sided shape"),
                  "triangle": ("three sided shape", "pyramid"), "cross": ("plus sign", "plus"),
                  "diamond": ("rhombus", "lozenge")}
COLOUR_SYNONYMS = {"red": ("crimson",), "green": ("emerald",), "blue": ("azure",), "yellow": ("golden",)}

TEMPLATES = ("a {colour} {shape} on a {background} background", "a {colour} {shape}", "a {shape}, {colour}",
             "{colour} {shape}", "a {background} picture of a {colour} {shape}",
             "a picture of a {colour} {shape} on {background}")
PARTIAL_TEMPLATES = ("a {shape} on a {background} background", "a {shape}", "a {colour} shape",
                     "something {colour} on a {background} background")
# Held out: never used for a training caption; words all occur in training captions.
PARAPHRASE_TEMPLATES = ("a picture of a {shape} that is {colour}", "{colour} {shape} on {background}")

EXTRA_WORDS = ("a", "an", "on", "of", "picture", "background", "shape", "something", "that", "is", "the")


def vocabulary() -> list[str]:
    """Every word a prompt may use (the tokenizer's vocabulary, without its special tokens)."""
    words: set[str] = set(EXTRA_WORDS) | set(SHAPES) | set(COLOURS) | set(BACKGROUNDS)
    for phrases in list(SHAPE_SYNONYMS.values()) + list(COLOUR_SYNONYMS.values()):
        for phrase in phrases:
            words.update(phrase.split())
    for template in TEMPLATES + PARTIAL_TEMPLATES + PARAPHRASE_TEMPLATES:
        words.update(w for w in re.findall(r"[a-z]+", re.sub(r"\{[a-z]+\}", " ", template)))
    return sorted(words)


@dataclasses.dataclass
class ShapesData:
    """Images (N, 3, 16, 16) in [0, 1], their captions, and the drawn labels (shape, colour, background
    indices; ``caption_shape``/``caption_colour`` are -1 where the caption leaves them out)."""

    images: torch.Tensor
    captions: list[str]
    shape: torch.Tensor
    colour: torch.Tensor
    background: torch.Tensor
    caption_shape: torch.Tensor
    caption_colour: torch.Tensor

    def __len__(self) -> int:
        return len(self.captions)


def _grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    size = IMAGE_SIZE * SUPERSAMPLE
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / SUPERSAMPLE  # pixel units
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    return xx.expand(n, size, size), yy.expand(n, size, size)


def shape_masks(shape: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Anti-aliased coverage (N, 16, 16) in [0, 1] of each shape centred at (cx, cy) with half-size ``radius``."""
    n = len(shape)
    xx, yy = _grid(n)
    dx, dy = xx - cx.view(n, 1, 1), yy - cy.view(n, 1, 1)
    r = radius.view(n, 1, 1)
    masks = {
        "circle": dx ** 2 + dy ** 2 <= r ** 2,
        "square": torch.maximum(dx.abs(), dy.abs()) <= 0.82 * r,
        "triangle": (dy <= 0.8 * r) & (dy >= -r) & (dx.abs() <= (dy + r) / 1.8 * 1.04),
        "cross": ((dx.abs() <= 0.32 * r) & (dy.abs() <= r)) | ((dy.abs() <= 0.32 * r) & (dx.abs() <= r)),
        "diamond": dx.abs() + dy.abs() <= 1.15 * r,
    }
    out = torch.zeros(n, *xx.shape[1:])
    for index, name in enumerate(SHAPES):
        chosen = shape == index
        out[chosen] = masks[name][chosen].float()
    return F.avg_pool2d(out.unsqueeze(1), SUPERSAMPLE).squeeze(1)


def render(shape: torch.Tensor, colour: torch.Tensor, background: torch.Tensor,
           generator: torch.Generator) -> torch.Tensor:
    """Images (N, 3, 16, 16) for index tensors; ``shape == NONE_SHAPE`` draws only the background."""
    n = len(shape)
    radius = 4.0 + 2.5 * torch.rand(n, generator=generator)
    margin = radius + 0.5
    cx = margin + torch.rand(n, generator=generator) * (IMAGE_SIZE - 2 * margin)
    cy = margin + torch.rand(n, generator=generator) * (IMAGE_SIZE - 2 * margin)
    grey = torch.empty(n)
    for index, name in enumerate(BACKGROUNDS):
        low, high = BACKGROUND_GREY[name]
        chosen = background == index
        grey[chosen] = low + (high - low) * torch.rand(int(chosen.sum()), generator=generator)
    base = torch.tensor([RGB[c] for c in COLOURS])[colour.clamp(0, len(COLOURS) - 1)]
    jitter = 0.06 * (torch.rand(n, 3, generator=generator) * 2 - 1)
    fg = (base + jitter).clamp(0, 1).view(n, 3, 1, 1)
    coverage = shape_masks(shape.clamp(0, len(SHAPES) - 1), cx, cy, radius).unsqueeze(1)
    coverage = coverage * (shape != NONE_SHAPE).float().view(n, 1, 1, 1)
    bg = grey.view(n, 1, 1, 1).expand(n, 3, IMAGE_SIZE, IMAGE_SIZE)
    return (coverage * fg + (1 - coverage) * bg).clamp(0, 1)


def _say(word: str, synonyms: dict, use_synonym: bool, generator: torch.Generator) -> str:
    if not use_synonym:
        return word
    options = synonyms[word]
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def caption_for(shape: int, colour: int, background: int, generator: torch.Generator,
                synonym_share: float = 0.15, partial_share: float = 0.12) -> tuple[str, int, int]:
    """One caption for a drawn image and which shape/colour it names (-1 when left out)."""
    u = torch.rand(4, generator=generator)
    shape_word = _say(SHAPES[shape], SHAPE_SYNONYMS, bool(u[0] < synonym_share), generator)
    colour_word = _say(COLOURS[colour], COLOUR_SYNONYMS, bool(u[1] < synonym_share), generator)
    if u[2] < partial_share:
        template = PARTIAL_TEMPLATES[int(torch.randint(len(PARTIAL_TEMPLATES), (1,), generator=generator))]
    else:
        template = TEMPLATES[int(torch.randint(len(TEMPLATES), (1,), generator=generator))]
    text = template.format(shape=shape_word, colour=colour_word, background=BACKGROUNDS[background])
    return (text, shape if "{shape}" in template else -1, colour if "{colour}" in template else -1)


@functools.lru_cache(maxsize=4)
def make_dataset(n: int = DATASET_SIZE, seed: int = DATA_SEED) -> ShapesData:
    """The seeded captioned set: a balanced random mix of shapes x colours x backgrounds. Cached; the
    returned tensors are shared, so callers must not modify them in place."""
    generator = torch.Generator().manual_seed(int(seed))
    combos = len(SHAPES) * len(COLOURS) * len(BACKGROUNDS)
    order = torch.randperm(n, generator=generator) % combos
    shape = order // (len(COLOURS) * len(BACKGROUNDS))
    colour = (order // len(BACKGROUNDS)) % len(COLOURS)
    background = order % len(BACKGROUNDS)
    images = render(shape, colour, background, generator)
    captions, cap_shape, cap_colour = [], [], []
    for s, c, b in zip(shape.tolist(), colour.tolist(), background.tolist()):
        text, named_shape, named_colour = caption_for(s, c, b, generator)
        captions.append(text)
        cap_shape.append(named_shape)
        cap_colour.append(named_colour)
    return ShapesData(images, captions, shape, colour, background, torch.tensor(cap_shape), torch.tensor(cap_colour))


# --- concepts and prompt lists ----------------------------------------------------------------------------

NAMES_BY_KIND = {"shape": SHAPES, "colour": COLOURS, "background": BACKGROUNDS}


@dataclasses.dataclass(frozen=True)
class Concept:
    """A concept a user names: its kind ("shape", "colour" or "background"), its index and its words."""

    kind: str
    index: int
    text: str

    @property
    def name(self) -> str:
        return NAMES_BY_KIND[self.kind][self.index]


def concept_table() -> dict[str, Concept]:
    """Words and synonym phrases -> concept."""
    table = {}
    for i, name in enumerate(SHAPES):
        table[name] = Concept("shape", i, name)
        for phrase in SHAPE_SYNONYMS[name]:
            table[phrase] = Concept("shape", i, phrase)
    for i, name in enumerate(COLOURS):
        table[name] = Concept("colour", i, name)
        for phrase in COLOUR_SYNONYMS[name]:
            table[phrase] = Concept("colour", i, phrase)
    for i, name in enumerate(BACKGROUNDS):
        table[name] = Concept("background", i, name)
    return table


def describe_prompt(prompt: str) -> dict[str, int]:
    """The shape/colour/background a prompt asks for (the longest matching phrases; absent kinds left out)."""
    words = " " + " ".join(re.findall(r"[a-z]+", prompt.lower())) + " "
    found: dict[str, int] = {}
    for phrase, concept in sorted(concept_table().items(), key=lambda kv: -len(kv[0])):
        if f" {phrase} " in words and concept.kind not in found:
            found[concept.kind] = concept.index
            words = words.replace(f" {phrase} ", " ")
    return found


def eval_prompts(kind: str, index: int, include: bool) -> list[str]:
    """The fixed evaluation prompts: every (shape, colour) pair in the canonical template, split by whether
    the prompt names concept (kind, index). Background alternates so both appear."""
    out = []
    for s, shape in enumerate(SHAPES):
        for c, colour in enumerate(COLOURS):
            background = BACKGROUNDS[(s + c) % 2]
            value = {"shape": s, "colour": c, "background": (s + c) % 2}[kind]
            if (value == index) == include:
                out.append(f"a {colour} {shape} on a {background} background")
    return out


def paraphrase_prompts(kind: str, index: int) -> list[str]:
    """Held-out rewordings that ask for the concept through a synonym and an unseen template."""
    out = []
    for s, shape in enumerate(SHAPES):
        for c, colour in enumerate(COLOURS):
            if (s if kind == "shape" else c) != index:
                continue
            shape_words = SHAPE_SYNONYMS[shape] if kind == "shape" else (shape,)
            colour_words = COLOUR_SYNONYMS[colour] if kind == "colour" else (colour,)
            for j, template in enumerate(PARAPHRASE_TEMPLATES):
                out.append(template.format(shape=shape_words[(c + j) % len(shape_words)],
                                           colour=colour_words[(s + j) % len(colour_words)],
                                           background=BACKGROUNDS[(s + c + j) % 2]))
    return out
