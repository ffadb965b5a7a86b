"""Scalars a training run logged, read back from its TensorBoard event files."""

from collections import defaultdict
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import (
    SCALARS,
    EventAccumulator,
)


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every event file under ``run_dir`` (empty when none)."""
    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for events in sorted(Path(run_dir).rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={SCALARS: 0})
        accumulator.Reload()
        for tag in accumulator.Tags()[SCALARS]:
            scalars[tag] += [(event.step, event.value) for event in accumulator.Scalars(tag)]
    return {tag: sorted(points) for tag, points in scalars.items()}
