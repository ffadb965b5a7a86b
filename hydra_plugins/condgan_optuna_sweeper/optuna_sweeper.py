"""``hydra/sweeper=optuna``: minimise (or maximise) what the task returns with an Optuna study.

Each trial is one job of the configured launcher (``hydra/launcher=concurrent`` runs ``n_jobs`` at
once); its return value, ``train.py``'s ``optimized_metric``, is told to the study. The study lives in
``storage`` (a SQLite file by default), so a second invocation with the same ``study_name`` continues
it until ``n_trials`` trials have finished there. After every batch, ``optuna_trials.json`` in the
sweep folder lists every trial of the study (number, state, value, parameters, folder), best first,
for ``evaluate.py`` and for people.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from typing_extensions import override

from condgan.errors import ConfigError

if TYPE_CHECKING:  # Hydra imports every plugin at start-up: Optuna itself only when a sweep uses it
    import optuna

log = logging.getLogger(__name__)

RESULTS_FILE = "optuna_trials.json"


def _finished(study: optuna.Study) -> list:
    """The study's trials that have ended (completed, failed or pruned)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED))


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _sqlite_folder(storage: str | None) -> Path | None:
    """The folder of a ``sqlite:///<path>`` storage (created before Optuna opens the file)."""
    prefix = "sqlite:///"
    return Path(storage[len(prefix) :]).parent if storage and storage.startswith(prefix) else None


def _output_dir(result) -> str | None:
    """The run folder of a launched job (its ``hydra.runtime.output_dir``)."""
    hydra_cfg = getattr(result, "hydra_cfg", None)
    return str(hydra_cfg.hydra.runtime.output_dir) if hydra_cfg is not None else None


class OptunaSweeper(Sweeper):
    """Hydra sweeper that samples each trial's overrides from an Optuna study (see the module doc)."""

    def __init__(
        self,
        study_name: str,
        storage: str | None = None,
        direction: str = "minimize",
        n_trials: int = 20,
        n_jobs: int = 1,
        sampler: Any = None,
        params: dict[str, str] | None = None,
    ) -> None:
        if n_trials < 1 or n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_trials and n_jobs must be at least 1, got {n_trials} and {n_jobs}")
        if direction not in ("minimize", "maximize"):
            raise ConfigError(f"hydra.sweeper.direction must be minimize or maximize, got {direction!r}")
        self.study_name, self.storage, self.direction = study_name, storage, direction
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.sampler_config, self.params = sampler, params
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    @override
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def study(self) -> optuna.Study:
        """The study, created or loaded; a seeded sampler continuing a study is seeded with the seed plus
        the trials already finished, so that it does not repeat the earlier invocations' first draws."""
        import optuna

        folder = _sqlite_folder(self.storage)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        sampler = self.sampler_config
        if isinstance(sampler, (dict, DictConfig)):
            seed = sampler.get("seed")
            sampler = instantiate(sampler, **({"seed": seed + self._finished_before()} if seed is not None else {}))
        return optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=sampler,
            direction=self.direction,
            load_if_exists=True,
        )

    def _finished_before(self) -> int:
        import optuna

        if self.storage is None:
            return 0
        try:
            earlier = optuna.load_study(study_name=self.study_name, storage=self.storage)
        except KeyError:  # no such study yet
            return 0
        return len(_finished(earlier))

    @override
    def sweep(self, arguments: list[str]) -> list:
        from optuna.trial import TrialState

        from hydra_plugins.condgan_optuna_sweeper.search_space import override_text, search_space

        assert self.config is not None and self.launcher is not None
        params = (
            OmegaConf.to_container(self.params, resolve=True) if isinstance(self.params, DictConfig) else self.params
        )
        space, fixed = search_space(list(arguments), params)
        if not space:
            raise ConfigError(
                "hydra/sweeper=optuna needs a search space: hparams_search=<name>, or sweep overrides "
                "such as 'model.optim.generator.lr=tag(log,interval(1e-5,1e-3))' or data.batch_size=64,128"
            )
        study = self.study()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        folders = self._known_folders(sweep_dir)
        finished = len(_finished(study))
        log.info(
            "Optuna study %r (%s): %d of %d trials finished, searching %s",
            self.study_name,
            self.storage or "in memory",
            finished,
            self.n_trials,
            ", ".join(space),
        )
        returns = []
        while finished < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - finished))]
            batch = [[*fixed, *(f"{key}={override_text(trial.params[key])}" for key in space)] for trial in trials]
            try:
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            except BaseException:  # a config the checks refuse, Ctrl+C: the asked trials end as failed
                for trial in trials:
                    study.tell(trial, state=TrialState.FAIL)
                raise
            for trial, result in zip(trials, results):
                self._tell(study, trial, result)
                folders[trial.number] = _output_dir(result)
            returns.append(results)
            finished = len(_finished(study))
            self._write_results(study, sweep_dir, folders)
        self._write_results(study, sweep_dir, folders)
        if any(trial.state == TrialState.COMPLETE for trial in study.trials):
            log.info(
                "best trial %d: objective %.6g with %s",
                study.best_trial.number,
                study.best_value,
                " ".join(f"{key}={override_text(value)}" for key, value in study.best_params.items()),
            )
        return returns

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, result) -> None:
        from optuna.trial import TrialState

        try:
            value = result.return_value
        except Exception as err:  # the job failed: Hydra re-raises its exception here
            log.warning("trial %d failed: %s", trial.number, _one_line(err))
            study.tell(trial, state=TrialState.FAIL)
            return
        if value is None or not math.isfinite(float(value)):
            log.warning("trial %d returned %r, not a number: recorded as failed", trial.number, value)
            study.tell(trial, state=TrialState.FAIL)
            return
        study.tell(trial, float(value))

    @staticmethod
    def _known_folders(sweep_dir: Path) -> dict[int, str | None]:
        """Trial folders recorded by an earlier invocation of the same sweep folder."""
        results = sweep_dir / RESULTS_FILE
        if not results.is_file():
            return {}
        return {row["number"]: row.get("folder") for row in json.loads(results.read_text())["trials"]}

    def _write_results(self, study: optuna.Study, sweep_dir: Path, folders: dict[int, str | None]) -> None:
        sign = 1 if self.direction == "minimize" else -1
        rows = [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": t.params,
                "folder": folders.get(t.number),
            }
            for t in study.get_trials(deepcopy=False)
        ]
        rows.sort(key=lambda row: (row["value"] is None, sign * (row["value"] or 0.0), row["number"]))
        summary = {
            "study_name": self.study_name,
            "storage": self.storage,
            "direction": self.direction,
            "n_trials": self.n_trials,
            "trials": rows,
        }
        (sweep_dir / RESULTS_FILE).write_text(json.dumps(summary, indent=2))
