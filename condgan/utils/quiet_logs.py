"""Third-party start-up chatter that tells a user nothing they can act on, filtered from the console
and the run's log; real warnings stay."""

import logging
import warnings

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
