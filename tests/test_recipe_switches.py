"""Mechanisms of the best-recipe switches: differentiable augmentation before D, EMA as a half-life
in images with a ramp-up, lazy R1, learning-rate warm-up, and the residual projection networks."""

import math

import pytest
import torch
from hydra.utils import instantiate

from condgan.errors import ConfigError
from condgan.nets.cdcgan import CDCGANGenerator, doubling
from condgan.nets.diffaugment import DiffAugment
from condgan.nets.resgan import ResDiscriminator, ResGenerator
from tests.test_adversarial import fit


def test_translation_moves_every_image_by_whole_pixels_within_the_bound():
    images = -torch.ones(64, 1, 16, 16)
    images[:, 0, 8, 8] = 1.0
    moved = DiffAugment({"translation": 0.25})(images, torch.Generator().manual_seed(0))
    rows, cols = [], []
    for image in moved:
        ((y, x),) = (image[0] == 1).nonzero().tolist()
        rows.append(y - 8)
        cols.append(x - 8)
        assert torch.equal(image.sort().values.unique(), torch.tensor([-1.0, 1.0])), "pixels are moved, not blended"
    assert max(map(abs, rows + cols)) <= 4 and len(set(rows)) > 3 and len(set(cols)) > 3


def test_cutout_blanks_one_square_of_the_given_size():
    out = DiffAugment({"cutout": 0.5})(torch.ones(200, 1, 16, 16), torch.Generator().manual_seed(0))
    blanked = (out == -1).sum(dim=(1, 2, 3))
    assert blanked.max() == 64 and blanked.min() >= 16, "an 8x8 square, clipped at the border"
    assert torch.all((out == -1) | (out == 1))


def test_brightness_and_contrast_change_each_image_within_their_range():
    images = torch.rand(32, 1, 8, 8) - 0.5
    brighter = DiffAugment({"brightness": 0.3})(images, torch.Generator().manual_seed(0))
    offsets = (brighter - images).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-6) and offsets.abs().max() <= 0.3
    contrasted = DiffAugment({"contrast": 0.5})(images, torch.Generator().manual_seed(0))
    ratio = (contrasted - images.mean((1, 2, 3), keepdim=True)) / (images - images.mean((1, 2, 3), keepdim=True))
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 1.5 + 1e-4


def test_diff_augment_is_differentiable_and_repeatable():
    augment = DiffAugment({"translation": 0.125, "cutout": 0.25, "brightness": 0.5, "contrast": 0.5, "saturation": 0.5})
    images = (torch.rand(4, 3, 28, 28) * 2 - 1).requires_grad_()
    out = augment(images, torch.Generator().manual_seed(1))
    assert torch.equal(out, augment(images, torch.Generator().manual_seed(1)))
    out.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_unknown_diff_augment_option_is_a_config_error():
    with pytest.raises(ConfigError, match="flip"):
        DiffAugment({"flip": 1})
    with pytest.raises(ConfigError, match="translation"):
        DiffAugment({"translation": 1.5})


def test_discriminator_sees_augmented_real_and_fake_images_in_both_steps(train_config):
    """With cutout on, every batch D scores (real and fake, in D's and in G's step) carries the
    blanked squares, and G's loss still has a gradient through the augmentation."""
    model = instantiate(train_config("model.diff_augment.cutout=0.5", "model.diff_augment.translation=0.125").model)
    seen = []
    discriminate = model.discriminate

    def recording(images, labels):
        seen.append((images.detach().clone(), images.requires_grad))
        return discriminate(images, labels)

    model.discriminate = recording
    fit(model, batches=2, batch_size=16)
    # D (batch independent) scores real and fake stacked in one forward in its step
    assert [len(images) for images, _ in seen] == [32, 16, 32, 16], "real + fake in D's step, fake in G's step"
    for images, _ in seen:
        blanked = (images == -1).flatten(1).sum(1)
        assert (blanked >= 14 * 14 // 4).all(), "every image D sees has its cutout square"
    assert [grad for _, grad in seen[1::2]] == [True, True], "G's step scores fakes with a graph back to G"


def test_rotation_and_shear_warp_each_image_differently_and_differentiably():
    images = -torch.ones(32, 1, 15, 15)
    images[:, 0, 7, 2:13] = 1.0  # a horizontal bar through the centre
    images.requires_grad_(True)
    warped = DiffAugment({"rotation": 40.0, "shear": 10.0})(images, torch.Generator().manual_seed(0))
    assert warped.shape == images.shape and warped.min() >= -1 - 1e-6 and warped.max() <= 1 + 1e-6
    bar_rows = (warped.detach()[:, 0] > 0).float().sum(2).argmax(1)
    assert (warped.detach()[:, 0, 7] > 0).sum(1).float().mean() < 9, "the bar leaves its row in most images"
    assert (
        len({tuple(img.flatten().round(decimals=3).tolist()) for img in warped.detach()}) == 32
        and bar_rows.numel() == 32
    )
    warped.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "experiment,augmented",
    [
        ("mnist_cdcgan", "model"),
        ("emnist_cgan_best", "model"),
        ("mnist_cdcgan_report_faithful", "data"),
        ("emnist_cgan_best_report_faithful", "data"),
    ],
)
def test_augmenting_experiments_augment_for_d_unless_report_faithful(experiment, augmented, tmp_path):
    from condgan.data.transforms import BatchAugment
    from tests.conftest import compose_config

    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path, tmp_path)
    assert BatchAugment(cfg.data.augment).active == (augmented == "data")
    assert DiffAugment(cfg.model.diff_augment).active == (augmented == "model")


def test_the_augmenting_gans_fakes_are_augmented_before_d(train_config):
    model = instantiate(train_config("model.diff_augment.shear=10", "model.diff_augment.translation=0.1").model)
    drawn, seen = [], []
    model.generator.register_forward_hook(lambda module, args, out: drawn.append(out.detach().clone()))
    discriminate = model.discriminate
    model.discriminate = lambda images, labels: seen.append(images.detach().clone()) or discriminate(images, labels)
    fit(model, batches=1, batch_size=16)
    fake_in_d_step, fake_in_g_step = seen[0][16:], seen[1]  # D's step: real and fake stacked
    for scored in (fake_in_d_step, fake_in_g_step):
        assert not torch.allclose(scored, drawn[0], atol=1e-3), "D scores transformed fakes"
    assert not torch.allclose(fake_in_d_step, fake_in_g_step, atol=1e-3), "fresh transforms in each step"


def test_no_augmentation_by_default(train_config):
    model = instantiate(train_config().model)
    images = torch.rand(2, 1, 28, 28)
    assert not model.diff_augment.active and model.diff_augment(images) is images


def test_ema_half_life_in_images_with_ramp_up(train_config):
    model = instantiate(train_config("model.ema_half_life=1000", "model.ema_rampup=0.5").model)
    ema_param, live_param = next(model.generator_ema.parameters()), next(model.generator.parameters())
    expected, seen = ema_param.detach().clone(), 0
    for batch in (100, 100, 400, 800, 800, 2000):
        with torch.no_grad():
            live_param.add_(torch.randn_like(live_param))
        half_life = min(1000, seen * 0.5)
        decay = 0.5 ** (batch / half_life) if half_life else 0.0
        assert math.isclose(model.ema_step_decay(batch), decay, rel_tol=1e-9)
        model.update_ema(batch)
        seen += batch
        expected = decay * expected + (1 - decay) * live_param.detach()
        assert torch.allclose(ema_param, expected, atol=1e-6)
    assert int(model.generator_images) == seen == 4200
    # the same half-life at another batch size: the same decay per image
    assert math.isclose(model.ema_step_decay(64) ** 2, model.ema_step_decay(128), rel_tol=1e-9)


@pytest.mark.parametrize("override", ["model.ema_half_life=-5", "model.ema_decay=0.99"])
def test_ema_half_life_excludes_the_per_step_decay(train_config, override):
    from condgan.pipelines.common import user_error

    with pytest.raises(Exception) as err:
        instantiate(train_config("model.ema_half_life=1000", override).model)
    assert isinstance(user_error(err.value), ConfigError)


def test_ema_generator_samples_with_batchnorm_statistics_of_its_own_weights(train_config):
    model = instantiate(
        train_config(
            "model=cdcgan", "model.ema_decay=0.9", "model.ema_stat_batches=3", "model.ema_stat_batch_size=16"
        ).model
    )
    fit(model, batches=4)
    ema_norm = next(m for m in model.generator_ema.modules() if isinstance(m, torch.nn.BatchNorm2d))
    live_norm = next(m for m in model.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    inputs = []
    hook = ema_norm.register_forward_hook(lambda module, args, out: inputs.append(args[0].detach()))
    state, mode = torch.get_rng_state(), model.generator_ema.eval().training
    model.refresh_ema_statistics()
    hook.remove()
    assert torch.equal(torch.get_rng_state(), state), "the training random state is untouched"
    assert len(inputs) == 3 and model.generator_ema.training == mode
    seen = torch.cat(inputs)
    assert torch.allclose(ema_norm.running_mean, seen.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not torch.allclose(ema_norm.running_mean, live_norm.running_mean, atol=1e-3)
    assert ema_norm.momentum == live_norm.momentum


def test_ema_statistics_are_recomputed_once_per_generator_change(train_config):
    model = instantiate(train_config("model=cdcgan", "model.ema_decay=0.9", "model.ema_stat_batches=1").model)
    calls = []
    refresh = model.refresh_ema_statistics
    model.refresh_ema_statistics = lambda: calls.append(int(model.generator_steps)) or refresh()
    fit(model, batches=2, epochs=2)
    assert calls == [2, 4], "at each epoch's end"
    model.refresh_stale_ema_statistics()
    assert calls == [2, 4], "G has not stepped since: the statistics are fresh"


def test_ema_statistics_are_fresh_in_saved_checkpoints(train_config, tmp_path):
    model = instantiate(train_config("model=cdcgan", "model.ema_decay=0.9").model)
    trainer = fit(model, batches=3)
    trainer.save_checkpoint(tmp_path / "ema.ckpt")
    saved = {k: v.clone() for k, v in model.generator_ema.state_dict().items() if "running" in k}
    model.refresh_ema_statistics()
    assert saved and all(torch.allclose(v, model.generator_ema.state_dict()[k]) for k, v in saved.items())


def test_lazy_r1_every_k_steps_weighted_by_k(train_config):
    model = instantiate(train_config("model.r1_penalty=2.0", "model.r1_every=3").model)
    seen = []

    terms = model.discriminator_terms

    def recording(real, fake, labels, real_aux, fake_aux):
        result = terms(real, fake, labels, real_aux, fake_aux)
        seen.append(result)
        return result

    model.discriminator_terms = recording
    fit(model, batches=7)
    assert [("r1" in step) for step in seen] == [True, False, False, True, False, False, True]
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    labels = torch.randint(26, (8,))
    plain = instantiate(train_config("model.r1_penalty=2.0").model)
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    model._host_counts = None
    with torch.no_grad():
        model.discriminator_steps.zero_()
    lazy_term = model.discriminator_terms(real, real, labels, None, None)["r1"]
    assert torch.isclose(lazy_term, 3 * plain.discriminator_terms(real, real, labels, None, None)["r1"])


def test_lr_warm_up_rises_linearly_then_holds(train_config):
    model = instantiate(train_config("model.lr_warmup_steps=4").model)
    rates = []

    import lightning as L

    class Record(L.Callback):
        def on_train_start(self, trainer, pl_module):
            opt_d = trainer.optimizers[1]
            opt_d.register_step_pre_hook(lambda o, *_: rates.append(o.param_groups[0]["lr"]))

    fit(model, batches=6, callbacks=[Record()])
    base = model.optim["discriminator"]["lr"]
    assert rates == pytest.approx([base * k / 4 for k in (1, 2, 3, 4)] + [base, base])


def test_residual_networks_condition_on_the_label():
    torch.manual_seed(0)
    generator, discriminator = ResGenerator([5], 1, 28, 16, width=8), ResDiscriminator([5], 1, 28, width=8)
    for norm in (m for m in generator.modules() if hasattr(m, "scale")):
        torch.nn.init.normal_(norm.scale.weight, 1.0, 0.5)
    noise, labels = torch.randn(1, 16).expand(5, -1), torch.arange(5)
    generator.train()
    images = generator(torch.randn(5, 16), labels)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1
    generator.eval()
    with torch.no_grad():
        per_label = generator(noise, labels)
        logits = discriminator(per_label[:1].expand(5, -1, -1, -1), labels)
    assert len({round(float(v), 5) for v in per_label.flatten(1).mean(1)}) == 5, "conditional BN: per-class scales"
    assert len({round(float(v), 5) for v in logits}) == 5, "the projection changes the logit per label"
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(c, "parametrizations") for c in convs), "every D conv is spectrally normalised"


@pytest.mark.parametrize("size", [28, 32, 64])
def test_residual_networks_handle_the_image_sizes(size):
    generator, discriminator = ResGenerator([3, 2], 3, size, 8, width=4), ResDiscriminator([3, 2], 3, size, width=4)
    labels = torch.tensor([[0, 1], [2, 0]])
    images = generator(torch.randn(2, 8), labels)
    assert images.shape == (2, 3, size, size) and discriminator(images, labels).shape == (2,)


def test_auxiliary_classifier_on_the_dcgan_networks(train_config):
    model = instantiate(
        train_config(
            "model=cdcgan", "model.aux_weight=0.5", "model.discriminator.aux_classes=26", "model.recon_weight=2.0"
        ).model
    ).eval()
    images, labels = torch.rand(3, 1, 28, 28) * 2 - 1, torch.tensor([0, 5, 9])
    adversarial, classes = model.discriminate(images, labels)
    assert adversarial.shape == (3,) and classes.shape == (3, 26)
    g_terms = model.generator_terms(images, images.flip(0), labels, classes)
    assert torch.isclose(g_terms["class"], 0.5 * torch.nn.functional.cross_entropy(classes, labels))
    assert "l1" in g_terms, "the family's own terms stay"
    d_terms = model.discriminator_terms(images, images, labels, classes, classes)
    assert torch.isclose(d_terms["class"], 0.5 * torch.nn.functional.cross_entropy(classes, labels))


def test_auxiliary_weight_without_a_class_head_is_a_config_error(train_config):
    from condgan.pipelines.common import user_error

    with pytest.raises(Exception) as err:
        instantiate(train_config("model=cdcgan", "model.aux_weight=1.0").model)
    assert isinstance(user_error(err.value), ConfigError) and "aux_classes=26" in str(user_error(err.value))


def test_nearest_upsampling_doubles_a_flat_map_without_a_checkerboard():
    torch.manual_seed(0)
    flat, inner = torch.ones(1, 4, 6, 6), {}
    for mode in ("transposed", "nearest"):
        with torch.no_grad():
            inner[mode] = torch.nn.Sequential(*doubling(4, 3, mode, bias=False))(flat)[:, :, 2:-2, 2:-2]
    transposed, nearest = inner["transposed"], inner["nearest"]
    assert transposed.shape == nearest.shape == (1, 3, 8, 8)
    assert torch.allclose(transposed, transposed[:, :, :2, :2].repeat(1, 1, 4, 4)), "period 2"
    assert transposed.std(dim=(2, 3)).min() > 1e-3, "the transposed convolution leaves a checkerboard"
    assert torch.allclose(nearest, nearest[:, :, :1, :1].expand_as(nearest)), "nearest + conv stays flat"


@pytest.mark.parametrize("size", [28, 32, 64])
def test_the_upsampling_generator_handles_the_image_sizes(size):
    generator = CDCGANGenerator([3], 1, size, 8, width=4, upsample="nearest")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) and m.stride == (2, 2) for m in generator.modules())
    assert generator(torch.randn(2, 8), torch.tensor([0, 2])).shape == (2, 1, size, size)


def test_the_generator_upsampling_is_a_config_switch(train_config):
    from condgan.pipelines.common import user_error

    model = instantiate(train_config("model=cdcgan", "model.generator.upsample=nearest").model)
    assert any(isinstance(m, torch.nn.Upsample) for m in model.generator.modules())
    fit(model, batches=2)
    with pytest.raises(Exception) as err:
        instantiate(train_config("model=cdcgan", "model.generator.upsample=bilinear").model)
    assert isinstance(user_error(err.value), ConfigError) and "transposed, nearest" in str(user_error(err.value))
