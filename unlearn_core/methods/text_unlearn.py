"""Text-to-Unlearn ("Prompting Forgetting: Unlearning in GANs via Textual Guidance", arXiv 2504.01218): a
generator forgets a concept named only in words, through a text-image model's embedding space."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..errors import UnlearningInputError
from ..hparams import hparam
from ..gan_loop import translate
from ..models.gan import to_pixels
from ..saliency import summed_gradients, topk_mask
from ..tasks.base import TaskAdapter
from ..tasks.gan import concept_prompts
from .base import MaskedUpdater, UnlearnResult, UnlearningMethod, Work, run_loop
from .registry import register
from .salun import saliency_artifacts

SALIENCY_BATCHES = 4


@dataclasses.dataclass
class TextToUnlearnConfig:
    """Text-to-Unlearn. For fresh latents z, with G_0 the frozen original, E_I / E_T the text-image model's
    unit image / text embeddings, t_c = E_T(concept prompt) and t_n = E_T(neutral prompt):

    - relevance w(z) = softmax(s [cos(E_I(G_0(z)), t_c), cos(E_I(G_0(z)), t_n,1), ..., cos(E_I(G_0(z)), t_n,k)])_c
      (s: the model's logit scale; t_n,j the neutral prompts, t_n their normalised mean): how much the
      original's image shows the concept rather than an alternative, read from the text alone;
    - direction loss (StyleGAN-NADA): L_dir = 1 - cos(E_I(G(z)) - E_I(G_0(z)), t_n - t_c), the image's move in
      embedding space aligned with the move from the concept's words to the neutral words;
    - concept loss: L_c = the same softmax for E_I(G(z)), the unlearned image's own relevance, which must fall;
    - preservation (the paper's LPIPS/identity regularisers on a frozen copy, here pixels and the text model's
      image features): L_keep = (1 - w) (||G(z) - G_0(z)||^2 / pixels + 1 - cos(E_I(G(z)), E_I(G_0(z)))).

    Loss per batch: mean_z [w (lambda_dir L_dir + lambda_c L_c) + lambda_keep L_keep]. Nothing but the concept's
    words and the neutral prompt tells the method what to forget: no classifier, no labelled images."""

    steps: int = hparam(300, "optimizer steps, each on a batch of fresh latents", low=1, high=100000)
    batch_size: int = hparam(64, "latents per step", low=2, high=4096)
    # Chosen on shapes-gan's tuning concepts diamond and cross (benchmarks/tuning/shapes-gan-text.md; the benchmark
    # reports triangle): 5e-4 moves too little (diamonds 29.9% -> 19.8%), 1e-3 erases (-> 4.6%) but drags
    # neighbours (circles 27.8% -> 20.8%).
    lr: float = hparam(1e-3, "Adam learning rate of the generator", low=0.0, high=1.0, low_inclusive=False)
    neutral_prompt: str = hparam("", "what the concept's images should become instead (t_n): prompts separated by "
                                 "commas, averaged; empty = the other concepts of its kind that the generator's text "
                                 "model knows (for a triangle: a circle, a square, ...)")
    direction_weight: float = hparam(1.0, "lambda_dir: weight of the CLIP-space direction loss", low=0.0, high=1e6)
    concept_weight: float = hparam(1.0, "lambda_c: weight of the unlearned images' own concept relevance",
                                   low=0.0, high=1e6)
    keep_weight: float = hparam(10.0, "lambda_keep: how strongly images without the concept stay as they were",
                                low=0.0, high=1e6)
    min_relevance: float = hparam(0.5, "images whose relevance w is below this are not moved at all (w set to 0): "
                                  "the direction loss's pull does not shrink with w, so a small w still drags "
                                  "images that do not show the concept", low=0.0, high=1.0)
    ratio: float = hparam(1.0, "share of generator weights that may move (1 = all; below 1, SalUn's mask: the "
                          "weights with the largest |gradient of this loss| at the original, summed over a few "
                          "batches)", low=0.0, high=1.0, low_inclusive=False)
    views: int = hparam(0, "randomly shifted copies (up to 2 pixels) of each image the text model sees, averaged: "
                        "a change must show in all of them, not be pixel noise that fools one view (0 = none)",
                        low=0, high=64)


def paired_image_features(encoder, before: torch.Tensor, after: torch.Tensor, views: int,
                          rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit image features of the original's and the unlearned generator's images of the same latents, each
    averaged over ``views`` random shifts that both images of a latent share (so their difference is the
    generator's change, not the shift's)."""
    if views == 0:
        return encoder.encode_image(before), encoder.encode_image(after)
    pairs = torch.cat([before, after], dim=1).repeat_interleave(views, dim=0)
    shifted = translate(pairs, 2, rng, fill=None)
    channels = before.shape[1]
    features = [encoder.encode_image(shifted[:, i * channels:(i + 1) * channels]) for i in range(2)]
    return tuple(F.normalize(f.view(len(before), views, -1).mean(1), dim=1) for f in features)


@register
class TextToUnlearn(UnlearningMethod):
    name, label = "text_unlearn", "Text-to-Unlearn"
    summary = ("Forget a concept named only in words: move the generator's images of it, in a text-image model's "
               "space, from the concept's words towards neutral words, and keep every other image as it was.")
    reference = "Prompting Forgetting: Unlearning in GANs via Textual Guidance, arXiv 2504.01218 (2025)."
    tasks = ("gan",)
    Config = TextToUnlearnConfig
    __doc__ = TextToUnlearnConfig.__doc__
    length_knob = "steps"
    needs = ("text_model",)

    def work(self, n_forget, n_retain):
        # per latent: G forward and backward, the frozen G forward, two image-encoder passes (one backward)
        return Work(4 * self.config.steps * self.config.batch_size)

    def unlearn(self, model, task: TaskAdapter, progress=None):
        self.check_task(task)
        guidance = getattr(task, "text", None)
        if guidance is None:
            raise UnlearningInputError(
                "Text-to-Unlearn reads the concept with a text-image model, and this generator has none beside it; "
                "use a generator that ships one (shapes-gan) or a method driven by a classifier (atu, ga)")
        cfg = self.config
        neutral_prompts = ([p.strip() for p in cfg.neutral_prompt.split(",") if p.strip()]
                           or list(guidance.alternatives))
        if not neutral_prompts:
            raise UnlearningInputError("give a neutral prompt: what the concept's images should become instead")
        said = {" ".join(p.lower().split()) for p in concept_prompts(guidance.concept)}
        if said & {" ".join(p.lower().split()) for p in neutral_prompts}:
            raise UnlearningInputError(f"the neutral prompts must not name the concept '{guidance.concept}' itself")
        encoder, original = guidance.model, task.original
        try:
            choices = guidance.choices(neutral_prompts)  # (1 + k, D): the concept first
        except UnlearningInputError as error:  # a word the text model does not know: say which knob it is
            raise UnlearningInputError(f"neutral prompt: {error}") from None
        concept, alternatives = choices[0], choices[1:]
        direction = F.normalize(F.normalize(alternatives.mean(0), dim=0) - concept, dim=0)
        rng = torch.Generator().manual_seed(task.seed)
        params = task.parameters_for_unlearning(model)
        optimizer = torch.optim.Adam(list(params.values()), lr=cfg.lr)

        def loss_at(step: int) -> torch.Tensor:
            # batch norm from running statistics, so G(z) equals G_0(z) at the start and each image depends
            # on its own z only (task.settle re-estimates the statistics after the run)
            model.eval()
            z = torch.randn(cfg.batch_size, task.z_dim, generator=rng)
            with torch.no_grad():
                before = original(z)
            after = model(z)
            before_features, after_features = paired_image_features(encoder, to_pixels(before), to_pixels(after),
                                                                    cfg.views, rng)
            before_features = before_features.detach()
            relevance = guidance.relevance(before_features, choices)
            relevance = torch.where(relevance >= cfg.min_relevance, relevance, torch.zeros_like(relevance))
            moved = after_features - before_features
            direction_loss = 1 - F.cosine_similarity(moved, direction.expand_as(moved), dim=1, eps=1e-8)
            concept_loss = guidance.relevance(after_features, choices)
            # pixels alone let a circle's few edge pixels turn it into a square cheaply; the text model's
            # features see the shape change (the paper's LPIPS plays this part)
            keep_loss = (after - before).pow(2).flatten(1).mean(1) + (1 - (after_features * before_features).sum(1))
            per_latent = (relevance * (cfg.direction_weight * direction_loss + cfg.concept_weight * concept_loss)
                          + cfg.keep_weight * (1 - relevance) * keep_loss)
            return per_latent.mean()

        artifacts, updater = {}, None
        if cfg.ratio < 1.0:
            # SalUn's Eq. (3) with this method's loss: |sum of its gradients at theta_0| over a few batches
            losses = (lambda step=step: loss_at(step) for step in range(SALIENCY_BATCHES))
            sums, _ = summed_gradients(model, params, losses, squared=False, where="Text-to-Unlearn (saliency)")
            scores = {name: s.abs() for name, s in sums.items()}
            mask = topk_mask(scores, cfg.ratio, "global")
            updater = MaskedUpdater(mask, params)
            artifacts = saliency_artifacts(scores, mask, "gradient")
        run_loop(model, task, cfg.steps, loss_at, optimizer, "Text-to-Unlearn", progress, updater)
        return UnlearnResult(model, artifacts)
