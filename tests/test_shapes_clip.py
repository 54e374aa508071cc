"""shapes-clip (unlearn_core/models/shapes_clip.py) and its shipped weights in assets/shapes-clip: zero-shot
accuracy on fresh images, gradients w.r.t. the pixels (what a CLIP-space direction loss needs), clear errors
for unknown words and missing files, and the save/load round trip."""
from __future__ import annotations

import json

import pytest
import torch

from unlearn_core import shapes
from unlearn_core.assets import ASSETS
from unlearn_core.errors import UnlearningInputError
from unlearn_core.models.shapes_clip import (CLIPRecipe, ShapesCLIP, ShapesCLIPConfig, clip_loss, held_out_images,
                                             load_shapes_clip, train_clip, zero_shot_quality)

CLIP_DIR = ASSETS / "shapes-clip"


@pytest.fixture(scope="module")
def model() -> ShapesCLIP:
    return load_shapes_clip(CLIP_DIR)


def test_shipped_model_classifies_fresh_shapes_zero_shot(model):
    # a seed other than the card's, so the test does not just re-read the shipped numbers
    quality = zero_shot_quality(model, n=300, seed=7)
    assert quality["shape"] >= 90, quality
    assert quality["colour"] >= 90 and quality["background"] >= 90, quality
    record = json.loads((CLIP_DIR / "recipe.json").read_text())
    assert record["quality"]["shape"] >= 95 and record["quality"]["colour"] >= 95
    assert record["quality"]["background"] >= 95


def test_text_direction_points_from_one_shape_to_another(model):
    """The NADA-style use: the direction "triangle" - "circle" in text space agrees with the direction between
    images of the two shapes (same colours and backgrounds)."""
    generator = torch.Generator().manual_seed(3)
    colour = torch.randint(0, 4, (40,), generator=generator)
    background = torch.randint(0, 2, (40,), generator=generator)
    with torch.no_grad():
        circles = model.encode_image(_render(0, colour, background, generator))
        triangles = model.encode_image(_render(2, colour, background, generator))
        text = model.encode_text(["triangle", "circle"])
    text_direction = torch.nn.functional.normalize(text[0] - text[1], dim=0)
    image_directions = torch.nn.functional.normalize(triangles - circles, dim=1)
    agreement = image_directions @ text_direction  # the shipped model gives 0.97 on average
    assert float(agreement.mean()) > 0.8 and float(agreement.min()) > 0.5


def _render(shape: int, colour: torch.Tensor, background: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    from unlearn_core.shapes import render

    return render(torch.full_like(colour, shape), colour, background, generator)


def test_encode_image_is_differentiable_in_the_pixels(model):
    images, _ = held_out_images(4, seed=1)
    images.requires_grad_(True)
    features = model.encode_image(images)
    assert features.shape == (4, model.config.embed_dim)
    assert torch.allclose(features.norm(dim=1), torch.ones(4), atol=1e-5)
    loss = -(features @ model.encode_text(["a triangle"]).T).sum()
    loss.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_unknown_word_names_the_word_and_the_vocabulary(model):
    with pytest.raises(UnlearningInputError, match="purple") as error:
        model.encode_text(["a purple triangle"])
    assert "vocabulary" in str(error.value) and "triangle" in str(error.value)


def test_save_load_round_trip_gives_identical_features(tmp_path):
    torch.manual_seed(0)
    model = ShapesCLIP(ShapesCLIPConfig(image_channels=(8, 16, 16), embed_dim=16)).eval()
    model.save_pretrained(tmp_path)
    loaded = load_shapes_clip(tmp_path)
    images, _ = held_out_images(6, seed=2)
    prompts = ["a red triangle on a dark background", "golden box"]
    with torch.no_grad():
        assert torch.equal(loaded.encode_image(images), model.encode_image(images))
        assert torch.equal(loaded.encode_text(prompts), model.encode_text(prompts))
        assert torch.equal(loaded(images, prompts), model(images, prompts))


def test_missing_folder_or_weights_give_a_clear_error(tmp_path):
    with pytest.raises(UnlearningInputError, match="no shapes-clip model.*model.safetensors"):
        load_shapes_clip(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UnlearningInputError, match="missing model.safetensors, tokenizer/vocab.json"):
        load_shapes_clip(tmp_path)


def test_clip_loss_is_symmetric_cross_entropy():
    logits = torch.tensor([[5.0, 0.0], [1.0, 3.0]])
    expected = (torch.nn.functional.cross_entropy(logits, torch.arange(2))
                + torch.nn.functional.cross_entropy(logits.T, torch.arange(2))) / 2
    assert torch.allclose(clip_loss(logits), expected)
    # with only the diagonal as positives the multi-positive form is CLIP's
    assert torch.allclose(clip_loss(logits, torch.eye(2, dtype=torch.bool)), expected)


def test_training_resumes_from_its_checkpoint(tmp_path):
    """A run that finds a checkpoint of the same recipe and seed continues from it and ends where an
    uninterrupted run ends (the checkpoint of step 2 is left behind by the first run, as by a killed one)."""
    recipe = CLIPRecipe(steps=4, batch_size=8, warmup=1, image_channels=(8, 8, 8), checkpoint_every=2,
                        dataset_size=200)
    whole, resumed_at = train_clip(0, recipe, checkpoint_dir=tmp_path)
    assert resumed_at == 0 and (tmp_path / "checkpoint.pt").exists()
    again, resumed_at = train_clip(0, recipe, checkpoint_dir=tmp_path)
    assert resumed_at == 2
    for (name, a), b in zip(whole.state_dict().items(), again.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_reads_the_shapes_gans_rough_samples_mostly_as_the_classifier_does():
    """Text-to-Unlearn relies on the image encoder reading generated shapes; trained with blur, shifts, contrast
    and noise it names the shape the concept classifier names on 67% of the shapes GAN's confidently classified
    samples (trained without them: 61%); the rest are mostly circle/diamond blobs."""
    from unlearn_core.models.gan import generate, latents, load_gan
    from unlearn_core.models.shapes_t2i import ConceptClassifier

    generator, _ = load_gan(ASSETS / "shapes-gan")
    classifier = ConceptClassifier.from_pretrained(ASSETS / "shapes-t2i" / "classifier")
    model = load_shapes_clip(ASSETS / "shapes-clip")
    with torch.no_grad():
        images = generate(generator, latents(500, 3, generator.config.z_dim))
        probabilities = classifier(images)["shape"].softmax(1)
        names = list(shapes.SHAPES)
        text = torch.nn.functional.normalize(torch.stack([model.encode_text([f"a {n}", n]).mean(0) for n in names]), dim=1)
        read = (model.encode_image(images) @ text.T).argmax(1)
    confident = probabilities.max(1).values >= 0.9
    agreement = (read[confident] == probabilities.argmax(1)[confident]).float().mean()
    assert agreement >= 0.6, float(agreement)
