"""Third-party start-up chatter that tells a user nothing they can act on, filtered from the console
and the run's log, and Lightning's warnings that a condgan resume answers; real warnings stay."""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from typing_extensions import override

# log lines (by their start) of Lightning's loggers
CHATTER_LINES = (
    "💡 Tip:",  # advertisements for Lightning's cloud services
    "Trainer already configured with model summary callbacks",
    "`weights_only` was not set, defaulting to `False`",  # every checkpoint save
)
# warnings (regular expressions matched at their start) of dependencies' internals
CHATTER_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's use of a torch API
)
# Lightning's warnings on a resume: from a mid-epoch checkpoint whose dataloader saves no position;
# into a checkpoint folder that is not empty
MID_EPOCH_RESUME_WARNING = r"You're resuming from a checkpoint that ended before the epoch ended"
CHECKPOINT_FOLDER_WARNING = r"Checkpoint directory .* exists and is not empty"
LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
)


class ChatterFilter(logging.Filter):
    """Drops the log records that start with one of :data:`CHATTER_LINES`."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(CHATTER_LINES)


def quiet_third_party_chatter() -> None:
    """Install the filters (once per process)."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ChatterFilter) for f in logger.filters):
            logger.addFilter(ChatterFilter())
    for message in CHATTER_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


@contextmanager
def resume_warnings_answered(saves_epoch_position: bool, resuming: bool) -> Iterator[None]:
    """Inside the block, Lightning's resume warnings that do not apply to this run are dropped:

    - that a resume from a mid-epoch checkpoint is unreliable unless the dataloader saves its
      position, for data that saves it itself (``saves_epoch_position``: condgan's DataModules,
      :class:`~condgan.data.batching.MidEpochResume`) and so continues the epoch exactly;
    - when ``resuming``, that the checkpoint folder is not empty: it holds the run's own checkpoints,
      and a ModelCheckpoint resumes with the best it had recorded.
    """
    with warnings.catch_warnings():
        if saves_epoch_position:
            warnings.filterwarnings("ignore", message=MID_EPOCH_RESUME_WARNING)
        if resuming:
            warnings.filterwarnings("ignore", message=CHECKPOINT_FOLDER_WARNING)
        yield
