"""One validation pass over a composed config before anything is built, and over the command line's
config-group choices before Hydra composes: a bad value is one line naming the key, the value and
what is allowed."""

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from condgan.data.arithmetic import FORMS
from condgan.errors import ConfigError
from condgan.metrics.suites import REPORT_SUITES
from condgan.models.losses import LOSSES
from condgan.nets.seq2seq import CELLS

PRECISIONS = ("32-true", "32", "64-true", "64", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "transformer-engine")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer_at_least(low: int) -> tuple[Callable, str]:
    """Rule: a whole number >= ``low``."""
    return (lambda v: _integer(v) and v >= low), f"a whole number >= {low}"


def number_in(low: float, high: float, low_open: bool = False, high_open: bool = False) -> tuple[Callable, str]:
    """Rule: a number in the interval from ``low`` to ``high`` (each end open or closed)."""

    def check(v) -> bool:
        return _number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return check, f"a number in {interval}"


def positive_number() -> tuple[Callable, str]:
    """Rule: a number > 0."""
    return (lambda v: _number(v) and v > 0), "a number > 0"


def non_negative_number() -> tuple[Callable, str]:
    """Rule: a number >= 0."""
    return (lambda v: _number(v) and v >= 0), "a number >= 0"


def one_of(choices: Iterable[str]) -> tuple[Callable, str]:
    """Rule: one of ``choices``."""
    choices = tuple(choices)
    return (lambda v: v in choices), f"one of {', '.join(choices)}"


def betas() -> tuple[Callable, str]:
    """Rule: Adam's two betas, each in [0, 1)."""
    return (
        lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.5, 0.999]",
    )


def whole_numbers_at_least(low: int) -> tuple[Callable, str]:
    """Rule: a non-empty list of whole numbers >= ``low``."""
    return (
        lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_integer(w) and w >= low for w in v),
        f"a non-empty list of whole numbers >= {low}",
    )


def epoch_limit() -> tuple[Callable, str]:
    """Rule: a number of epochs to train, or -1 for none (the time budget stops training)."""
    return (
        lambda v: _integer(v) and (v == -1 or v >= 1),
        "a whole number >= 1, or -1 for no epoch limit (with trainer.max_time)",
    )


def names_from(choices: Iterable[str]) -> tuple[Callable, str]:
    """Rule: a list of distinct names, each one of ``choices``."""
    choices = tuple(choices)
    return (
        lambda v: isinstance(v, (list, tuple)) and len(set(v)) == len(v) and all(name in choices for name in v),
        f"a list of distinct names from {', '.join(choices)} (in the order wanted; [] for none)",
    )


def boolean() -> tuple[Callable, str]:
    """Rule: true or false."""
    return (lambda v: isinstance(v, bool)), "true or false"


def auto_or_boolean() -> tuple[Callable, str]:
    """Rule: auto, true or false."""
    return (lambda v: v in ("auto", True, False)), "auto, true or false"


def precision() -> tuple[Callable, str]:
    """Rule: one of Lightning's precision names."""
    return (lambda v: str(v) in PRECISIONS), f"one of {', '.join(PRECISIONS)}"


def optional(rule: tuple[Callable, str]) -> tuple[Callable, str]:
    """Rule: null, or what ``rule`` allows."""
    check, allowed = rule
    return (lambda v: v is None or check(v)), f"null or {allowed}"


# key -> (check, what is allowed), for train.py's, evaluate.py's and make bench's configs; a key a
# config does not have is not checked. `*` matches every key at that level (the optimisers of both
# networks, every DiffAugment strength, every attribute)
RULES: dict[str, tuple[Callable, str]] = {
    # train.py (and its groups wherever they appear: data for task=eda, metrics for evaluate.py)
    "seed": optional(integer_at_least(0)),
    "cpu_threads": optional(integer_at_least(1)),
    "data.batch_size": integer_at_least(1),
    "data.image_size": integer_at_least(8),
    "data.channels": (lambda v: _integer(v) and v in (1, 3), "1 or 3"),
    "data.num_classes": integer_at_least(1),
    "data.val_fraction": number_in(0, 1, high_open=True),
    "data.num_workers": integer_at_least(0),
    "data.download": boolean(),
    "data.preprocess.resize": boolean(),
    "data.preprocess.remove_outliers": optional(positive_number()),
    "data.preprocess.denoise": optional(integer_at_least(3)),
    "data.preprocess.sharpen": optional(non_negative_number()),
    "data.on_device": auto_or_boolean(),
    "data.samples_per_class": integer_at_least(1),
    "data.test_samples_per_class": integer_at_least(1),
    "data.attributes.*": integer_at_least(2),
    "data.augment.rotation": non_negative_number(),
    "data.augment.shift": number_in(0, 1),
    "data.augment.shear": non_negative_number(),
    "data.augment.zoom": number_in(0, 1, high_open=True),
    "data.augment.crop_padding": integer_at_least(0),
    "data.augment.hflip": boolean(),
    "data.seed": integer_at_least(0),
    "data.style_threshold": (lambda v: _integer(v) and 0 <= v <= 255, "a whole number in 0..255 (a uint8 intensity)"),
    "data.operand_max": (
        lambda v: _integer(v) and 0 <= v <= 99,
        "a whole number in 0..99 (operands of at most two digits)",
    ),
    "data.operators": one_of(("+-", "-+", "+", "-")),
    "data.query_form": one_of(FORMS),
    "data.answer_form": one_of(FORMS),
    "data.test_fraction": number_in(0, 1, low_open=True, high_open=True),
    "data.train_fraction": number_in(0, 1, low_open=True),
    "model.noise_dim": integer_at_least(1),
    "model.latent_dim": integer_at_least(1),
    "model.generator.width": integer_at_least(1),
    "model.discriminator.width": integer_at_least(1),
    "model.generator.embed_dim": optional(integer_at_least(1)),
    "model.discriminator.embed_dim": optional(integer_at_least(1)),
    "model.generator.widths": whole_numbers_at_least(1),
    "model.discriminator.widths": whole_numbers_at_least(1),
    "model.optim.lr": positive_number(),
    "model.optim.betas": optional(betas()),
    "model.optim.*.lr": positive_number(),
    "model.optim.*.betas": optional(betas()),
    "model.optimizer.lr": positive_number(),
    "model.optimizer.betas": optional(betas()),
    "model.cell": one_of(CELLS),
    "model.hidden": integer_at_least(1),
    "model.embed_dim": integer_at_least(1),
    "model.encoder_layers": integer_at_least(1),
    "model.decoder_layers": integer_at_least(1),
    "model.dropout": number_in(0, 1, high_open=True),
    "model.cnn_width": integer_at_least(1),
    "model.image_hidden": integer_at_least(1),
    "model.style_width": integer_at_least(1),
    "model.style_dim": integer_at_least(0),
    "model.read_weight": non_negative_number(),
    "model.text_weight": non_negative_number(),
    "model.optim.*.fused": auto_or_boolean(),
    "model.cuda_graph": boolean(),
    "model.channels_last": boolean(),
    "model.compile": (
        lambda v: v is None or isinstance(v, dict),
        "null or torch.compile's options, e.g. {mode: default}",
    ),
    "model.loss": one_of(LOSSES),
    "model.real_label": number_in(0, 1, low_open=True),
    "model.n_critic": integer_at_least(1),
    "model.gradient_penalty": non_negative_number(),
    "model.r1_penalty": non_negative_number(),
    "model.r1_every": integer_at_least(1),
    "model.aux_weight": non_negative_number(),
    "model.recon_weight": non_negative_number(),
    "model.kl_weight": non_negative_number(),
    "model.lr_warmup_steps": integer_at_least(0),
    "model.init_std": positive_number(),
    "model.ema_start": integer_at_least(0),
    "model.clip_value": optional(positive_number()),
    "model.grad_clip": optional(positive_number()),
    "model.*.dropout": number_in(0, 1, high_open=True),
    "model.*.bn_momentum": optional(number_in(0, 1)),
    "model.ema_half_life": optional(positive_number()),
    "model.ema_rampup": optional(positive_number()),
    "model.ema_decay": optional(number_in(0, 1, high_open=True)),
    "model.diff_augment.translation": number_in(0, 1),
    "model.diff_augment.cutout": number_in(0, 1),
    "model.diff_augment.*": non_negative_number(),
    "trainer.max_epochs": epoch_limit(),
    "trainer.min_epochs": optional(integer_at_least(0)),
    "trainer.log_every_n_steps": integer_at_least(0),
    "trainer.precision": precision(),
    "trainer.benchmark": optional(boolean()),
    "metrics.every_n_epochs": integer_at_least(1),
    "metrics.*.epochs": integer_at_least(1),
    "metrics.*.batch_size": integer_at_least(1),
    "metrics.*.lr": positive_number(),
    "metrics.*.widths": whole_numbers_at_least(1),
    "metrics.*.feature_dim": integer_at_least(1),
    "metrics.*.pooled_size": integer_at_least(1),
    "metrics.*.dropout": number_in(0, 1, high_open=True),
    "metrics.*.samples": integer_at_least(1),
    "metrics.kid_subsets": integer_at_least(1),
    "metrics.kid_subset_size": integer_at_least(2),
    "metrics.per_class_min_images": integer_at_least(1),
    "metrics.pr_k": integer_at_least(1),
    "metrics.report": names_from(REPORT_SUITES),
    "callbacks.*.samples_per_class": integer_at_least(1),
    "callbacks.*.every_n_epochs": integer_at_least(1),
    "callbacks.*.batch_size": integer_at_least(1),
    "callbacks.*.images": integer_at_least(1),
    "callbacks.progress_bar.every_n_batches": integer_at_least(1),
    # evaluate.py
    "samples_per_class": integer_at_least(1),
    "grid_samples_per_class": integer_at_least(1),
    "grid_truncation": optional(positive_number()),
    "batch_size": integer_at_least(1),
    "intensity_bins": integer_at_least(2),
    "ink_threshold": number_in(0, 1, low_open=True, high_open=True),
    "answers_shown": integer_at_least(1),
    "interpolation.steps": integer_at_least(2),
    "interpolation.rows": integer_at_least(1),
    "eda.outlier_std": positive_number(),
    "eda.samples_per_class": integer_at_least(1),
    "eda.outliers_shown": integer_at_least(0),
    "leaderboard.budget_s": (positive_number()[0], "the training seconds per entry (> 0)"),
    "leaderboard.grace_s": non_negative_number(),
    "leaderboard.max_epochs": epoch_limit(),
    "leaderboard.checkpoint": one_of(("best", "last")),
    "leaderboard.reuse_runs": boolean(),
    # make bench
    "precision": precision(),
    "steps": integer_at_least(1),
    "warmup": integer_at_least(0),
    "repeats": integer_at_least(1),
    "fid_samples": integer_at_least(1),
    "cuda_graph": boolean(),
    "profile.steps": integer_at_least(0),
    "profile.rows": integer_at_least(1),
    "sweep.concurrency": (
        lambda v: isinstance(v, (list, tuple)) and all(_integer(n) and n >= 1 for n in v),
        "a list of whole numbers >= 1 (empty: no sweep)",
    ),
    "sweep.trials": integer_at_least(1),
    "sweep.epochs": integer_at_least(1),
    "sweep.batches": integer_at_least(1),
}


def _matches(rule_key: str, container, prefix: str = "") -> Iterable[tuple[str, object]]:
    """``(key, value)`` of every config entry the rule's key (with ``*`` wildcards) names."""
    head, _, rest = rule_key.partition(".")
    if not isinstance(container, dict):
        return
    names = list(container) if head == "*" else [head] if head in container else []
    for name in names:
        key = f"{prefix}{name}"
        if rest:
            yield from _matches(rest, container[name], key + ".")
        elif not (head == "*" and isinstance(container[name], dict)):
            yield key, container[name]


def visible_cuda_gpus() -> int:
    """How many CUDA GPUs torch can use on this machine."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_devices(trainer: dict) -> None:
    """A trainer that asks for CUDA GPUs (``accelerator`` gpu or cuda, ``devices`` a count or a
    list) on a machine with fewer is a :class:`ConfigError` saying what to pick instead (an Apple
    GPU counts for ``gpu``)."""
    accelerator, devices = str(trainer.get("accelerator", "auto")), trainer.get("devices", 1)
    if accelerator not in ("gpu", "cuda") or (accelerator == "gpu" and torch.backends.mps.is_available()):
        return
    wanted = devices if _integer(devices) and devices > 0 else len(devices) if isinstance(devices, list) else 1
    if visible_cuda_gpus() < wanted:
        raise ConfigError(
            f"trainer.accelerator={accelerator} with trainer.devices={devices}: torch sees {visible_cuda_gpus()} "
            "CUDA GPU(s) on this machine; use trainer=cpu, the default trainer (accelerator auto picks what "
            "there is) or fewer trainer.devices"
        )


def check_config(cfg: DictConfig) -> None:
    """Every value :data:`RULES` names is what it allows, else a :class:`ConfigError` naming the
    key, the value and what is allowed (the first rule a key matches decides); then the trainer's
    devices must exist here (:func:`check_devices`)."""
    try:
        values = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # an interpolation that cannot resolve
        hint = (
            "; the model reads a data setting this dataset lacks: the seq2seq_* models go with data=arithmetic, "
            "the image models with the image datasets"
            if "Interpolation key 'data." in str(err)
            else ""
        )
        raise ConfigError(f"the config does not resolve: {' '.join(str(err).split())}{hint}") from err
    checked = set()
    for rule_key, (check, allowed) in RULES.items():
        for key, value in _matches(rule_key, values):
            if key in checked:
                continue
            checked.add(key)
            if not check(value):
                raise ConfigError(f"{key}={value!r}: use {allowed}")
    check_devices(values.get("trainer") or {})


def check_group_choices(overrides: Iterable[str], config_dir: str | Path) -> None:
    """A ``group=name`` command-line override (also ``+group=``, ``++group=``, a sweep's
    ``group=a,b``) must name a config in ``config_dir/group/``; else a :class:`ConfigError`
    listing the choices. Deletions (``~group``), Hydra's own groups (``hydra/...``, which plugins
    extend) and sweep functions are left to Hydra."""
    config_dir = Path(config_dir)
    for override in overrides:
        key, sep, value = override.lstrip("+").partition("=")
        if not sep or key.startswith(("~", "hydra")):
            continue
        group = config_dir / key.split("@")[0]
        if not group.is_dir() or any(c in value for c in "()[]{}*$"):
            continue
        choices = sorted(p.stem for p in group.glob("*.yaml"))
        for name in value.split(","):
            if name not in ("null", "") and name not in choices:
                raise ConfigError(f"{key}={name} is not a config in {group.name}/: choose one of {', '.join(choices)}")
