"""The unconditional digits GAN (unlearn_core/models/gan.py, unlearn_core/gan_loop.py,
unlearn_core/gan_training.py) and its shipped weights: output shape and range, deterministic sampling, save/load,
resumable training and the quality of assets/digits-gan and assets/digits-gan-retrain-class3 judged by the shipped
digits-cnn."""
from __future__ import annotations

import pytest
import torch

from unlearn_core.assets import ASSETS
from unlearn_core.gan_loop import GANRecipe, train_gan
from unlearn_core.gan_training import gan_quality
from unlearn_core.models.classifier import load_classifier
from unlearn_core.models.gan import (Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, generate,
                                     latents, load_gan, read_gan_record, save_gan)

GAN_DIR = ASSETS / "digits-gan"
RETRAIN_DIR = ASSETS / "digits-gan-retrain-class3"
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


def test_gan_quality_pools_its_seeds_and_names_the_worst(classifier):
    """The measure over two seeds is the two single-seed measures pooled: a measure that ignored the seed (the same
    latents each time), weighted the seeds unevenly or named the best seed as the worst would differ."""
    generator, _ = load_gan(GAN_DIR)
    pooled = gan_quality(generator, classifier, n=600, seeds=(3, 5))
    single = [gan_quality(generator, classifier, n=300, seeds=(seed,)) for seed in (3, 5)]
    assert single[0]["class_shares"] != single[1]["class_shares"]  # another seed draws other samples
    shares = [quality["confident_share"] for quality in single]
    assert pooled["seed_confident_shares"] == shares and pooled["seeds"] == [3, 5] and pooled["per_seed"] == 300
    assert pooled["confident_share"] == pytest.approx(sum(shares) / 2)
    assert pooled["worst_seed_confident_share"] == min(shares)
    assert pooled["worst_seed"] == (3, 5)[shares.index(min(shares))]
    for c in range(10):
        both = single[0]["class_shares"][c] + single[1]["class_shares"][c]
        assert pooled["class_shares"][c] == pytest.approx(both / 2)
    with pytest.raises(ValueError, match="multiple of the number of latent seeds"):
        gan_quality(generator, classifier, n=601, seeds=(3, 5))


@pytest.fixture(scope="module")
def shipped_quality(classifier):
    """The card's measure of the shipped digits-gan: 10,000 samples, 1000 from each of latent seeds 0-9 (5 s)."""
    return gan_quality(load_gan(GAN_DIR)[0], classifier)


# The shipped digits-gan's pooled class shares over seeds 0-9 (10,000 samples). One seed's 1000 samples move a
# class's share by 0.6-1.2 points (standard deviation over the ten seeds), so the pooled share's standard error is
# at most 0.37 points; the tests allow 1.5 points (4 standard errors) for numerics that differ between machines.
DIGITS_GAN_CLASS_SHARES = {0: 0.0948, 1: 0.0799, 2: 0.0981, 3: 0.1156, 4: 0.0983, 5: 0.1010, 6: 0.1033, 7: 0.0959,
                           8: 0.1069, 9: 0.1062}
CLASS_SHARE_SLACK = 0.015


@pytest.mark.skipif(not (GAN_DIR / "generator" / "model.safetensors").exists(), reason="digits-gan not shipped")
def test_shipped_gan_covers_every_class_recognisably(shipped_quality):
    quality = shipped_quality
    assert quality["n"] == 10_000 and quality["seeds"] == list(range(10))
    for c, measured in DIGITS_GAN_CLASS_SHARES.items():
        assert abs(quality["class_shares"][c] - measured) <= CLASS_SHARE_SLACK, (c, quality["class_shares"])
    # measured 90.0% pooled; one seed's share moves by 0.76 points (sd), so the pooled one's standard error is 0.24
    assert quality["confident_share"] >= 0.89, quality
    # measured: the worst of the ten seeds, seed 8, 88.6% (the best 90.8%)
    assert quality["worst_seed_confident_share"] >= 0.87, quality
    assert read_gan_record(GAN_DIR)["without_class"] is None


@pytest.mark.skipif(not (GAN_DIR / "generator" / "model.safetensors").exists(), reason="digits-gan not shipped")
def test_shipped_gan_is_at_the_confidence_target_its_card_reports(shipped_quality):
    """The issue's target (>= 90% of samples recognised with confidence >= 0.9, every class 5-15%) on the card's
    measure, 10,000 samples from ten latent seeds: met with no margin (9000 of 10,000; one seed's 1000 give
    88.6-90.8%). The slack of 10 samples is for numerics that differ between machines, not for the seeds."""
    quality = shipped_quality
    assert quality["confident_share"] >= 0.899, quality
    assert 0.05 <= quality["min_class_share"] and quality["max_class_share"] <= 0.15, quality["class_shares"]
    card = read_gan_record(GAN_DIR)["quality"]
    assert (card["n"], card["seeds"], card["worst_seed"]) == (quality["n"], quality["seeds"], quality["worst_seed"])
    assert quality["confident_share"] == pytest.approx(card["confident_share"], abs=0.001)


@pytest.mark.skipif(not (RETRAIN_DIR / "generator" / "model.safetensors").exists(), reason="retrain not shipped")
def test_shipped_retrain_draws_no_class_3(classifier):
    """On the card's 10,000 samples (seeds 0-9): class 3 in 0.67% (one seed's 1000: 0.4-1.0%), the other classes
    9.8-12.3% (standard error of each at most 0.4 points), confident 90.8% (standard error 0.18; worst seed 90.0%)."""
    quality = gan_quality(load_gan(RETRAIN_DIR)[0], classifier)
    assert quality["class_shares"][3] < 0.012, quality["class_shares"]
    assert all(quality["class_shares"][c] >= 0.08 for c in range(10) if c != 3), quality["class_shares"]
    assert quality["confident_share"] >= 0.90, quality
    assert read_gan_record(RETRAIN_DIR)["without_class"] == 3
