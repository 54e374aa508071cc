"""Text-to-image diffusion adapter: erase a concept named in prompts from a :class:`TextToImage` model.

The adapter is model-agnostic: it is built from

- forget items: images in the UNet's space (pixels or latents) with captions that contain the concept;
- retain items: images with captions that do not;
- ``remapped``: for every forget caption, one or more neighbouring captions (the concept replaced by another
  concept of the same kind) that SalUn's relabelled target uses;
- an evaluator (:class:`ConceptEvaluator`) that says whether an image shows a concept and whether it shows
  what a prompt asks for (for ``shapes-t2i`` the shipped concept classifier; Stable Diffusion brings its own);
- :class:`EvalPrompts`: fixed prompt lists with the concept, without it, and paraphrased.

Batches are ``(x, idx)``: model-space images and indices into the adapter's pre-tokenised captions (forget
items first), so losses look up token ids and SalUn looks up the remapped ones.

Metrics on samples drawn from fixed seeds (the same noise for every model):

- ``erasure`` = % of samples for prompts naming the concept in which the evaluator still finds it;
- ``preservation`` = % of samples for prompts without it that show what the prompt asks for;
- ``fid`` = Frechet distance between the evaluator's features of those samples and of real retain images;
- ``erasure_paraphrase`` = erasure over held-out rewordings of the concept.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from ..data import ForgetRequest
from ..diffusion.training import squared_error
from ..errors import UnlearningInputError, shown
from ..metrics import frechet_distance
from .base import TensorSetsTask, check_relabel_target, inversion_seeds, reduce_rows


class ConceptEvaluator(Protocol):
    """What a text-diffusion task needs to judge generated images (all take [0, 1] images)."""

    def shows(self, images01: torch.Tensor, concept: str) -> torch.Tensor:
        """Bool per image: the concept is visible."""

    def matches(self, images01: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """Bool per image: the image shows what its prompt asks for."""

    def features(self, images01: torch.Tensor) -> np.ndarray:
        """Feature vectors for the Frechet distance."""


@dataclasses.dataclass
class EvalPrompts:
    """Fixed prompt lists for the metrics and the grids; each prompt is sampled with ``seeds_*`` seeds."""

    forget: list[str]
    retain: list[str]
    paraphrase: list[str] = dataclasses.field(default_factory=list)
    seeds_forget: int = 6
    seeds_retain: int = 4
    seeds_paraphrase: int = 2
    # SLUG's step search scores many candidate models: a smaller set.
    score_seeds_forget: int = 4
    score_seeds_retain: int = 1


class TextDiffusionTask(TensorSetsTask):
    """Erase a concept from a text-to-image model (ESD, SalUn, SFR-on, SLUG, GA/RL through the shared verbs)."""

    kind = "text-diffusion"
    # DDIM steps of the cheap scores (None: the evaluation's own; fewer steps make SLUG's search judge a
    # different sampler than the report does).
    score_steps: int | None = None
    # The erasure a good unlearning reaches (SLUG's step search aims below it): a model that never learned the
    # concept would still show it now and then by accident.
    erasure_target = 5.0

    def __init__(self, model_name: str, concept: str, tokenizer, x_forget: torch.Tensor, forget_captions: list[str],
                 x_retain: torch.Tensor, retain_captions: list[str], remapped: list[list[str]],
                 evaluator: ConceptEvaluator, prompts: EvalPrompts, seed: int, guidance: float, steps: int,
                 real_retain01: torch.Tensor | None = None, original: nn.Module | None = None):
        super().__init__(seed)
        if len(x_forget) == 0:
            raise UnlearningInputError(f"no training caption names the concept {shown(concept)}")
        if len(remapped) != len(forget_captions) or any(len(r) == 0 for r in remapped):
            raise ValueError("every forget caption needs at least one remapped caption")
        self.model_name, self.concept, self.tokenizer = model_name, concept, tokenizer
        self.original = original  # the read-only base model: the "before" panel of before/after grids
        self.request = ForgetRequest("concept", concept)
        self.evaluator, self.prompts = evaluator, prompts
        self.guidance, self.steps = guidance, int(steps)
        self.x_forget, self.x_retain = x_forget, x_retain
        self.forget_captions, self.retain_captions = list(forget_captions), list(retain_captions)
        n_f, n_r = len(x_forget), len(x_retain)
        self.y_forget = torch.arange(n_f)
        self.y_retain = n_f + torch.arange(n_r)
        self.ids = tokenizer.encode(self.forget_captions + self.retain_captions)
        width = max(len(r) for r in remapped)
        # (n_f, width, L): alternatives cycled to a common width so one random column picks one uniformly enough.
        self.remapped_ids = torch.stack([tokenizer.encode([r[k % len(r)] for k in range(width)]) for r in remapped])
        self.null = tokenizer.encode([""], allow_empty=True)[0]
        self._real01 = real_retain01
        self._real_features = None

    # --- losses -------------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch, reduction: str = "mean") -> torch.Tensor:
        """Noise-prediction MSE at a uniform random timestep, conditioned on the items' captions."""
        x, idx = batch
        x_t, t, noise = model.noisy(x)  # the draws of ``model.noise_loss``, made for the whole batch
        return reduce_rows(lambda x_t, t, noise, ids: squared_error(self.predict_noise(model, x_t, t, ids), noise,
                                                                     "none"), reduction, x_t, t, noise, self.ids[idx])

    def predict_noise(self, model: nn.Module, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return model.predict_noise(x_t, t, cond)

    def remap(self, idx: torch.Tensor, generator: torch.Generator, target: str = "random") -> torch.Tensor:
        """Token ids of a neighbouring caption for each forget index (the concept replaced): a random one, or
        always the first neighbour (``target="next"``)."""
        check_relabel_target(target)
        if target == "next":
            return self.remapped_ids[idx, 0]
        pick = torch.randint(0, self.remapped_ids.shape[1], (len(idx),), generator=generator)
        return self.remapped_ids[idx, pick]

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator,
                     reference: nn.Module | None = None, reduction: str = "mean",
                     target: str = "random") -> torch.Tensor:
        """SalUn for text-to-image: MSE(eps_theta(x_t, t, c_f), stopgrad eps(x_t, t, c')) with c' the forget
        caption with the concept replaced by a neighbouring concept; the target comes from ``reference`` when
        given, else from the model itself (no gradient)."""
        x, idx = batch
        x_t, t, _ = model.noisy(x, generator)
        remapped = self.remap(idx, generator, target)

        def per_row(x_t, t, remapped, ids):
            with torch.no_grad():
                wrong = self.predict_noise(reference if reference is not None else model, x_t, t, remapped)
            return squared_error(self.predict_noise(model, x_t, t, ids), wrong, "none")

        return reduce_rows(per_row, reduction, x_t, t, remapped, self.ids[idx])

    # --- ESD hooks ------------------------------------------------------------------------------------
    def frozen_copy(self, model: nn.Module) -> nn.Module:
        return copy.deepcopy(model).eval().requires_grad_(False)

    def concept_inputs(self, model: nn.Module, batch_size: int, generator: torch.Generator):
        """(x_t, t, concept prompt ids, null prompt ids) for ESD: forget items noised to a random timestep."""
        idx = torch.randint(0, len(self.x_forget), (batch_size,), generator=generator)
        x_t, t, _ = model.noisy(self.x_forget[idx], generator)
        return x_t, t, self.ids[idx], self.null.expand(batch_size, -1)

    def parameter_group(self, model: nn.Module, group: str) -> dict[str, nn.Parameter]:
        """ESD's parameter sets: 'all' (text encoder + UNet), 'esd-x' (the UNet's cross-attention, attn2) or
        'esd-u' (every UNet weight except cross-attention; the text encoder stays frozen)."""
        params = self.parameters_for_unlearning(model)
        unet = {n: p for n, p in params.items() if n.startswith("unet.")}
        if group == "all":
            return params
        if group == "esd-x":
            chosen = {n: p for n, p in unet.items() if ".attn2." in n}
        elif group == "esd-u":
            chosen = {n: p for n, p in unet.items() if ".attn2." not in n}
        else:
            raise UnlearningInputError(f"parameter set must be one of all, esd-x, esd-u; got {shown(group)}")
        if not chosen:
            raise UnlearningInputError(f"parameter set '{group}' is empty for this model (no cross-attention found)")
        return chosen

    # --- concept inversion hooks (unlearn_core.audit.inversion) -------------------------------------------
    inversion_score_name = "erasure"

    def concept_token_ids(self) -> torch.Tensor:
        """The concept's token ids as they appear inside a prompt (no start, end or padding tokens). The start
        and end ids are read from the empty prompt, so any tokenizer of the wrapper's interface works."""
        empty = self.tokenizer.encode([""], allow_empty=True)[0]
        bos, eos = int(empty[0]), int(empty[1])
        row = self.tokenizer.encode([self.concept])[0].tolist()
        body = row[1:] if row and row[0] == bos else row
        return torch.tensor(body[:body.index(eos)] if eos in body else body, dtype=torch.long)

    def inversion_data(self, original: nn.Module, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images of the concept drawn by ``original`` for the forget prompts (cycled), in the UNet's
        space, with the token ids of the prompt each was drawn for. The seeds are not the forget score's, so the
        attack never fits the very noise it is then judged on."""
        prompts = [self.prompts.forget[i % len(self.prompts.forget)] for i in range(n)]
        ids = self.tokenizer.encode(prompts)
        seeds = inversion_seeds(seed, n)
        latents = original.sample_latents(ids, seeds, self.guidance, self.steps)
        return latents.detach(), ids

    def inversion_loss(self, model: nn.Module, x0: torch.Tensor, cond: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
        return model.noise_loss(x0, cond, generator=generator)

    def _token_embedding(self, model: nn.Module) -> nn.Embedding:
        return model.text_encoder.get_input_embeddings()

    def concept_embedding(self, model: nn.Module) -> torch.Tensor:
        """The mean input embedding of the concept's tokens (what the attack must NOT start from)."""
        return self._token_embedding(model).weight[self.concept_token_ids()].float().mean(0).detach()

    def inversion_start(self, model: nn.Module) -> torch.Tensor:
        """The learned token's starting point: the mean of the whole vocabulary's input embeddings, a neutral
        token that names nothing (starting from the concept's own embedding would hand the attack the answer)."""
        return self._token_embedding(model).weight.float().mean(0).detach().clone()

    @contextlib.contextmanager
    def learned_concept(self, model: nn.Module, vector: torch.Tensor) -> Iterator[None]:
        """Within the block, every prompt that names the concept is read with ``vector`` as ONE token in place
        of the concept's tokens (a forward hook on the text encoder's token embedding; the weights are not
        touched): "a red triangle" becomes "a red <v>", as the placeholder token of textual inversion."""
        span = self.concept_token_ids()

        def swap(module, args, output):
            return replace_token_span(args[0], output, span, vector)

        handle = self._token_embedding(model).register_forward_hook(swap)
        try:
            yield
        finally:
            handle.remove()

    # --- parameters -----------------------------------------------------------------------------------
    def parameters_for_unlearning(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The text encoder's and the UNet's parameters (never a vae's)."""
        return model.trainable_parameters()

    def layer_weights(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """SLUG's candidates over BOTH the text encoder and the UNet: linear and conv weights (no biases, norms,
        token/position embeddings)."""
        return {n: p for n, p in self.parameters_for_unlearning(model).items()
                if p.ndim >= 2 and "embedding" not in n and "norm" not in n}

    # --- sampling and scores --------------------------------------------------------------------------
    def sample(self, model: nn.Module, prompts: Sequence[str], seeds: Sequence[int], guidance: float | None = None,
               steps: int | None = None) -> torch.Tensor:
        """[0, 1] images for (prompt, seed) pairs."""
        return model.sample(list(prompts), list(seeds), self.guidance if guidance is None else guidance,
                            self.steps if steps is None else steps)

    @staticmethod
    def _expand(prompts: Sequence[str], per_prompt: int, offset: int) -> tuple[list[str], list[int]]:
        """Each prompt with seeds offset .. offset + per_prompt - 1 (the same seeds for every prompt)."""
        return [p for p in prompts for _ in range(per_prompt)], [offset + i for _ in prompts for i in range(per_prompt)]

    def _erasure(self, model, prompts, per_prompt, offset, steps=None) -> float:
        if not prompts:
            return float("nan")
        texts, seeds = self._expand(prompts, per_prompt, offset)
        return float(100.0 * self.evaluator.shows(self.sample(model, texts, seeds, steps=steps), self.concept).float().mean())

    def _preservation(self, model, prompts, per_prompt, offset, steps=None):
        texts, seeds = self._expand(prompts, per_prompt, offset)
        images = self.sample(model, texts, seeds, steps=steps)
        return float(100.0 * self.evaluator.matches(images, texts).float().mean()), images

    def forget_score(self, model: nn.Module) -> float:
        """Erasure % on a small fixed set: how often the concept still shows."""
        return self._erasure(model, self.prompts.forget, self.prompts.score_seeds_forget, 50_000, self.score_steps)

    def retain_score(self, model: nn.Module) -> float:
        """Preservation % on a small fixed set."""
        return self._preservation(model, self.prompts.retain, self.prompts.score_seeds_retain, 60_000,
                                  self.score_steps)[0]

    def forget_target(self, model: nn.Module) -> float:
        return self.target_forget_score if self.target_forget_score is not None else self.erasure_target

    def _real(self) -> np.ndarray | None:
        if self._real_features is None and self._real01 is not None:
            self._real_features = self.evaluator.features(self._real01)
        return self._real_features

    def evaluation_settings(self) -> dict:
        p = self.prompts
        return {"forget_prompts": len(p.forget), "forget_seeds_per_prompt": p.seeds_forget,
                "forget_samples": len(p.forget) * p.seeds_forget,
                "retain_prompts": len(p.retain), "retain_seeds_per_prompt": p.seeds_retain,
                "retain_samples": len(p.retain) * p.seeds_retain,
                "paraphrase_samples": len(p.paraphrase) * p.seeds_paraphrase,
                "ddim_steps": self.steps, "guidance": self.guidance, "sampler": "ddim (eta 0, fixed seeds)"}

    def evaluation_key(self) -> tuple:
        """The concept, the prompt lists and the sampler settings: the samples come from fixed seeds, so the
        metrics do not depend on the run's seed."""
        p = self.prompts
        return (str(self.request), tuple(p.forget), tuple(p.retain), tuple(p.paraphrase), p.seeds_forget,
                p.seeds_retain, p.seeds_paraphrase, self.guidance, self.steps, self._real01 is not None)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        p = self.prompts
        preservation, images = self._preservation(model, p.retain, p.seeds_retain, 20_000)
        out = {"erasure": self._erasure(model, p.forget, p.seeds_forget, 0), "preservation": preservation}
        real = self._real()
        if real is not None:
            out["fid"] = frechet_distance(self.evaluator.features(images), real)
        if p.paraphrase:
            out["erasure_paraphrase"] = self._erasure(model, p.paraphrase, p.seeds_paraphrase, 40_000)
        return out

    # --- images ---------------------------------------------------------------------------------------
    def grid_prompts(self, rows: int = 10) -> tuple[list[str], list[bool]]:
        """The fixed prompt list of the before/after grids: prompts naming the concept, paraphrases, then
        prompts without it; with a flag per row for the ones that ask for the concept."""
        forget = self.prompts.forget[:4] + self.prompts.paraphrase[:2]
        retain = self.prompts.retain[::max(1, len(self.prompts.retain) // max(rows - len(forget), 1))]
        retain = retain[:max(rows - len(forget), 0)]
        return forget + retain, [True] * len(forget) + [False] * len(retain)

    def before_after_grid(self, outcome, path: Path, seeds: list[int] | None = None) -> Path:
        """Rows = the fixed prompt list, columns = seeds: the original model and the unlearned one."""
        from ..diffusion.grids import render_prompt_grid

        seeds = seeds or [1000 * int(outcome.report.get("seed", 0)) + i for i in range(6)]
        prompts, marked = self.grid_prompts()
        panels = [("before: original", self.prompt_grid(self.original, prompts, seeds)),
                  (f"after: {outcome.report.get('method', 'unlearned')}", self.prompt_grid(outcome.model, prompts, seeds))]
        title = (f"{self.model_name}: erase '{self.concept}', guidance {self.guidance:g}, {self.steps} DDIM steps; "
                 "red rows ask for the concept")
        return render_prompt_grid(panels, prompts, seeds, marked, Path(path), title=title)

    def prompt_grid(self, model: nn.Module, prompts: Sequence[str], seeds: Sequence[int]) -> torch.Tensor:
        """(prompts, seeds, C, H, W) images in [0, 1]; column j uses seed j in every row and every model."""
        texts, all_seeds = [p for p in prompts for _ in seeds], [s for _ in prompts for s in seeds]
        images = self.sample(model, texts, all_seeds)
        return images.view(len(prompts), len(seeds), *images.shape[1:])


def replace_token_span(ids: torch.Tensor, embeddings: torch.Tensor, span: torch.Tensor,
                       vector: torch.Tensor) -> torch.Tensor:
    """Token embeddings (N, L, D) with every occurrence of the token sequence ``span`` in ``ids`` (N, L)
    replaced by the single embedding ``vector``; the rest of the row moves left and the row is refilled with
    its last token's embedding (its padding), so positions after the concept are those of a one-token word."""
    k, length = len(span), ids.shape[1]
    vector = vector.to(embeddings.dtype).view(1, -1)
    rows = []
    for row_ids, row in zip(ids, embeddings):
        hits = (row_ids.unfold(0, k, 1) == span.to(row_ids.device)).all(1).nonzero().flatten().tolist() \
            if length >= k else []
        pieces, end = [], 0
        for start in hits:
            if start < end:  # overlapping occurrence
                continue
            pieces += [row[end:start], vector]
            end = start + k
        if not pieces:
            rows.append(row)
            continue
        pieces.append(row[end:])
        joined = torch.cat(pieces)
        rows.append(torch.cat([joined, row[-1:].expand(length - len(joined), -1)]))
    return torch.stack(rows)


# ------------------------------------------------------------------------------------------------------
# shapes-t2i: data, evaluator and prompts from unlearn_core.shapes

class ShapesEvaluator:
    """The shipped concept classifier as a :class:`ConceptEvaluator`."""

    def __init__(self, classifier):
        self.classifier = classifier

    def shows(self, images01: torch.Tensor, concept: str) -> torch.Tensor:
        from .. import shapes as S

        c = S.concept_table()[concept]
        return self.classifier.predict(images01)[c.kind] == c.index

    def matches(self, images01: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """The prompted shape and colour (those the prompt names) are both what the classifier sees."""
        from .. import shapes as S

        predicted = self.classifier.predict(images01)
        ok = torch.ones(len(images01), dtype=torch.bool)
        for i, prompt in enumerate(prompts):
            for kind, index in S.describe_prompt(prompt).items():
                if kind in ("shape", "colour") and int(predicted[kind][i]) != index:
                    ok[i] = False
        return ok

    @torch.no_grad()
    def features(self, images01: torch.Tensor) -> np.ndarray:
        return self.classifier.features(images01).double().numpy()


def resolve_concept(words: str, tokenizer, model_name: str = "shapes-t2i") -> str:
    """The shapes concept a user named (a shape, colour or background word, or a synonym phrase)."""
    from .. import shapes as S

    text = " ".join(tokenizer.split(words))
    if not text:
        raise UnlearningInputError("concept must name at least one word, e.g. concept:triangle")
    tokenizer.encode([text])  # unknown words / over-long: the tokenizer's own message
    table = S.concept_table()
    if text not in table:
        raise UnlearningInputError(
            f"'{words}' is not a concept {model_name} can erase; name one shape ({', '.join(S.SHAPES)}), colour "
            f"({', '.join(S.COLOURS)}) or background ({', '.join(S.BACKGROUNDS)}), or a synonym "
            f"({', '.join(k for k in table if k not in S.SHAPES + S.COLOURS + S.BACKGROUNDS)})")
    return text
