"""The model's networks and their sizes in one log line at the start of training."""

import logging

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count
from typing_extensions import override

log = logging.getLogger(__name__)


class CompactModelSummary(ModelSummary):
    """Lightning's model summary as one line (each network's type and parameters, the total and its
    size): readable in a log file, and without the FLOPs column, which Lightning cannot count for
    models without an example input (it printed 0)."""

    @staticmethod
    @override
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **kwargs,
    ) -> None:
        columns = dict(summary_data)
        networks = "; ".join(
            f"{name} ({kind}, {params})"
            for name, kind, params in zip(columns["Name"], columns["Type"], columns["Params"])
        )
        log.info(
            "model: %s; %s parameters (%s trainable), %.1f MB",
            networks,
            get_human_readable_count(total_parameters),
            get_human_readable_count(trainable_parameters),
            model_size,
        )
