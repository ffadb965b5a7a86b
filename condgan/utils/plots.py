"""Matplotlib figures of reports and EDA, saved as PNG (headless Agg backend)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend must be chosen before pyplot is imported


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _width(n: int) -> float:
    return min(max(6.0, 0.3 * n), 24.0)


def bar_chart(values: Sequence[float | None], names: Sequence[str], title: str, ylabel: str, path: str | Path) -> Path:
    """One bar per name (missing values drawn as empty slots)."""
    figure, axis = plt.subplots(figsize=(_width(len(names)), 4))
    heights = [np.nan if v is None else v for v in values]
    axis.bar(range(len(names)), heights, color="tab:blue")
    axis.set_xticks(range(len(names)), names, rotation=90 if len(names) > 20 else 0)
    axis.set(title=title, ylabel=ylabel)
    return _save(figure, path)


def loss_curves(series: Mapping[str, Sequence[tuple[int, float]]], title: str, path: str | Path) -> Path:
    """One line per tag, over its logged steps."""
    figure, axis = plt.subplots(figsize=(8, 4))
    for tag, points in series.items():
        steps, values = zip(*points)
        axis.plot(steps, values, label=tag, linewidth=1, marker="." if len(steps) < 50 else None)
    axis.set(title=title, xlabel="step", ylabel="value")
    axis.legend(fontsize="small")
    return _save(figure, path)


def per_class_distributions(
    values: Sequence[np.ndarray], names: Sequence[str], title: str, ylabel: str, path: str | Path,
    thresholds: Sequence[float] | None = None,
) -> Path:
    """A box plot per class, with an optional per-class threshold marked."""
    figure, axis = plt.subplots(figsize=(_width(len(names)), 4))
    axis.boxplot(list(values), showfliers=True, flierprops={"markersize": 2})
    if thresholds is not None:
        axis.scatter(range(1, len(names) + 1), thresholds, marker="_", s=200, color="tab:red", label="outlier threshold")
        axis.legend(fontsize="small")
    axis.set_xticks(range(1, len(names) + 1), names, rotation=90 if len(names) > 20 else 0)
    axis.set(title=title, ylabel=ylabel)
    return _save(figure, path)
