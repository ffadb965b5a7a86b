"""Optimisers from config: any torch optimiser by ``_target_``, null settings dropped, one-line
errors for settings a class does not take, and the short names of older checkpoints."""

import pytest
import torch
from hydra.utils import instantiate

from condgan.errors import ConfigError
from condgan.models.checkpoint import load_generative_model, read_checkpoint
from condgan.models.optimizers import build_optimizer
from condgan.pipelines.common import user_error
from tests.test_adversarial import fit


def test_a_gan_trains_with_any_torch_optimizer_and_its_checkpoint_loads_safely(train_config, tmp_path):
    model = instantiate(
        train_config(
            "model.optim.discriminator._target_=torch.optim.AdamW", "+model.optim.discriminator.weight_decay=0.05"
        ).model
    )
    trainer = fit(model, batches=2)
    opt_g, opt_d = (opt.optimizer if hasattr(opt, "optimizer") else opt for opt in trainer.optimizers)
    assert type(opt_g) is torch.optim.Adam and type(opt_d) is torch.optim.AdamW
    assert opt_d.param_groups[0]["weight_decay"] == 0.05 and opt_d.param_groups[0]["betas"] == (0.5, 0.999)
    assert opt_d.param_groups[0]["fused"], "fused: auto on a CPU"
    path = tmp_path / "adamw.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_generative_model(read_checkpoint(path))  # weights_only: the settings are plain values
    assert loaded.optim["discriminator"]["_target_"] == "torch.optim.AdamW"


def test_a_setting_the_optimizer_lacks_is_one_line_saying_to_null_it(train_config):
    overrides = ("model.optim.discriminator._target_=torch.optim.SGD", "+model.optim.discriminator.momentum=0.9")
    with pytest.raises(Exception) as err:
        fit(instantiate(train_config(*overrides).model), batches=1)
    cause = user_error(err.value)
    assert isinstance(cause, ConfigError)
    assert "SGD has no setting 'betas': set model.optim.discriminator.betas=null" in str(cause)
    trainer = fit(instantiate(train_config(*overrides, "model.optim.discriminator.betas=null").model), batches=1)
    sgd = trainer.optimizers[1]
    assert type(getattr(sgd, "optimizer", sgd)) is torch.optim.SGD and sgd.param_groups[0]["momentum"] == 0.9


def test_wgan_steps_rmsprop_without_the_base_adam_settings(train_config):
    trainer = fit(instantiate(train_config("model=wgan").model), batches=1)
    for opt in trainer.optimizers:
        assert type(getattr(opt, "optimizer", opt)) is torch.optim.RMSprop and opt.param_groups[0]["lr"] == 5e-5


@pytest.mark.parametrize(
    ("settings", "cls", "group"),
    [
        ({"name": "rmsprop", "lr": 5e-5, "betas": [0.5, 0.999], "fused": "auto"}, torch.optim.RMSprop, {"lr": 5e-5}),
        (
            {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.9], "fused": False},
            torch.optim.Adam,
            {"lr": 2e-4, "betas": (0.5, 0.9), "fused": False},
        ),
        ({"lr": 1e-3, "betas": [0.9, 0.999]}, torch.optim.Adam, {"lr": 1e-3, "fused": True}),
    ],
    ids=["rmsprop", "adam", "autoencoder"],
)
def test_the_settings_of_older_checkpoints_build_the_optimizer_they_named(settings, cls, group):
    optimizer = build_optimizer(settings, torch.nn.Linear(2, 2).parameters(), "model.optim.generator")
    assert type(optimizer) is cls
    assert {key: optimizer.param_groups[0][key] for key in group} == group


def test_fp16_scaler_or_a_class_without_fused_kernels_gets_no_fused_flag():
    params = list(torch.nn.Linear(2, 2).parameters())
    assert not build_optimizer(
        {"_target_": "torch.optim.Adam", "lr": 1.0, "fused": "auto"}, params, "x", scaler_on=True
    ).param_groups[0]["fused"]
    rmsprop = build_optimizer({"_target_": "torch.optim.RMSprop", "lr": 1.0, "fused": "auto"}, params, "x")
    assert "fused" not in rmsprop.defaults


@pytest.mark.parametrize("target", ["torch.optim.NoSuch", "torch.nn.Linear", "os.system"])
def test_a_target_that_is_no_torch_optimizer_is_refused(target):
    with pytest.raises(ConfigError, match="is not a torch optimizer class"):
        build_optimizer({"_target_": target, "lr": 1.0}, [torch.nn.Parameter(torch.zeros(1))], "model.optim.generator")
