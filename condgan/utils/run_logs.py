"""Scalars a training run logged, read back from its TensorBoard event files (and summarised for
reports), and the run's entry in TensorBoard's HPARAMS tab."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import (
    SCALARS,
    EventAccumulator,
)
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from condgan.utils.plots import loss_curves


def flat_settings(settings: Mapping, prefix: str = "") -> dict[str, int | float | str | bool]:
    """Nested settings as ``{"model.optim.generator.lr": 0.0002, ...}``; lists and nulls as text."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_settings(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def write_hparams_entry(writer: SummaryWriter, settings: Mapping, metric_tags: Sequence[str]) -> None:
    """Add the run to TensorBoard's HPARAMS tab: its settings, with the last logged values of
    ``metric_tags`` (scalars of the same run) as its metric columns."""
    experiment, session_start, session_end = hparams(flat_settings(settings), {tag: 0.0 for tag in metric_tags})
    file_writer = writer._get_file_writer()
    for summary in (experiment, session_start, session_end):
        file_writer.add_summary(summary)
    writer.flush()


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every event file under ``run_dir`` (empty when none)."""
    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for events in sorted(Path(run_dir).rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={SCALARS: 0})
        accumulator.Reload()
        for tag in accumulator.Tags()[SCALARS]:
            scalars[tag] += [(event.step, event.value) for event in accumulator.Scalars(tag)]
    return {tag: sorted(points) for tag, points in scalars.items()}


def training_summary(run_dir: Path, out: Path) -> dict:
    """Final values (mean of the last 10 logged points) of every scalar the run logged, and a
    loss-curve plot of its ``train/*loss*`` scalars."""
    scalars = read_scalars(run_dir / "tensorboard")
    if not scalars:
        return {"skipped": f"no TensorBoard logs under {run_dir / 'tensorboard'}"}
    scalars.pop("epoch", None)
    summary = {"final": {tag: float(np.mean([v for _, v in points[-10:]])) for tag, points in scalars.items()}}
    losses = {tag: points for tag, points in scalars.items() if tag.startswith("train/") and "loss" in tag}
    if losses:
        summary["loss_curves"] = str(loss_curves(losses, "training losses", out / "loss_curves.png"))
    return summary
