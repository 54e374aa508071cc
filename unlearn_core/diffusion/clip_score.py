"""CLIP-based judgement of generated images: the CLIP-score and zero-shot matching of images to prompts.

CLIP-score (Hessel et al., 2021, as torchmetrics computes it): 100 * max(cos(E_img(x), E_txt(p)), 0),
averaged over image-prompt pairs.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..models.hub import ClipBundle, autocast, features


class ClipScorer:
    """Embeds [0, 1] image tensors and prompts with a loaded CLIP (frozen, evaluation only)."""

    batch_size = 32

    def __init__(self, bundle: ClipBundle):
        self.bundle = bundle

    @torch.no_grad()
    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = [img.float().clamp(0, 1).cpu() for img in images[start:start + self.batch_size]]
            pixels = self.bundle.image_processor(images=chunk, do_rescale=False, return_tensors="pt")["pixel_values"]
            with autocast(self.bundle.device, self.bundle.dtype):
                emb = features(self.bundle.model.get_image_features(
                    pixel_values=pixels.to(self.bundle.device, self.bundle.dtype)))
            out.append(F.normalize(emb.float(), dim=-1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        tokens = self.bundle.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt")
        with autocast(self.bundle.device, self.bundle.dtype):
            emb = features(self.bundle.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.bundle.device),
                attention_mask=tokens["attention_mask"].to(self.bundle.device)))
        return F.normalize(emb.float(), dim=-1).cpu()

    def clip_score(self, images: torch.Tensor, prompts: Sequence[str]) -> float:
        """Mean CLIP-score of image i with prompt i."""
        cos = (self.image_embeddings(images) * self.text_embeddings(prompts)).sum(-1)
        return float(100.0 * cos.clamp_min(0).mean())

    def match(self, images: torch.Tensor, labels: Sequence[str]) -> torch.Tensor:
        """Index of the best-matching label text for every image (zero-shot classification)."""
        return (self.image_embeddings(images) @ self.text_embeddings(labels).T).argmax(dim=1)
