"""The unconditional digits GAN (unlearn_core/models/gan.py, unlearn_core/gan_training.py) and its shipped
weights: output shape and range, deterministic sampling, save/load, resumable training and the quality of
assets/digits-gan and assets/digits-gan-retrain-class3 judged by the shipped digits-cnn."""
from __future__ import annotations

import pytest
import torch

from unlearn_core.assets import ASSETS
from unlearn_core.gan_training import GANRecipe, gan_quality, train_gan
from unlearn_core.models.classifier import load_classifier
from unlearn_core.models.gan import (Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, generate,
                                     latents, load_gan, read_gan_record, save_gan)

GAN_DIR = ASSETS / "digits-gan"
RETRAIN_DIR = ASSETS / "digits-gan-retrain-class3"
SAMPLES = 500  # enough for the shares to be within a couple of points of the card's 1000-sample numbers
TINY = GANRecipe(steps=6, batch_size=8, z_dim=8, generator_channels=(16, 8, 4), discriminator_channels=(4, 8, 16),
                 bn_calibration_batches=2, checkpoint_every=3)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier(ASSETS / "digits-cnn")


def test_generator_output_shape_and_range():
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(z_dim=32))
    z = latents(7, seed=1, z_dim=32)
    raw = generator.eval()(z)
    assert raw.shape == (7, 1, 16, 16) and raw.min() >= -1 and raw.max() <= 1
    images = generate(generator, z)
    assert images.shape == (7, 1, 16, 16) and images.min() >= 0 and images.max() <= 1
    assert Discriminator(DiscriminatorConfig())(raw).shape == (7,)


def test_same_seed_same_latents_and_images():
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig())
    z_dim = generator.config.z_dim
    assert torch.equal(latents(16, 5, z_dim), latents(16, 5, z_dim))
    assert not torch.equal(latents(16, 5, z_dim), latents(16, 6, z_dim))
    generator.train()  # generate switches to eval for the call and restores the mode
    first = generate(generator, latents(16, 5, z_dim))
    assert generator.training
    assert torch.equal(first, generate(generator, latents(16, 5, z_dim)))
    # each image depends only on its own latent, not on the batch it is generated in
    assert torch.allclose(first[:3], generate(generator, latents(16, 5, z_dim)[:3]), atol=1e-6)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(z_dim=16, channels=(32, 16, 8))).eval()
    discriminator = Discriminator(DiscriminatorConfig(channels=(8, 16, 32))).eval()
    save_gan(generator, discriminator, tmp_path, {"seed": 0}, card="# card\n")
    loaded_g, loaded_d = load_gan(tmp_path)
    z = latents(10, 0, 16)
    assert loaded_g.config == generator.config and loaded_d.config == discriminator.config
    assert torch.equal(generate(loaded_g, z), generate(generator, z))
    images = generator(z)
    assert torch.equal(loaded_d(images), discriminator(images))
    assert read_gan_record(tmp_path) == {"seed": 0} and (tmp_path / "README.md").read_text() == "# card\n"


def test_resumed_training_equals_uninterrupted(tmp_path):
    """A run started again from the checkpoint a run left behind (step 3 of 6) ends where an uninterrupted
    run does; a checkpoint of another recipe is ignored."""
    images = torch.rand(20, 1, 16, 16)
    whole_g, whole_d = train_gan(images, TINY, seed=3)
    train_gan(images, TINY, seed=3, checkpoint_dir=tmp_path / "same")
    messages = []
    resumed_g, resumed_d = train_gan(images, TINY, seed=3, checkpoint_dir=tmp_path / "same",
                                     progress=lambda share, message: messages.append(message))
    assert any("resumed" in m and "step 3" in m for m in messages), messages
    train_gan(images, GANRecipe(**{**TINY.to_dict(), "steps": 4}), seed=3, checkpoint_dir=tmp_path / "other")
    fresh_g, _ = train_gan(images, TINY, seed=3, checkpoint_dir=tmp_path / "other")
    z = latents(8, 0, TINY.z_dim)
    for generator in (resumed_g, fresh_g):
        assert torch.equal(generate(generator, z), generate(whole_g, z))
    assert all(torch.equal(a, b) for a, b in zip(resumed_d.state_dict().values(), whole_d.state_dict().values()))


def test_gan_quality_counts_confidence_and_classes(classifier):
    torch.manual_seed(0)
    quality = gan_quality(Generator(GeneratorConfig(z_dim=16)), classifier, n=40, seed=0)
    assert quality["n"] == 40 and 0 <= quality["confident_share"] <= 1
    assert sum(quality["class_shares"].values()) == pytest.approx(1.0)
    assert quality["min_class_share"] <= 0.1 <= quality["max_class_share"]


@pytest.mark.skipif(not (GAN_DIR / "generator" / "model.safetensors").exists(), reason="digits-gan not shipped")
def test_shipped_gan_covers_every_class_recognisably(classifier):
    generator, _ = load_gan(GAN_DIR)
    quality = gan_quality(generator, classifier, n=SAMPLES, seed=1)
    assert 0.05 <= quality["min_class_share"] and quality["max_class_share"] <= 0.15, quality["class_shares"]
    # regression floor on other latents: 89.6% on 1000 (seed 1), 90.0% on 10,000 (seeds 0-9)
    assert quality["confident_share"] >= 0.87, quality
    assert read_gan_record(GAN_DIR)["without_class"] is None


@pytest.mark.skipif(not (GAN_DIR / "generator" / "model.safetensors").exists(), reason="digits-gan not shipped")
def test_shipped_gan_meets_confidence_target_on_its_cards_samples(classifier):
    """The issue's target (>= 90% of samples recognised with confidence >= 0.9, every class 5-15%) on the sample
    the model card reports: 1000 latents of seed 0 (90.7%)."""
    generator, _ = load_gan(GAN_DIR)
    quality = gan_quality(generator, classifier, n=1000, seed=0)
    assert quality["confident_share"] >= 0.9, quality
    assert 0.05 <= quality["min_class_share"] and quality["max_class_share"] <= 0.15, quality["class_shares"]
    assert quality["confident_share"] == pytest.approx(read_gan_record(GAN_DIR)["quality"]["confident_share"])


@pytest.mark.skipif(not (RETRAIN_DIR / "generator" / "model.safetensors").exists(), reason="retrain not shipped")
def test_shipped_retrain_draws_no_class_3(classifier):
    generator, _ = load_gan(RETRAIN_DIR)
    quality = gan_quality(generator, classifier, n=SAMPLES, seed=1)
    assert quality["class_shares"][3] < 0.02, quality["class_shares"]
    assert all(quality["class_shares"][c] >= 0.04 for c in range(10) if c != 3), quality["class_shares"]
    assert quality["confident_share"] >= 0.87, quality  # measured 90.2% (1000 samples, seed 0)
    assert read_gan_record(RETRAIN_DIR)["without_class"] == 3
