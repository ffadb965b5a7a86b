"""The cgan networks and the shared adversarial training step do what the configs promise."""

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from condgan.errors import ConfigError, LabelRangeError
from condgan.models import CGAN, load_generative_model
from condgan.nets.cdcgan import dcgan_stages
from condgan.nets.cgan import CGANDiscriminator, CGANGenerator
from condgan.nets.init import init_weights
from condgan.nets.labels import LabelEmbedding, label_weights


def make_cgan(train_config, *overrides) -> CGAN:
    return instantiate(train_config(*overrides).model)


@pytest.mark.parametrize("label_mode", ["multiply", "concat"])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 64), (3, 32)])
def test_networks_handle_every_image_shape(channels, size, label_mode):
    g = CGANGenerator(
        label_sizes=5, channels=channels, image_size=size, noise_dim=16, batch_norm=True, label_mode=label_mode
    )
    d = CGANDiscriminator(label_sizes=5, channels=channels, image_size=size, hidden=[8], label_mode=label_mode)
    labels = torch.tensor([0, 4, 2])
    images = g(torch.randn(3, 16), labels)
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1.0
    assert d(images, labels).shape == (3,)


def test_networks_reject_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        CGANGenerator(label_sizes=2, channels=1, image_size=30, noise_dim=8)
    with pytest.raises(ValueError, match="unknown label_mode"):
        CGANDiscriminator(label_sizes=2, channels=1, image_size=28, label_mode="add")
    assert [dcgan_stages(size) for size in (24, 28, 32, 48, 64)] == [(2, 6), (2, 7), (3, 4), (3, 6), (4, 4)]
    for size in (25, 50, 4):  # odd; halves to 25 (a 25x25 start from 1x1); no stride-2 stage left
        with pytest.raises(ConfigError, match=f"3 <= s <= 7 and k >= 1, got {size}"):
            dcgan_stages(size)


def test_multiplicative_discriminator_gate_starts_as_identity():
    d = CGANDiscriminator(label_sizes=3, channels=1, image_size=28, label_mode="multiply").eval()
    images = torch.rand(1, 1, 28, 28).repeat(3, 1, 1, 1)
    logits = d(images, torch.arange(3))
    assert torch.allclose(logits, logits[:1].expand(3))


def test_label_embedding_looks_up_a_class_and_sums_one_row_per_attribute():
    classes = LabelEmbedding(4, 3)
    labels = torch.tensor([2, 0, 3])
    assert torch.equal(classes(labels), classes.weight[labels])
    assert torch.equal(classes(labels[:, None]), classes.weight[labels])
    assert torch.equal(classes(label_weights(labels, 4)), classes.weight[labels])
    styled = LabelEmbedding([4, 2], 3)
    rows = torch.tensor([[2, 1], [0, 0]])
    expected = styled.weight[rows[:, 0]] + styled.weight[4 + rows[:, 1]]
    assert torch.equal(styled(rows), expected)
    torch.testing.assert_close(styled(label_weights(rows, [4, 2])), expected)


@pytest.mark.parametrize("label_mode", ["multiply", "concat"])
def test_both_networks_use_the_label(label_mode):
    g = CGANGenerator(label_sizes=4, channels=1, image_size=28, noise_dim=8, label_mode=label_mode).eval()
    d = CGANDiscriminator(label_sizes=4, channels=1, image_size=28, label_mode=label_mode).eval()
    with torch.no_grad():
        d.condition.embedding.weight.normal_()  # a trained gate/channel differs between classes
    noise = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([0, 3])
    images = g(noise, labels)
    assert not torch.allclose(images[0], images[1])
    same = images[:1].repeat(2, 1, 1, 1)
    logits = d(same, labels)
    assert not torch.isclose(logits[0], logits[1])


@pytest.mark.parametrize("scheme", ["normal", "xavier"])
def test_init_schemes(scheme):
    net = CGANDiscriminator(label_sizes=3, channels=1, image_size=28, widths=[64, 64])
    init_weights(net, scheme, std=0.02)
    conv = net.net[0]
    assert conv.bias.abs().sum() == 0
    if scheme == "normal":
        assert abs(conv.weight.std().item() - 0.02) < 0.005
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_weights(net, "orthogonal")


def test_generate_groups_n_images_per_label(train_config):
    model = make_cgan(train_config)
    images = model.generate([3, 7], n=4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (8, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    again = model.generate([3, 7], n=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, again)
    assert model.training, "generate() restores the training mode"
    assert model.generate(5, n=2).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("labels", [[0, 26], [-1], 99])
def test_generate_rejects_labels_outside_num_classes(train_config, labels):
    model = make_cgan(train_config)
    with pytest.raises(LabelRangeError, match=r"outside 0\.\.25"):
        model.generate(labels)


class StepRecorder(L.Callback):
    """Records, for every optimizer step, which net stepped and which weights it changed."""

    def on_train_start(self, trainer, pl_module):
        self.events = []
        opt_g, opt_d = trainer.optimizers
        for name, opt in (("generator", opt_g), ("discriminator", opt_d)):
            opt.register_step_pre_hook(lambda *_, name=name: self._before(pl_module, name))
            opt.register_step_post_hook(lambda *_, name=name: self._after(pl_module, name))

    @staticmethod
    def _weights(pl_module):
        return {n: p.detach().clone() for n, p in pl_module.named_parameters()}

    def _before(self, pl_module, name):
        self.snapshot = self._weights(pl_module)

    def _after(self, pl_module, name):
        after = self._weights(pl_module)
        changed = {n.split(".")[0] for n in after if not torch.equal(after[n], self.snapshot[n])}
        self.events.append((name, changed))


def test_each_batch_steps_discriminator_then_generator(train_config):
    """Manual optimisation: D steps on detached fakes (G untouched), then G steps (D untouched)."""
    model = make_cgan(train_config)
    batch = TensorDataset(torch.rand(32, 1, 28, 28) * 2 - 1, torch.randint(26, (32,)))
    recorder = StepRecorder()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    trainer.fit(model, train_dataloaders=DataLoader(batch, batch_size=16))
    assert (
        recorder.events
        == [
            ("discriminator", {"discriminator"}),
            ("generator", {"generator"}),
        ]
        * 2
    )


def test_one_sided_label_smoothing(train_config):
    model = make_cgan(train_config, "model.real_label=0.9")
    big = torch.full((4,), 30.0)
    # a perfectly confident D still pays for real images when the target is 0.9
    assert model.discriminator_loss(big, -big) > 1.0
    assert make_cgan(train_config, "model.real_label=1.0").discriminator_loss(big, -big) < 1e-6
    assert model.generator_loss(big) < 1e-6, "the generator's target stays 1"


def test_checkpoint_rebuilds_the_same_model(tmp_path, train_config):
    model = make_cgan(train_config)
    trainer = L.Trainer(accelerator="cpu", max_steps=0, logger=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_generative_model(torch.load(path, weights_only=False))
    assert isinstance(loaded, CGAN) and not loaded.training
    expected = model.generate(range(26), 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded.generate(range(26), 2, generator=torch.Generator().manual_seed(1)), expected)
