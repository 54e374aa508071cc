"""Zero-shot classification adapter for CLIP: forget an identity (or class) by name.

The label set is a list of names; each name becomes a text prompt ("a photo of {name}."), and an image is
classified by the prompt whose CLIP embedding is closest (cosine, scaled by CLIP's logit scale). The forget
set is the images of the forget name, the retain set the images of the other names. The loss is CLIP's
zero-shot cross-entropy of image against every name prompt, so SLUG's single gradient, SalUn's saliency and
the random-label and ascent baselines all act on the same objective the metrics measure.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ForgetRequest
from ..errors import UnlearningInputError, shown
from ..execution import sharded_rows
from ..models.hub import ClipBundle, autocast, check_prompt_lengths, features, only_these_train, train_in_float32
from ..user_data import normalise_name
from .base import TensorSetsTask, reduce_rows, wrong_labels

TOWERS = ("vision", "text", "both")
DEFAULT_TEMPLATE = "a photo of {}."


class ZeroShotTask(TensorSetsTask):
    """Forget one name of a CLIP zero-shot classifier.

    Metrics: ``zero_shot_forget`` (top-1 zero-shot accuracy on the forget name's images),
    ``zero_shot_forget_top5`` (with more than five names), ``ua`` = 100 - zero_shot_forget,
    ``zero_shot_retain`` (top-1 on the other names' images), and the mean cosine
    similarity of the forget images to their own prompt (``forget_cosine``; SLUG's similarity matrix entry).
    """

    kind = "zero-shot"

    # SLUG's step search calls the scores once per trial step: a fixed retain subset keeps that cheap.
    score_retain_samples = 256
    eval_batch_size = 64

    def __init__(self, bundle: ClipBundle, names: list[str], request: ForgetRequest, seed: int,
                 forget_images: list, retain_images: list, retain_names: list[str], tower: str = "both",
                 template: str = DEFAULT_TEMPLATE):
        super().__init__(seed)
        forget_name = self.match_name(request, names)
        keys = [normalise_name(n) for n in names]
        if tower not in TOWERS:
            raise UnlearningInputError(f"tower must be one of {', '.join(TOWERS)}; got {shown(tower)}")
        if "{}" not in template:
            raise UnlearningInputError(f"the prompt template must contain '{{}}' for the name; got {shown(template)}")
        if not forget_images:
            raise UnlearningInputError(f"no images of '{request.value}' were given (the forget set is empty)")
        if not retain_images:
            raise UnlearningInputError("no images of other names were given (the retain set is empty)")
        self.bundle, self.names, self.request, self.tower, self.template = bundle, list(names), request, tower, template
        self.device, self.dtype = bundle.device, bundle.dtype
        self.forget_index = keys.index(normalise_name(forget_name))
        self.forget_name = forget_name
        self.prompts = [template.format(n) for n in names]
        check_prompt_lengths(bundle.tokenizer, self.prompts)
        tokens = bundle.tokenizer(self.prompts, padding=True, return_tensors="pt")
        self.input_ids, self.attention_mask = tokens["input_ids"], tokens["attention_mask"]
        self.x_forget = self.pixels(forget_images)
        self.y_forget = torch.full((len(forget_images),), self.forget_index, dtype=torch.long)
        self.x_retain = self.pixels(retain_images)
        self.y_retain = torch.tensor([keys.index(normalise_name(n)) for n in retain_names], dtype=torch.long)
        if (self.y_retain == self.forget_index).any():
            raise UnlearningInputError(f"the retain images include the forget name '{self.forget_name}'")
        pick = torch.randperm(len(self.x_retain), generator=torch.Generator().manual_seed(self.seed))
        self._score_retain = pick[:self.score_retain_samples]

    @staticmethod
    def match_name(request: ForgetRequest, names: list[str]) -> str:
        """The entry of ``names`` a ``concept:NAME`` request means (case, spaces and underscores ignored)."""
        if request.kind != "concept":
            raise UnlearningInputError(f"CLIP forgets a name: use 'concept:NAME' with NAME one of "
                                       f"{', '.join(names)}; got '{request}'")
        keys = [normalise_name(n) for n in names]
        wanted = normalise_name(request.value)
        if wanted not in keys:
            raise UnlearningInputError(f"'{request.value}' is not in the names list; valid: {', '.join(names)}")
        return names[keys.index(wanted)]

    def pixels(self, images: list) -> torch.Tensor:
        """Preprocessed pixel values, kept on the CPU in the model's dtype (moved per batch)."""
        values = self.bundle.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return values.to(self.dtype)

    # --- model calls ----------------------------------------------------------------------------------
    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)

    def image_embeddings(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            out = features(model.get_image_features(pixel_values=self._to_device(x)))
        return F.normalize(out.float(), dim=-1)

    def text_embeddings(self, model: nn.Module) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            out = features(model.get_text_features(input_ids=self._to_device(self.input_ids),
                                                   attention_mask=self._to_device(self.attention_mask)))
        return F.normalize(out.float(), dim=-1)

    def logits(self, model: nn.Module, x: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        text = self.text_embeddings(model) if text is None else text
        return model.logit_scale.detach().float().exp() * self.image_embeddings(model, x) @ text.T

    # --- losses -------------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch, reduction: str = "mean") -> torch.Tensor:
        """Zero-shot cross-entropy of each image against every name prompt (CLIP's image-to-text loss)."""
        x, y = batch
        return self._cross_entropy(model, x, y, reduction)

    def _cross_entropy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        text = self.text_embeddings(model)  # every process embeds the names; the images are shared out
        return reduce_rows(lambda x, y: F.cross_entropy(self.logits(model, x, text), self._to_device(y),
                                                        reduction="none"), reduction, x, y)

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator,
                     reference: nn.Module | None = None, reduction: str = "mean",
                     target: str = "random") -> torch.Tensor:
        """Cross-entropy towards a random other name (SalUn's random labels over the names list), or the next
        name in the list (``target="next"``)."""
        x, y = batch
        wrong = wrong_labels(y, len(self.names), generator, target)
        return self._cross_entropy(model, x, wrong, reduction)

    # --- evaluation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def predictions(self, model: nn.Module, x: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` name indices per image and each image's cosine to every prompt (both on the CPU)."""
        text = self.text_embeddings(model)

        def cosines_of(rows: torch.Tensor) -> torch.Tensor:
            return torch.cat([(self.image_embeddings(model, rows[start:start + self.eval_batch_size]) @ text.T).cpu()
                              for start in range(0, len(rows), self.eval_batch_size)])

        cosines = sharded_rows(cosines_of, x)  # a data-parallel run shares the images out
        return cosines.topk(min(k, len(self.names)), dim=1).indices, cosines

    def _accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int = 1) -> float:
        top, _ = self.predictions(model, x, k)
        return float(100.0 * (top == y[:, None]).any(dim=1).float().mean())

    def forget_score(self, model: nn.Module) -> float:
        """Top-1 zero-shot accuracy on the forget name's images, in percent."""
        return self._accuracy(model, self.x_forget, self.y_forget)

    def retain_score(self, model: nn.Module) -> float:
        """Top-1 zero-shot accuracy on a fixed subset of the other names' images, in percent."""
        return self._accuracy(model, self.x_retain[self._score_retain], self.y_retain[self._score_retain])

    def forget_target(self, model: nn.Module) -> float:
        """SLUG's criterion: the forget name is no longer recognised at all (accuracy 0)."""
        return self.target_forget_score if self.target_forget_score is not None else 0.0

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        top, cos = self.predictions(model, self.x_forget, 5)
        forget_acc = float(100.0 * (top[:, 0] == self.y_forget).float().mean())
        metrics = {
            "ua": 100.0 - forget_acc,
            "zero_shot_forget": forget_acc,
            "zero_shot_retain": self._accuracy(model, self.x_retain, self.y_retain),
            "forget_cosine": float(cos[:, self.forget_index].mean()),
        }
        if len(self.names) > 5:  # SLUG's top-5 criterion, meaningful only with more than five names
            metrics["zero_shot_forget_top5"] = float(100.0 * (top == self.y_forget[:, None]).any(dim=1).float().mean())
        model.train(was_training)
        return metrics

    # --- parameters ---------------------------------------------------------------------------------
    def _in_tower(self, name: str) -> bool:
        towers = ("vision", "text") if self.tower == "both" else (self.tower,)
        prefixes = {"vision": ("vision_model.", "visual_projection."), "text": ("text_model.", "text_projection.")}
        return any(name.startswith(p) for t in towers for p in prefixes[t])

    def parameters_for_unlearning(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """Every weight of the chosen tower(s); only these get gradients, in float32 under half precision."""
        params = {n: p for n, p in model.named_parameters() if self._in_tower(n)}
        return only_these_train(model, train_in_float32(params))

    def layer_weights(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """SLUG's candidates: the attention and MLP matrices of every encoder layer and the projection of the
        chosen tower(s) (no biases, norms, embeddings or positions)."""
        return {n: p for n, p in model.named_parameters() if self._in_tower(n) and p.ndim >= 2
                and ("encoder.layers." in n or n.endswith("projection.weight"))}
