"""Every model family: runs on the default data, learns a little, and its own mechanism works."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from condgan.errors import ConfigError
from condgan.models.adversarial import AdversarialModule
from condgan.models.autoencoder import AutoencoderModule
from condgan.models.base import check_compiled_layout
from condgan.nets.channel_padding import ChannelPaddedConv2d
from condgan.nets.projgan import ProjDiscriminator
from condgan.pipelines.train import train
from tests.test_configs import built_class, image_options

FAMILIES = image_options("model")  # the arithmetic sequence models have their own tests (test_seq2seq.py)
AUTOENCODERS = [family for family in FAMILIES if issubclass(built_class("model", family), AutoencoderModule)]
GANS = [family for family in FAMILIES if issubclass(built_class("model", family), AdversarialModule)]
# epochs of the 24-images-per-class glyph set for the learning test: families with a small learning
# rate (wgan: RMSprop 5e-5) or dense layers that move slowly (cgan_mlp) get a longer run
LEARNING_EPOCHS = {"cgan_mlp": 40, "wgan": 10}


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_dev_run(train_config, family):
    trainer = train(train_config(f"model={family}", "debug=fdr"))
    assert trainer.state.finished


def pixel_gap(model, real):
    fake = model.generate(range(model.num_classes), 4, generator=torch.Generator().manual_seed(0))
    return (fake.mean() - real.mean()).abs().item()


@pytest.mark.slow
@pytest.mark.parametrize("family", GANS)
def test_gan_learns_the_data_brightness(train_config, family):
    """After a short run on glyphs, generated images are closer to the data's mean brightness."""
    cfg = train_config(
        f"model={family}",
        f"trainer.max_epochs={LEARNING_EPOCHS.get(family, 3)}",
        "callbacks.class_grid=null",
        "callbacks.model_checkpoint=null",
        "logger=csv",
        "model.n_critic=1",
        "model.ema_decay=null",
    )
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    real = datamodule.train_set.images.float() / 127.5 - 1
    torch.manual_seed(0)
    before = pixel_gap(instantiate(cfg.model), real)
    trainer = train(cfg)
    after = pixel_gap(trainer.lightning_module, real)
    assert after < 0.7 * before, f"{family}: gap {before:.3f} -> {after:.3f}"


def test_cdcgan_l1_term_only_with_a_weight(train_config):
    off = instantiate(train_config("model=cdcgan", "model.recon_weight=0").model)
    on = instantiate(train_config("model=cdcgan", "model.recon_weight=2.5").model)
    real, fake, labels = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), torch.arange(4)
    assert off.generator_terms(real, fake, labels, None) == {}
    assert torch.isclose(on.generator_terms(real, fake, labels, None)["l1"], 2.5 * F.l1_loss(fake, real))


def test_cdcgan_works_at_64x64_rgb(train_config):
    cfg = train_config("model=cdcgan", "model.image_size=64", "model.channels=3", "model.num_classes=3")
    model = instantiate(cfg.model)
    images = model.generate([0, 1, 2], 2)
    assert images.shape == (6, 3, 64, 64)
    assert model.discriminator(images, torch.tensor([0, 0, 1, 1, 2, 2])).shape == (6,)


def test_projection_discriminator_output_depends_on_the_label():
    d = ProjDiscriminator(label_sizes=5, channels=1, image_size=28, width=8).eval()
    images = torch.rand(1, 1, 28, 28).repeat(5, 1, 1, 1)
    logits = d(images, torch.arange(5))
    assert logits.unique().numel() == 5


def test_acgan_discriminator_sees_only_the_image_and_predicts_the_class(train_config):
    model = instantiate(train_config("model=acgan").model).eval()
    images = torch.rand(1, 1, 28, 28).repeat(3, 1, 1, 1)
    adversarial, classes = model.discriminate(images, torch.tensor([0, 5, 9]))
    assert torch.allclose(adversarial, adversarial[:1].expand(3))
    assert classes.shape == (3, 26)
    terms = model.generator_terms(images, images, torch.tensor([0, 5, 9]), classes)
    assert torch.isclose(terms["class"], F.cross_entropy(classes, torch.tensor([0, 5, 9])))


@pytest.mark.parametrize("family", AUTOENCODERS)
def test_autoencoder_lowers_its_reconstruction_loss(train_config, family):
    cfg = train_config(
        f"model={family}",
        "trainer.max_epochs=3",
        "callbacks.class_grid=null",
        "callbacks.model_checkpoint=null",
        "logger=csv",
    )
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    images = datamodule.train_set.images[:64].float() / 127.5 - 1
    labels = datamodule.train_set.labels[:64]
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    with torch.no_grad():
        before = model.losses(images, labels)["recon_loss"]
    trained = train(cfg).lightning_module.eval()
    with torch.no_grad():
        after = trained.losses(images, labels)["recon_loss"]
    assert after < 0.7 * before, f"{family}: reconstruction loss {before:.1f} -> {after:.1f}"
    assert trained.reconstruct(images[:4], labels[:4]).shape == images[:4].shape


def test_autoencoders_check_and_log_their_losses_only_at_logging_steps(train_config):
    from condgan.errors import NonFiniteLossError
    from tests.test_adversarial import fit

    model = instantiate(train_config("model=cvae").model)
    logged = []
    log_dict = model.log_dict
    model.log_dict = lambda values, **kw: logged.append(model.global_step + 1) or log_dict(values, **kw)
    fit(model, batches=7, log_every_n_steps=3)
    assert sorted(set(logged)) == [3, 6, 7], "batches 3 and 6 (Lightning's logging steps) and the last"

    broken = instantiate(train_config("model=cvae", "model.kl_weight=nan").model)
    with pytest.raises(NonFiniteLossError, match="train/loss=nan at epoch 0, batch 2"):
        fit(broken, batches=7, log_every_n_steps=3)
    assert broken.global_step == 2, "the NaN guard stops within one logging window"


def test_variational_models_add_a_kl_term_and_plain_autoencoders_do_not(train_config):
    images, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randint(26, (8,))
    vae_terms = instantiate(train_config("model=cvae").model).losses(images, labels)
    cae_terms = instantiate(train_config("model=cae").model).losses(images, labels)
    assert vae_terms["kl"] >= 0 and torch.isclose(vae_terms["loss"], vae_terms["recon_loss"] + vae_terms["kl"])
    assert "kl" not in cae_terms and torch.equal(cae_terms["loss"], cae_terms["recon_loss"])


def test_conditional_vae_decodes_the_label(train_config):
    model = instantiate(train_config("model=cvae").model).eval()
    z = torch.zeros(2, model.latent_dim)
    with torch.no_grad():
        a, b = model.decoder(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)


@pytest.fixture(scope="module")
def idx_roots(tmp_path_factory):
    """Small MNIST-, Fashion-MNIST- and EMNIST-format file sets, as the real loaders expect them."""
    from tests.helpers import write_idx, write_k49, write_mnist_style

    root = tmp_path_factory.mktemp("idx")
    write_mnist_style(root / "mnist", 64, 16, num_classes=10, gzipped=True)
    write_mnist_style(root / "fashion" / "FashionMNIST" / "raw", 64, 16, num_classes=10, gzipped=False)
    raw = root / "emnist" / "EMNIST" / "raw"
    written = write_mnist_style(raw, 78, 26, num_classes=26, gzipped=False, prefix="emnist-letters-", label_offset=1)
    for split, tag in (("train", "train"), ("test", "test")):
        write_idx(raw / f"emnist-letters-{tag}-images-idx3-ubyte", written[split][0].transpose(0, 2, 1).copy(), False)
    write_k49(root / "k49", 98, 49)
    write_mnist_style(root / "kmnist" / "KMNIST" / "raw", 64, 16, num_classes=10, gzipped=True)
    return {
        "mnist": root / "mnist",
        "fashion_mnist": root / "fashion",
        "emnist": root / "emnist",
        "kuzushiji49": root / "k49",
        "kmnist": root / "kmnist",
    }


@pytest.mark.parametrize(
    "family,data",
    # every family on one file-based dataset; each other dataset with a GAN and an autoencoder
    # (every model x data pair is also composed and instantiated in test_configs)
    [(family, "mnist") for family in FAMILIES]
    + [(family, data) for data in ("fashion_mnist", "emnist", "kuzushiji49", "kmnist") for family in ("cgan", "cvae")],
)
def test_fast_dev_run_on_every_dataset(tmp_path, data_dir, idx_roots, family, data):
    from tests.conftest import QUIET, SMALL_METRICS, compose_config

    overrides = [
        f"model={family}",
        f"data={data}",
        f"data.root={idx_roots[data]}",
        "data.download=false",
        "data.batch_size=16",
        "debug=fdr",
        *QUIET,
        *SMALL_METRICS,
    ]
    assert train(compose_config("train", overrides, tmp_path, data_dir)).state.finished


@pytest.mark.parametrize("family", FAMILIES)
def test_bf16_mixed_precision_fast_dev_run(train_config, family):
    """Every family under bf16 autocast (on a CPU, Lightning also turns 16-mixed into bf16)."""
    trainer = train(train_config(f"model={family}", "debug=fdr", "trainer.precision=bf16-mixed"))
    assert trainer.state.finished and trainer.precision == "bf16-mixed"
    assert all(torch.isfinite(p).all() for p in trainer.lightning_module.parameters())


@pytest.mark.parametrize("family", ["cgan", "cvae_conv"])
def test_compile_and_channels_last_switches(train_config, family):
    trainer = train(
        train_config(f"model={family}", "debug=fdr", "model.channels_last=true", "model.compile={backend: eager}")
    )
    module = trainer.lightning_module
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(child._compiled_call_impl is not None for child in module.children())
    assert not any("_orig_mod" in key for key in module.state_dict()), "checkpoints keep their names"


@pytest.mark.parametrize(
    ("device", "version", "refused"),
    [
        ("cuda", "2.11.0+cu130", True),
        ("cuda", "2.14.1", False),
        ("cpu", "2.11.0", False),
    ],
)
def test_compile_with_channels_last_is_refused_where_torch_fails_it(device, version, refused):
    """torch 2.11's compiled conv backward fails a stride assertion on CUDA with channels-last
    weights (measured on an H200); the switch pair is refused there with what to do."""
    if refused:
        with pytest.raises(ConfigError, match="set model.channels_last=false"):
            check_compiled_layout(torch.device(device), {}, True, version)
    else:
        check_compiled_layout(torch.device(device), {}, True, version)
    check_compiled_layout(torch.device(device), None, True, version)
    check_compiled_layout(torch.device(device), {}, False, version)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"])
def test_the_channel_padded_conv_computes_the_plain_convolution(device, layout, monkeypatch):
    """cdcgan D's first layer: 6 input channels padded to 8 (on a CPU only when told to, as here)."""
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(6, 16, 4, 2, 1).to(device, memory_format=layout)
    padded = ChannelPaddedConv2d(6, 16, 4, 2, 1).to(device, memory_format=layout)
    padded.load_state_dict(plain.state_dict())
    monkeypatch.setattr(ChannelPaddedConv2d, "PADDED_DEVICES", (device,))
    seen, conv = [], padded._conv_forward
    monkeypatch.setattr(padded, "_conv_forward", lambda x, w, b: seen.append((x.shape[1], w.shape[1])) or conv(x, w, b))
    images = torch.randn(4, 6, 16, 16, device=device).contiguous(memory_format=layout)
    x, y = images.clone().requires_grad_(), images.clone().requires_grad_()
    out_plain, out_padded = plain(x), padded(y)
    tol = {"rtol": 1e-4, "atol": 1e-4} if device == "cpu" else {"rtol": 5e-3, "atol": 5e-3}  # cuDNN: TF32
    assert seen == [(8, 8)] and out_padded.shape == out_plain.shape == (4, 16, 8, 8)
    torch.testing.assert_close(out_padded, out_plain, **tol)
    (out_plain * out_plain).sum().backward()
    (out_padded * out_padded).sum().backward()
    torch.testing.assert_close(y.grad, x.grad, **tol)
    torch.testing.assert_close(padded.weight.grad, plain.weight.grad, **tol)
    assert padded.weight.shape == (16, 6, 4, 4), "parameters and checkpoints are the plain layer's"
