"""Every config group composes, and every model x data pair instantiates consistently."""

import re
import sys
from functools import cache
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from condgan.data.base import TensorImageDataModule
from condgan.models.base import GenerativeModule
from condgan.pipelines.common import CONFIG_DIR
from tests.conftest import compose_config
from tests.pinned_experiments import composed_values, moved_keys, pinned_values

CONF = Path(CONFIG_DIR)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@cache
def built_class(group: str, name: str) -> type:
    """The class a model or data config builds (its ``_target_``, or that of the config it extends)."""
    cfg = OmegaConf.load(CONF / group / f"{name}.yaml")
    if "_target_" in cfg:
        return get_class(cfg._target_)
    extended = next(d for d in cfg.defaults if isinstance(d, str) and d != "_self_" and not d.startswith("base/"))
    return built_class(group, extended.split("@")[0])


def image_options(group: str) -> list[str]:
    """The ``model`` configs of image generators (GANs, autoencoders) or the ``data`` configs of
    labelled image sets; the arithmetic sequence models and their data are the others."""
    base = GenerativeModule if group == "model" else TensorImageDataModule
    return [name for name in options(group) if issubclass(built_class(group, name), base)]


def sequence_options(group: str) -> list[str]:
    """The ``model`` / ``data`` configs of the arithmetic sequence models."""
    images = image_options(group)
    return [name for name in options(group) if name not in images]


def test_groups_exist():
    for group in (
        "data",
        "model",
        "trainer",
        "logger",
        "callbacks",
        "paths",
        "hydra",
        "experiment",
        "debug",
        "metrics",
    ):
        assert options(group), f"conf/{group} has no options"
    assert {"default", "cpu", "gpu", "ddp"} <= set(options("trainer"))
    assert {"tensorboard", "csv"} <= set(options("logger"))


def test_the_readme_names_each_models_class_and_networks_file():
    """The README's model table (name -> class (networks file)) lists every image model and says
    what its config builds, so a newcomer can go from a config name to the code."""
    readme = (CONF.parent.parent / "README.md").read_text()
    section = readme[readme.index("## Models (`model=...`)") : readme.index("Every model offers")]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \(`nets/(\w+)\.py`\) \|", section, flags=re.MULTILINE)
    assert sorted(name for name, _, _ in rows) == image_options("model")
    for name, class_name, nets in rows:
        cls = built_class("model", name)
        assert cls.__name__ == class_name, name
        imported = {obj.__module__ for obj in vars(sys.modules[cls.__module__]).values() if isinstance(obj, type)}
        assert f"condgan.nets.{nets}" in imported, f"{class_name}'s networks are not in nets/{nets}.py"


@cache
def composed(group: str, name: str) -> DictConfig:
    """``train.py``'s config composed with ``group=name``, once per test process."""
    return compose_config("train", [f"{group}={name}"], Path("unused"), Path("unused"))


@pytest.mark.parametrize("model", image_options("model"))
@pytest.mark.parametrize("data", image_options("data"))
def test_every_model_composes_with_every_dataset(model, data, tmp_path):
    """Each pair as Hydra composes it: the model and data groups are separate nodes of the config
    (neither's defaults touch the other), so the pair is the model node of the model's composition
    beside the data node of the dataset's, with the other settings they read (the accelerator, the
    data folder); the interpolations between them resolve here."""
    cfg = OmegaConf.create(
        {
            "model": composed("model", model).model,
            "data": composed("data", data).data,
            "trainer": {"accelerator": composed("model", model).trainer.accelerator},
            "paths": {"data_dir": str(tmp_path)},
        }
    )
    OmegaConf.resolve(cfg)
    assert cfg.model.num_classes == cfg.data.num_classes
    assert cfg.model.channels == cfg.data.channels and cfg.model.image_size == cfg.data.image_size
    datamodule = instantiate(cfg.data)
    model_ = instantiate(cfg.model)
    images = model_.generate(range(cfg.data.num_classes), 1)
    assert images.shape == (cfg.data.num_classes, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    assert datamodule.num_classes == model_.num_classes == len(datamodule.class_names)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose(experiment, tmp_path):
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path, tmp_path)
    OmegaConf.resolve(cfg)
    instantiate(cfg.model)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_trains_with_its_pinned_values(experiment):
    pinned = pinned_values()
    assert experiment in pinned, (
        f"experiment={experiment} is not in tests/pinned_experiments.yaml: run make pin-experiments"
    )
    moved = moved_keys(pinned[experiment], composed_values(experiment))
    assert not moved, (
        f"experiment={experiment} no longer composes to its pinned values (a base config changed?):\n"
        + "\n".join(moved)
        + "\nif that is intended, run make pin-experiments and commit tests/pinned_experiments.yaml"
    )


def test_pinned_experiments_are_the_experiments():
    assert sorted(pinned_values()) == options("experiment")


def test_a_changed_base_default_moves_the_pinned_values():
    pinned = pinned_values()["mnist_cdcgan"]
    assert not moved_keys(pinned, composed_values("mnist_cdcgan"))
    moved = moved_keys(pinned, composed_values("mnist_cdcgan", ("model.real_label=0.8", "+data.extra=1")))
    assert moved == [
        "data.extra: (absent) -> 1",
        f"model.real_label: {pinned['model.real_label']!r} -> 0.8",
    ]


@pytest.mark.parametrize("preset", options("debug"))
def test_debug_presets_compose(preset, tmp_path):
    cfg = compose_config("train", [f"debug={preset}"], tmp_path, tmp_path)
    assert cfg.task_name == "debug"


@pytest.mark.parametrize("trainer", options("trainer"))
@pytest.mark.parametrize("logger", options("logger"))
def test_trainer_and_logger_options_compose(trainer, logger, tmp_path):
    cfg = compose_config("train", [f"trainer={trainer}", f"logger={logger}"], tmp_path, tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    assert all("_target_" in entry for entry in cfg.logger.values())


def test_a_report_without_a_checkpoint_is_a_one_line_error(tmp_path):
    from condgan.errors import ConfigError
    from condgan.pipelines.evaluate import evaluate

    cfg = compose_config("eval", [], tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="evaluate.py needs ckpt_path=") as err:
        evaluate(cfg)
    assert "\n" not in str(err.value) and not list(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="task=eda needs a dataset"):
        evaluate(compose_config("eval", ["task=eda"], tmp_path, tmp_path))
    with pytest.raises(ConfigError, match="unknown task='nope'"):
        evaluate(compose_config("eval", ["task=nope"], tmp_path, tmp_path))
    with pytest.raises(ConfigError, match="grid_truncation=-1: use null or a number > 0"):
        evaluate(compose_config("eval", [f"ckpt_path={tmp_path}", "grid_truncation=-1"], tmp_path, tmp_path))


@pytest.mark.parametrize(
    "accelerator,batch_size,lr,half_life,width",
    [("cpu", 64, 2.0e-4, 10000, 64), ("gpu", 512, 4.0e-4, 50000, 128), ("cuda", 512, 4.0e-4, 50000, 128)],
)
def test_best_recipe_scales_batch_lr_ema_width_and_steps_with_the_device(
    accelerator, batch_size, lr, half_life, width, tmp_path
):
    cfg = compose_config(
        "train", ["experiment=fashion_mnist_best", f"trainer.accelerator={accelerator}"], tmp_path, tmp_path
    )
    OmegaConf.resolve(cfg)
    assert cfg.data.batch_size == batch_size
    assert cfg.model.optim.generator.lr == cfg.model.optim.discriminator.lr == lr
    assert cfg.model.ema_half_life == half_life and cfg.model.ema_decay is None
    assert cfg.model.generator.width == cfg.model.discriminator.width == width
    assert cfg.model.generator.embed_dim == cfg.model.discriminator.embed_dim == 5
    assert cfg.model.channels_last is True
    on_gpu = accelerator != "cpu"
    assert cfg.model.cuda_graph is on_gpu
    every = 4 if on_gpu else 1
    assert cfg.trainer.check_val_every_n_epoch == cfg.metrics.every_n_epochs == every
    assert cfg.callbacks.domain_metrics.every_n_epochs == cfg.callbacks.class_grid.every_n_epochs == every


def test_on_gpu_resolver_follows_cuda_for_auto(monkeypatch):
    import torch

    from condgan.utils.resolvers import on_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert on_gpu("auto", "big", "small") == "big"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert on_gpu("auto", "big", "small") == "small" and on_gpu("gpu", 1, 2) == 1 and on_gpu("cpu", 1, 2) == 2


@pytest.mark.parametrize("bf16_units", [True, False])
def test_fast_precision_picks_bf16_only_where_the_cpu_or_gpu_computes_it(monkeypatch, tmp_path, bf16_units):
    import torch

    from condgan.utils.resolvers import fast_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16_units)
    expected = "bf16-mixed" if bf16_units else "32-true"
    assert fast_precision("cpu") == fast_precision("auto") == expected
    cfg = compose_config("train", ["experiment=fashion_mnist_best", "trainer.accelerator=cpu"], tmp_path, tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.trainer.precision == expected and cfg.model.channels_last is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: not bf16_units)
    assert fast_precision("gpu") == ("32-true" if bf16_units else "bf16-mixed")


def test_train_py_without_arguments_runs_the_demo(monkeypatch):
    import sys

    import condgan.pipelines.train as entry

    seen = []
    monkeypatch.setattr(entry, "main", lambda: seen.append(list(sys.argv)))
    for argv in (["train.py"], ["train.py", "model=cgan"], ["train.py", "--cfg", "job"]):
        monkeypatch.setattr(sys, "argv", list(argv))
        entry.run()
    assert seen == [["train.py", "experiment=glyphs_best"], ["train.py", "model=cgan"], ["train.py", "--cfg", "job"]]
