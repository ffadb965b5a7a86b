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


def objective_by_trial(
    numbers: Sequence[int], values: Sequence[float | None], direction: str, title: str, path: str | Path
) -> Path:
    """A hyperparameter search's objective per trial (failed trials as red marks at the bottom) and
    the best value so far."""
    figure, axis = plt.subplots(figsize=(8, 4))
    done = sorted((n, v) for n, v in zip(numbers, values) if v is not None)
    bottom = min(v for _, v in done) if done else 0.0
    if done:
        xs, ys = zip(*done)
        best = np.minimum.accumulate(ys) if direction == "minimize" else np.maximum.accumulate(ys)
        axis.scatter(xs, ys, color="tab:blue", s=18, label="trial")
        axis.step(xs, best, where="post", color="tab:orange", label="best so far")
    failed = [n for n, v in zip(numbers, values) if v is None]
    if failed:
        axis.scatter(failed, [bottom] * len(failed), marker="x", color="tab:red", label="failed")
    axis.set(title=title, xlabel="trial", ylabel="objective")
    axis.legend(fontsize="small")
    return _save(figure, path)


def per_class_distributions(
    values: Sequence[np.ndarray],
    names: Sequence[str],
    title: str,
    ylabel: str,
    path: str | Path,
    thresholds: Sequence[float] | None = None,
) -> Path:
    """A box plot per class, with an optional per-class threshold marked."""
    figure, axis = plt.subplots(figsize=(_width(len(names)), 4))
    axis.boxplot(list(values), showfliers=True, flierprops={"markersize": 2})
    if thresholds is not None:
        axis.scatter(
            range(1, len(names) + 1), thresholds, marker="_", s=200, color="tab:red", label="outlier threshold"
        )
        axis.legend(fontsize="small")
    axis.set_xticks(range(1, len(names) + 1), names, rotation=90 if len(names) > 20 else 0)
    axis.set(title=title, ylabel=ylabel)
    return _save(figure, path)


def image_panels(
    images: Sequence[np.ndarray], titles: Sequence[str], path: str | Path, columns: int = 8, panel_width: float = 3.5
) -> Path:
    """Images (uint8 ``[H, W]`` or ``[H, W, C]``) side by side, ``columns`` per row, each titled;
    e.g. the (labelled) class grids of several runs in one picture."""
    rows = -(-len(images) // columns)
    columns = min(columns, len(images))
    aspect = max(image.shape[0] / image.shape[1] for image in images)
    figure, axes = plt.subplots(
        rows, columns, squeeze=False, figsize=(panel_width * columns, panel_width * aspect * rows + 0.5 * rows)
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles):
        gray = image.ndim == 2 or image.shape[2] == 1
        axis.imshow(
            image.squeeze(2) if image.ndim == 3 and gray else image,
            cmap="gray" if gray else None,
            vmin=0,
            vmax=255,
            interpolation="nearest",
        )
        axis.set_title(title, fontsize="medium")
    return _save(figure, path)


def answer_distribution(true: Sequence[int], predicted: Sequence[int | None], title: str, path: str | Path) -> Path:
    """Report 002's Figures 11-12: histograms of the true and of the predicted answer values
    (answers that write no number left out), and of each wrong number's distance from the truth."""
    figure, (values, errors) = plt.subplots(1, 2, figsize=(12, 4))
    written = [p for p in predicted if p is not None]
    low, high = min([*true, *written]), max([*true, *written])
    bins = np.arange(low - 0.5, high + 5.5, 5)
    values.hist(
        [list(true), written],
        bins=bins,
        histtype="step",
        linewidth=1.2,
        label=["true", f"predicted ({len(true) - len(written)} not a number)"],
    )
    values.set(title=title, xlabel="answer", ylabel="test queries")
    values.legend(fontsize="small")
    wrong = [p - t for p, t in zip(predicted, true) if p is not None and p != t]
    if wrong:
        errors.hist(wrong, bins=np.arange(min(wrong) - 0.5, max(wrong) + 1.5, 1), color="tab:red")
    else:
        errors.text(0.5, 0.5, "no wrong numbers", ha="center", va="center", transform=errors.transAxes)
    errors.set(title=f"predicted - true of the {len(wrong)} wrong numbers", xlabel="difference", ylabel="test queries")
    return _save(figure, path)
