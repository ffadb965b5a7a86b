"""Validated configs: every bad value a user can type is one line naming the key, the value and
what is allowed, before anything is built; an unknown config-group choice lists the choices."""

from pathlib import Path

import pytest
import torch

from condgan.errors import ConfigError
from condgan.pipelines import config_checks
from condgan.pipelines.common import CONFIG_DIR
from condgan.pipelines.config_checks import check_config, check_group_choices
from tests.conftest import QUIET, compose_config
from tests.test_cli import error_lines, run_here
from tests.test_configs import sequence_options

BAD_OVERRIDES = [
    ("data.batch_size=0", "data.batch_size=0: use a whole number >= 1"),
    ("data.batch_size=-5", "data.batch_size=-5: use a whole number >= 1"),
    ("data.batch_size=2.5", "data.batch_size=2.5: use a whole number >= 1"),
    ("data.image_size=4", "data.image_size=4: use a whole number >= 8"),
    ("data.channels=2", "data.channels=2: use 1 or 3"),
    ("data.val_fraction=1.5", "data.val_fraction=1.5: use a number in [0, 1)"),
    ("data.num_workers=-1", "data.num_workers=-1: use a whole number >= 0"),
    ("+data.attributes={style:1}", "data.attributes.style=1: use a whole number >= 2"),
    ("data.augment.zoom=1", "data.augment.zoom=1: use a number in [0, 1)"),
    ("model.optim.generator.lr=abc", "model.optim.generator.lr='abc': use a number > 0"),
    ("model.optim.discriminator.lr=0", "model.optim.discriminator.lr=0: use a number > 0"),
    ("model.optim.generator.betas=[0.5]", "model.optim.generator.betas=[0.5]: use null or two numbers in [0, 1)"),
    (
        "model.optim.discriminator.betas=[0.5,1.5]",
        "model.optim.discriminator.betas=[0.5, 1.5]: use null or two numbers",
    ),
    ("model.optim.generator.fused=yes", "model.optim.generator.fused='yes': use auto, true or false"),
    ("model.noise_dim=0", "model.noise_dim=0: use a whole number >= 1"),
    ("model.generator.widths=[64,0]", "model.generator.widths=[64, 0]: use a non-empty list of whole numbers >= 1"),
    ("model.generator.embed_dim=-2", "model.generator.embed_dim=-2: use null or a whole number >= 1"),
    ("model.loss=minimax", "model.loss='minimax': use one of bce, hinge, wasserstein, lsgan"),
    ("model.real_label=0", "model.real_label=0: use a number in (0, 1]"),
    ("model.n_critic=0", "model.n_critic=0: use a whole number >= 1"),
    ("model.gradient_penalty=-1", "model.gradient_penalty=-1: use a number >= 0"),
    ("model.r1_every=0", "model.r1_every=0: use a whole number >= 1"),
    ("model.aux_weight=-0.5", "model.aux_weight=-0.5: use a number >= 0"),
    ("model.ema_decay=1.0", "model.ema_decay=1.0: use null or a number in [0, 1)"),
    ("model.ema_half_life=0", "model.ema_half_life=0: use null or a number > 0"),
    ("model.diff_augment.translation=2", "model.diff_augment.translation=2: use a number in [0, 1]"),
    ("model.diff_augment.rotation=-5", "model.diff_augment.rotation=-5: use a number >= 0"),
    ("model.lr_warmup_steps=-1", "model.lr_warmup_steps=-1: use a whole number >= 0"),
    ("trainer.max_epochs=-3", "trainer.max_epochs=-3: use a whole number >= 1, or -1 for no epoch limit"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0: use a whole number >= 1, or -1 for no epoch limit"),
    ("trainer.precision=8-mixed", "trainer.precision='8-mixed': use one of 32-true"),
    ("seed=-1", "seed=-1: use null or a whole number >= 0"),
    ("model.cuda_graph=yes", "model.cuda_graph='yes': use true or false"),
    ("model.channels_last=1", "model.channels_last=1: use true or false"),
    ("model.compile=yes", "model.compile='yes': use null or torch.compile's options"),
    ("data.on_device=sometimes", "data.on_device='sometimes': use auto, true or false"),
    ("+trainer.benchmark=often", "trainer.benchmark='often': use null or true or false"),
    ("data.augment.hflip=maybe", "data.augment.hflip='maybe': use true or false"),
    ("data.style_threshold=300", "data.style_threshold=300: use a whole number in 0..255"),
    ("model.clip_value=-1", "model.clip_value=-1: use null or a number > 0"),
    ("model.init_std=-1", "model.init_std=-1: use a number > 0"),
    ("model.discriminator.dropout=2", "model.discriminator.dropout=2: use a number in [0, 1)"),
    ("model.generator.bn_momentum=2", "model.generator.bn_momentum=2: use null or a number in [0, 1]"),
    ("data.preprocess.denoise=abc", "data.preprocess.denoise='abc': use null or a whole number >= 3"),
    ("metrics.every_n_epochs=0", "metrics.every_n_epochs=0: use a whole number >= 1"),
    ("metrics.classifier.epochs=0", "metrics.classifier.epochs=0: use a whole number >= 1"),
    ("metrics.kid_subset_size=1", "metrics.kid_subset_size=1: use a whole number >= 2"),
    ("callbacks.class_grid.samples_per_class=0", "callbacks.class_grid.samples_per_class=0: use a whole number >= 1"),
]


@pytest.mark.parametrize("override,message", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_a_bad_value_is_one_line_naming_key_value_and_what_is_allowed(train_config, override, message):
    with pytest.raises(ConfigError) as err:
        check_config(train_config(override))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


SHIPPED = [
    (group, path.stem)
    for group in ("experiment", "model", "data", "trainer", "debug", "callbacks", "logger", "hparams_search")
    for path in sorted((Path(CONFIG_DIR) / group).glob("*.yaml"))
]


def partner(group: str, name: str) -> list[str]:
    """What a sequence model or its data composes with (each reads the other's settings)."""
    if group in ("model", "data") and name in sequence_options(group):
        return ["data=arithmetic"] if group == "model" else ["model=seq2seq_text"]
    return []


@pytest.mark.parametrize("group,name", SHIPPED, ids=[f"{g}={n}" for g, n in SHIPPED])
def test_every_shipped_config_passes(tmp_path, group, name, monkeypatch):
    monkeypatch.setattr(config_checks, "visible_cuda_gpus", lambda: 8)  # trainer=gpu and ddp: a GPU machine's view
    check_config(compose_config("train", [f"{group}={name}", *partner(group, name)], tmp_path, tmp_path))


@pytest.mark.parametrize(
    "overrides,gpus,refused",
    [
        (["trainer=gpu"], 0, True),
        (["trainer=gpu"], 1, False),
        (["trainer=gpu", "trainer.devices=2"], 1, True),
        (["trainer=gpu", "trainer.devices=[0,1]"], 2, False),
        (["trainer=gpu", "trainer.accelerator=cuda"], 0, True),
        (["trainer=default"], 0, False),
        (["trainer=cpu"], 0, False),
    ],
)
def test_a_trainer_asking_for_gpus_this_machine_lacks_is_one_line(tmp_path, monkeypatch, overrides, gpus, refused):
    monkeypatch.setattr(config_checks, "visible_cuda_gpus", lambda: gpus)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    cfg = compose_config("train", overrides, tmp_path, tmp_path)
    if refused:
        with pytest.raises(ConfigError, match=rf"torch sees {gpus} CUDA GPU\(s\) on this machine; use trainer=cpu"):
            check_config(cfg)
    else:
        check_config(cfg)


@pytest.mark.parametrize(
    "name,gpus,expected",
    [("cpu", 0, "cpu"), ("auto", 0, "cpu"), ("cuda", 1, "cuda"), ("cuda:1", 2, "cuda:1"), ("cuda", 0, None)],
)
def test_a_device_name_resolves_or_says_what_to_use(monkeypatch, name, gpus, expected):
    from condgan.pipelines import common

    monkeypatch.setattr(common, "visible_cuda_gpus", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    if expected is None:
        with pytest.raises(ConfigError, match="torch sees 0 CUDA GPU"):
            common.resolve_device(name)
    else:
        assert common.resolve_device(name) == torch.device(expected)
    with pytest.raises(ConfigError, match="use auto, cpu, cuda or cuda:N"):
        common.resolve_device("tpu7")


ENTRY_BAD_OVERRIDES = [
    ("eval", "samples_per_class=0", "samples_per_class=0: use a whole number >= 1"),
    ("eval", "batch_size=abc", "batch_size='abc': use a whole number >= 1"),
    ("eval", "ink_threshold=2", "ink_threshold=2: use a number in (0, 1)"),
    ("eval", "interpolation.steps=1", "interpolation.steps=1: use a whole number >= 2"),
    ("eval", "eda.outlier_std=0", "eda.outlier_std=0: use a number > 0"),
    ("eval", "leaderboard.budget_s=abc", "leaderboard.budget_s='abc': use the training seconds per entry (> 0)"),
    ("eval", "leaderboard.grace_s=-1", "leaderboard.grace_s=-1: use a number >= 0"),
    ("eval", "leaderboard.checkpoint=first", "leaderboard.checkpoint='first': use one of best, last"),
    ("eval", "leaderboard.max_epochs=0", "leaderboard.max_epochs=0: use a whole number >= 1, or -1 for no epoch"),
    ("eval", "metrics.report=[domain,fid]", "metrics.report=['domain', 'fid']: use a list of distinct names from "),
    ("eval", "metrics.report=[ink,ink]", "metrics.report=['ink', 'ink']: use a list of distinct names from "),
    ("eval", "metrics.report=ink", "metrics.report='ink': use a list of distinct names from "),
    ("bench", "steps=0", "steps=0: use a whole number >= 1"),
    ("bench", "precision=8-mixed", "precision='8-mixed': use one of 32-true"),
    ("bench", "sweep.concurrency=[2,0]", "sweep.concurrency=[2, 0]: use a list of whole numbers >= 1"),
]


@pytest.mark.parametrize("entry,override,message", ENTRY_BAD_OVERRIDES, ids=[o for _, o, _ in ENTRY_BAD_OVERRIDES])
def test_evaluate_and_bench_settings_are_checked_too(tmp_path, entry, override, message):
    check_config(compose_config(entry, [], tmp_path, tmp_path))  # as shipped
    with pytest.raises(ConfigError) as err:
        check_config(compose_config(entry, [override], tmp_path, tmp_path))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_settings_combined_on_the_command_line_pass(train_config):
    check_config(
        train_config(
            "model=cdcgan",
            "data.attributes={style:2}",
            "trainer.precision=bf16-mixed",
            "model.diff_augment.translation=0.125",
            "seed=null",
        )
    )


def test_unknown_group_choices_list_the_choices():
    with pytest.raises(ConfigError, match="model=nope is not a config in model/: choose one of acgan, acgan_ema, best"):
        check_group_choices(["model=nope"], CONFIG_DIR)
    with pytest.raises(ConfigError, match="data=nope is not a config in data/"):
        check_group_choices(["-m", "data=glyphs,nope"], CONFIG_DIR)
    check_group_choices(
        [
            "model=cgan",
            "+experiment=glyphs_best",
            "hydra/launcher=basic",
            "~logger",
            "data.batch_size=3",
            "model=cgan,cdcgan",
            "logger=null",
            "--cfg",
            "job",
        ],
        CONFIG_DIR,
    )


def refused_in_one_line(result, message: str) -> None:
    """The command stopped with exit code 2 and ``condgan: error: <message>`` as its only error line."""
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert error_lines(result) == [f"condgan: error: {message}"]


def test_the_command_line_refuses_before_building_anything(tmp_path):
    result = run_here("train.py", "data.batch_size=0", *QUIET, cwd=tmp_path)
    assert result.returncode == 2
    assert error_lines(result) == ["condgan: error: data.batch_size=0: use a whole number >= 1"]
    assert "Traceback" not in result.stderr and not list(tmp_path.rglob("*.ckpt"))
    refused_in_one_line(
        run_here("evaluate.py", "samples_per_class=0", cwd=tmp_path), "samples_per_class=0: use a whole number >= 1"
    )
    result = run_here("evaluate.py", "task=eda", "data=nope", cwd=tmp_path)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "data=nope is not a config in data/: choose one of" in line and "glyphs" in line
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_setting_lightning_refuses_is_one_line_naming_the_group(tmp_path):
    refused_in_one_line(
        run_here("train.py", "trainer.max_time=abc", *QUIET, cwd=tmp_path),
        "trainer: `Timer(duration='abc')` is not a valid duration. Expected a string in the format DD:HH:MM:SS.",
    )


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_on_a_machine_without_one_is_one_line(tmp_path):
    refused_in_one_line(
        run_here("train.py", "trainer=gpu", *QUIET, cwd=tmp_path),
        "trainer.accelerator=gpu with trainer.devices=1: torch sees 0 CUDA GPU(s) on this machine; use trainer=cpu, "
        "the default trainer (accelerator auto picks what there is) or fewer trainer.devices",
    )
    refused_in_one_line(
        run_here("condgan/pipelines/bench.py", "device=cuda", cwd=tmp_path),
        "device=cuda: torch sees 0 CUDA GPU(s) on this machine; use device=auto or device=cpu",
    )


COMPOSITION_ERRORS = [
    ("model.foo=1", "model.foo is not a setting of this config: check the spelling (python train.py --cfg job"),
    ("hydra.job.nope=1", "hydra.job.nope is not a setting of this config"),
    ("+model.foo=1", "model.foo is not a setting of condgan.models.cgan.CGAN: remove it"),
    ("model.noise_dim=[1", "no viable alternative at input '[1'"),
]


@pytest.mark.parametrize("override,message", COMPOSITION_ERRORS, ids=[o for o, _ in COMPOSITION_ERRORS])
def test_keys_hydra_cannot_compose_are_one_line_too(tmp_path, override, message):
    result = run_here("train.py", "model=cgan", override, *QUIET, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = error_lines(result)
    assert line.startswith(f"condgan: error: {message}")
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_batch_larger_than_the_training_set_is_one_line(train_config):
    from condgan.pipelines.train import train

    with pytest.raises(
        ConfigError,
        match=r"glyphs: \d+ training images make no whole batch of data.batch_size=4096; "
        r"use a data.batch_size of at most \d+",
    ):
        train(train_config("data.batch_size=4096", "trainer.max_epochs=1"))
