"""``evaluate.py``: ``task=report`` (default) reports a checkpoint, a run or every run of a multirun
folder (:mod:`condgan.pipelines.report`); ``task=eda`` explores a dataset (:mod:`condgan.pipelines.eda`);
``task=leaderboard`` trains configs for the same time and compares them (:mod:`condgan.pipelines.leaderboard`)."""

import hydra
from omegaconf import DictConfig

from condgan.errors import ConfigError
from condgan.pipelines.common import CONFIG_DIR, reporting_config_errors, reporting_user_errors
from condgan.pipelines.config_checks import check_config
from condgan.pipelines.eda import explore
from condgan.pipelines.leaderboard import run_leaderboard
from condgan.pipelines.report import evaluate_runs

TASKS = {"report": evaluate_runs, "eda": explore, "leaderboard": run_leaderboard}


def evaluate(cfg: DictConfig) -> dict:
    """Run the configured task and return what it wrote (also saved as JSON in the run folder)."""
    if cfg.task not in TASKS:
        raise ConfigError(f"unknown task={cfg.task!r}; choose one of {', '.join(TASKS)}")
    check_config(cfg)
    return TASKS[cfg.task](cfg)


@reporting_config_errors
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@reporting_user_errors
def main(cfg: DictConfig) -> None:
    """``evaluate.py``: :func:`evaluate` with the composed config."""
    evaluate(cfg)
