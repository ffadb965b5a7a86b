"""``evaluate.py task=leaderboard``: train every configured entry for the same wall-time budget on one
dataset, and compare them in one report folder (the eval run's ``paths.output_dir``).

Each entry runs ``python -m condgan.pipelines.train <leaderboard.overrides> <entry overrides>`` in a
fresh process with ``trainer.max_time`` set to ``leaderboard.budget_s`` and ``trainer.max_epochs``
to ``leaderboard.max_epochs`` (-1: only the time stops it). Its run folder is ``runs/<name>/``
(``console.log``: its output); its full report (:func:`condgan.pipelines.report.evaluate_checkpoint`
of ``checkpoints/<leaderboard.checkpoint>.ckpt``, else ``last.ckpt``) goes to ``<name>/``. An entry
that fails is recorded with its last error line, and the others still run.

Written here: ``leaderboard.md`` / ``leaderboard.json`` (a row per entry and the floor row: the
dataset's validation split, in the class mix the entries generate, against the report's reference
split through the same metric function and domain classifier as the generated images),
``domain_fid.png`` (a bar per entry) and ``grids.png`` (every entry's class grid beside real
validation images, labelled).
"""

import json
import logging
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from condgan.data.statistics import class_column, class_matched_indices
from condgan.errors import ConfigError
from condgan.metrics.classifier import DomainClassifier, classifier_for
from condgan.metrics.suites import domain_metrics
from condgan.models.checkpoint import read_checkpoint
from condgan.pipelines.common import compose_train_config, device_name, resolve_device
from condgan.pipelines.report import evaluate_checkpoint, reference_split, run_checkpoint
from condgan.utils.images import real_class_grid
from condgan.utils.plots import bar_chart, image_panels
from condgan.utils.resolvers import on_gpu

log = logging.getLogger(__name__)

FLOOR = "real vs real (floor)"
NAME = re.compile(r"[A-Za-z0-9._-]+")
# a Python exception line of a traceback, e.g. "ValueError: ..." or "hydra.errors.X: ..."
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
HYDRA_HINT = "Set the environment variable HYDRA_FULL_ERROR"

# table columns: (header, key of an entry's summary, format)
COLUMNS = (
    ("domain FID", "fid", "{:.3f}"),
    ("domain KID", "kid", "{:.4f}"),
    ("class FID worst/best", "class_fid_ratio", "{:.2f}"),
    ("worst class (KID)", "worst_class", "{}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("cond. acc.", "conditional_accuracy", "{:.3f}"),
    ("train wall time (s)", "wall_time_s", "{:.0f}"),
    ("fit time (s)", "fit_time_s", "{:.0f}"),
    ("epochs (best/last)", "epochs", "{}"),
)


@dataclass
class Entry:
    """One leaderboard contestant: a folder-safe name and its ``train.py`` overrides."""

    name: str
    overrides: list[str]


def entries_of(settings: DictConfig) -> list[Entry]:
    """The configured entries, checked before anything is trained."""
    entries = []
    for i, item in enumerate(settings.entries or []):
        name, overrides = item.get("name"), item.get("overrides") or []
        if not name or not NAME.fullmatch(str(name)) or name == "runs":
            raise ConfigError(
                f"leaderboard.entries[{i}].name={name!r}: give every entry a folder name of letters, digits, "
                "'.', '_' or '-' (not 'runs')"
            )
        if any(entry.name == name for entry in entries):
            raise ConfigError(f"leaderboard.entries: the name {name!r} is used twice")
        entries.append(Entry(str(name), [str(o) for o in overrides]))
    if not entries:
        raise ConfigError("leaderboard.entries is empty; list {name: ..., overrides: [...]} items to compare")
    return entries


def max_time(seconds: float) -> str:
    """Lightning's ``trainer.max_time`` string "DD:HH:MM:SS", rounded up to whole seconds."""
    minutes, secs = divmod(math.ceil(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}"


def quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar (paths may hold any character)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def training_command(entry: Entry, common: list[str], settings: DictConfig, run_dir: Path, data_dir: Path) -> list[str]:
    """The ``train.py`` command line of one entry: the common overrides, the budget, the entry's own
    overrides (so an entry may set e.g. ``trainer.max_epochs`` for an ``lr_schedule``), then what
    the leaderboard needs: the run folder, the shared data folder (and classifier cache), no progress
    bar. The first epoch finishes past the budget (``trainer.min_epochs=1``), so every entry has a
    validated, checkpointed epoch to compare."""
    return [
        sys.executable,
        "-m",
        "condgan.pipelines.train",
        *common,
        f"trainer.max_time={quoted(max_time(settings.budget_s))}",
        f"trainer.max_epochs={settings.max_epochs}",
        "trainer.min_epochs=1",
        *entry.overrides,
        f"hydra.run.dir={quoted(str(run_dir))}",
        f"paths.data_dir={quoted(str(data_dir))}",
        "callbacks.progress_bar=null",
    ]


def error_line(output: str) -> str:
    """The line of a failed run's output that says what went wrong: condgan's one-line error, else
    the exception of a traceback or Hydra's message, else the last unindented line."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line[0].isspace() and not line.startswith(HYDRA_HINT)
    ]
    for line in reversed(lines):
        if line.startswith("condgan: error:"):
            return line.removeprefix("condgan: error:").strip()
    for line in reversed(lines):
        if EXCEPTION_LINE.match(line) or line.startswith(("In '", "Could not", "Error merging", "Error parsing")):
            return line
    return lines[-1] if lines else "no output"


def run_training(command: list[str], run_dir: Path, timeout_s: float) -> dict:
    """Run one entry's training; returns its exit code, wall time and (when it failed) error line.
    Its output goes to ``run_dir/console.log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    console = run_dir / "console.log"
    start = time.perf_counter()
    with console.open("w") as stream:
        try:
            returncode = subprocess.run(
                command, stdout=stream, stderr=subprocess.STDOUT, check=False, timeout=timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            returncode = None
    result = {"returncode": returncode, "wall_time_s": time.perf_counter() - start, "console": str(console)}
    if returncode is None:
        result["error"] = f"stopped after {timeout_s:.0f} s (leaderboard.budget_s + leaderboard.grace_s)"
    elif returncode != 0:
        result["error"] = error_line(console.read_text(errors="replace"))
    return result


def epochs_of(checkpoint: dict) -> int | None:
    """Epochs whose training batches ran before the checkpoint was written. Lightning's ``epoch``
    key counts differently by when a checkpoint is saved (best.ckpt at validation: the epoch's
    0-based index; last.ckpt at the end of training: the epochs completed), so read the fit loop's
    progress, and fall back to ``epoch`` (+1 for the index) in checkpoints without it."""
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        epoch = checkpoint.get("epoch")
        return None if epoch is None else int(epoch) + 1


def fit_seconds(checkpoint: dict) -> float | None:
    """Training seconds Lightning's Timer (``trainer.max_time``) counted up to the checkpoint."""
    timer = (checkpoint.get("callbacks") or {}).get("Timer") or {}
    return timer.get("time_elapsed", {}).get("train")


def run_facts(run_dir: Path) -> dict:
    """Epochs trained by the best and the last checkpoint, the fit time the budget limited (from the
    last checkpoint's Timer) and the run's precision."""
    facts = {"epochs": {}, "fit_time_s": None}
    for name in ("best", "last"):
        path = run_dir / "checkpoints" / f"{name}.ckpt"
        if path.is_file():
            checkpoint = read_checkpoint(path)
            facts["epochs"][name] = epochs_of(checkpoint)
            facts["fit_time_s"] = fit_seconds(checkpoint)
    run_config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    facts["precision"] = str(OmegaConf.select(run_config, "trainer.precision", default="?"))
    return facts


def floor_metrics(classifier: DomainClassifier, datamodule, per_class: int, settings: dict, seed: int) -> dict:
    """The real-vs-real floor: validation images in the class mix each entry generates (``per_class``
    per class on average, following the reference split's class frequencies; fewer where the
    validation split runs short) against the whole reference split, through the entries' metric function."""
    val, k = datamodule.reference_set("val"), datamodule.num_classes
    real_images, real_labels, reference = reference_split(datamodule)
    val_labels = class_column(val.labels)
    chosen = class_matched_indices(val_labels, real_labels, k, k * per_class, torch.Generator().manual_seed(seed))
    if len(chosen) < 2:
        return {"skipped": f"the validation split has {len(chosen)} images (data.val_fraction)"}
    return domain_metrics(
        classifier, (real_images, real_labels), (val.images[chosen], val_labels[chosen]), k, settings, reference
    )


def real_grid(datamodule, per_class: int) -> np.ndarray:
    """A class grid (uint8 ``[H, W, C]``) of the first validation images, ``per_class`` per row
    labelled with the class names, gray where a class has fewer."""
    val = datamodule.val_set
    return (
        real_class_grid(val.images, class_column(val.labels), datamodule.class_names, per_class)
        .permute(1, 2, 0)
        .numpy()
    )


def summary_of(metrics: dict, class_names: list[str]) -> dict:
    """The table's numbers from a report's metrics, or from :func:`domain_metrics`'s result itself
    (``{}`` when they were skipped)."""
    domain = metrics.get("domain") if "domain" in metrics else metrics
    if not domain or "fid" not in domain:
        return {}
    summary = {
        "fid": domain["fid"],
        "kid": domain["kid"]["mean"],
        "precision": domain["precision"],
        "recall": domain["recall"],
        "conditional_accuracy": domain["conditional_accuracy"],
    }
    reliable = [
        (fid, name)
        for fid, ok, name in zip(domain["per_class_fid"], domain["per_class_fid_reliable"], class_names)
        if fid is not None and ok
    ]
    if reliable:
        worst, best = max(reliable), min(reliable)
        summary["class_fid_ratio"] = worst[0] / best[0] if best[0] > 0 else None
    kids = [(kid, name) for kid, name in zip(domain["per_class_kid"], class_names) if kid is not None]
    if kids:
        summary["worst_class"] = max(kids)[1]
    return summary


def earlier_training(previous: dict, command: list[str], run_dir: Path) -> dict | None:
    """What an earlier leaderboard in the same folder recorded of this entry's training, when it ran
    the same command to the end and its run folder still holds a checkpoint; else None."""
    row = next((r for r in previous.get("entries", []) if r.get("command") == command), None)
    if row is None or row.get("returncode") != 0 or run_checkpoint(run_dir, "last") is None:
        return None
    return {key: row[key] for key in ("returncode", "wall_time_s", "console")}


def set_aside(run_dir: Path) -> None:
    """Rename an entry's earlier run folder (``<name>.before-<time>``), so a new training neither
    mixes with its checkpoints (Lightning would add ``last-v1.ckpt`` beside them) nor deletes them."""
    if run_dir.exists():
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(run_dir.stat().st_mtime))
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.before-{stamp}"))


def train_and_report(
    entry: Entry, common: list[str], cfg: DictConfig, out: Path, data_dir: Path, previous: dict
) -> dict:
    """Train one entry in its own process (or, with ``leaderboard.reuse_runs``, take the training an
    earlier leaderboard in ``out`` finished with the same command), then report its checkpoint;
    never raises for the entry's own failures, which are recorded in the returned row."""
    settings = cfg.leaderboard
    run_dir = out / "runs" / entry.name
    command = training_command(entry, common, settings, run_dir, data_dir)
    row = {"name": entry.name, "overrides": entry.overrides, "command": command, "run_dir": str(run_dir)}
    earlier = earlier_training(previous, command, run_dir) if settings.reuse_runs else None
    if earlier is not None:
        log.info("leaderboard: %s was trained by an earlier leaderboard here; reporting it again", entry.name)
        row.update(earlier)
    else:
        set_aside(run_dir)
        log.info("leaderboard: training %s for %s s: %s", entry.name, settings.budget_s, " ".join(command))
        row.update(run_training(command, run_dir, settings.budget_s + settings.grace_s))
    log.info("leaderboard: %s finished in %.0f s (exit code %s)", entry.name, row["wall_time_s"], row["returncode"])
    if "error" in row:
        return {**row, "status": "failed"}
    ckpt = run_checkpoint(run_dir, settings.checkpoint)
    if ckpt is None:
        return {**row, "status": "failed", "error": f"no checkpoint in {run_dir / 'checkpoints'}"}
    try:
        row.update(run_facts(run_dir))
        report = evaluate_checkpoint(ckpt, cfg, out / entry.name)
    except Exception as err:  # one entry's broken report must not lose the others' hours of training
        log.exception("leaderboard: the report of %s failed", entry.name)
        return {**row, "status": "failed", "error": f"report: {type(err).__name__}: {' '.join(str(err).split())}"}
    row.update(
        status="ok",
        checkpoint=str(ckpt),
        report=str(out / entry.name / "report.md"),
        class_grid=report["pictures"].get("class_grid"),
        summary=summary_of(report["metrics"], report["class_names"]),
    )
    if "skipped" in report["metrics"]:
        row["error"] = f"metrics skipped: {report['metrics']['skipped']}"
    return row


def ranked(rows: list[dict]) -> list[dict]:
    """Entries with a domain FID, lowest first, then the others in their configured order."""

    def key(row: dict) -> tuple:
        fid = row.get("summary", {}).get("fid")
        return (0, fid) if isinstance(fid, float) and math.isfinite(fid) else (1, 0.0)

    return sorted(rows, key=key)


def cell(value, fmt: str) -> str:
    """A table cell: ``value`` formatted, "-" when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value).replace("|", "\\|")


def table_row(rank: str, label: str, row: dict) -> str:
    """One markdown table row of an entry (or of the floor)."""
    summary = {**row.get("summary", {}), "wall_time_s": row.get("wall_time_s"), "fit_time_s": row.get("fit_time_s")}
    epochs = row.get("epochs")
    summary["epochs"] = f"{epochs.get('best', '-')}/{epochs.get('last', '-')}" if epochs else None
    status = row["status"] if "error" not in row else f"{row['status']}: {row['error']}"
    cells = [rank, label, *(cell(summary.get(key), fmt) for _, key, fmt in COLUMNS), cell(status[:300], "{}")]
    return "| " + " | ".join(cells) + " |"


def markdown(board: dict) -> str:
    """``leaderboard.md``: the setup in the header, a row per entry (best first) and the floor."""
    header = board["setup"]
    lines = [
        f"# Leaderboard: {header['dataset']}, {header['budget_s']:g} s of training per entry",
        "",
        f"- device: {header['device']}; torch {header['torch']}, Lightning {header['lightning']}; "
        f"precision {', '.join(header['precision'])}",
        f"- budget: `trainer.max_time={header['max_time']}`, `trainer.max_epochs={header['max_epochs']}` "
        "(the first epoch always finishes); fit time: Lightning's timer of the fit loop, which the budget "
        "limits; train wall time: the whole training process, start-up and data loading included",
        f"- common overrides: `{' '.join(header['overrides']) or '(none)'}`",
        f"- metrics: {header['generated']} against the {header['reference']}; domain classifier test "
        f"accuracy {header['classifier_test_accuracy']:.3f}; checkpoint: {header['checkpoint']} "
        "(lowest val/fid_domain; last.ckpt where there is none)",
        f"- floor: {header['floor_images']} validation images, in the entries' class mix, against the same "
        "reference split through the same metric function and classifier",
        f"- per class: FID worst/best over the classes with at least {header['per_class_min_images']} reference "
        "and generated images (`metrics.per_class_min_images`); worst class: highest per-class KID",
        "",
        "| rank | entry | " + " | ".join(h for h, _, _ in COLUMNS) + " | status |",
        "|" + "---|" * (len(COLUMNS) + 3),
        table_row("-", FLOOR, board["floor"]),
    ]
    for rank, row in enumerate(ranked(board["entries"]), 1):
        label = f"[{row['name']}]({row['name']}/report.md)" if "report" in row else row["name"]
        lines.append(table_row(str(rank) if row["status"] == "ok" else "-", label, row))
    lines += ["", "Entries (train.py overrides after the common ones; output in `runs/<entry>/console.log`):", ""]
    lines += [f"- **{row['name']}**: `{' '.join(row['overrides'])}`" for row in board["entries"]]
    if board.get("pictures"):
        lines += [""] + [f"![{name}]({Path(path).name})" for name, path in board["pictures"].items()]
    return "\n".join(lines) + "\n"


def write_board(board: dict, out: Path) -> None:
    """``leaderboard.json`` and ``leaderboard.md`` (rewritten after every entry, so a long run shows its progress)."""
    (out / "leaderboard.json").write_text(json.dumps(board, indent=2, default=str))
    (out / "leaderboard.md").write_text(markdown(board))


def draw_pictures(board: dict, datamodule, grid_per_class: int, out: Path) -> dict:
    """``domain_fid.png`` (a bar per entry and the floor) and ``grids.png`` (the class grids)."""
    rows = [board["floor"], *board["entries"]]
    names = [FLOOR if row is board["floor"] else row["name"] for row in rows]
    fids = [row.get("summary", {}).get("fid") for row in rows]
    pictures = {
        "domain_fid": str(
            bar_chart(
                fids,
                names,
                f"domain FID after {board['setup']['budget_s']:g} s of training (lower is better)",
                "domain FID",
                out / "domain_fid.png",
            )
        )
    }
    grids = [
        (row["name"], np.asarray(Image.open(row["class_grid"]))) for row in board["entries"] if row.get("class_grid")
    ]
    panels = [("real (validation split)", real_grid(datamodule, grid_per_class)), *grids]
    pictures["grids"] = str(image_panels([p for _, p in panels], [t for t, _ in panels], out / "grids.png"))
    return pictures


def setup_of(cfg: DictConfig, shared: DictConfig, datamodule, classifier: DomainClassifier, floor: dict) -> dict:
    """The header facts of the table: dataset, budget, device, versions, protocol."""
    settings = cfg.leaderboard
    _, real_labels, reference = reference_split(datamodule)
    return {
        "dataset": datamodule.name,
        "budget_s": float(settings.budget_s),
        "max_time": max_time(settings.budget_s),
        "max_epochs": settings.max_epochs,
        "device": device_name(
            resolve_device("cuda" if on_gpu(str(shared.trainer.accelerator), True, False) else "cpu")
        ),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "precision": [str(shared.trainer.precision)],
        "overrides": [str(o) for o in settings.overrides or []],
        "checkpoint": settings.checkpoint,
        "reference": f"{reference}, {len(real_labels)} images",
        "generated": f"{cfg.samples_per_class} generated images per class on average (labels in the reference's "
        "class mix)",
        "per_class_min_images": cfg.metrics.per_class_min_images,
        "classifier_test_accuracy": classifier.test_accuracy,
        "classifier": classifier.info.get("cache_file"),
        "floor_images": floor.get("protocol", {}).get("generated", 0),
    }


def run_leaderboard(cfg: DictConfig) -> dict:
    """Train every entry of ``cfg.leaderboard`` for its budget, report each, and write the comparison."""
    settings, out = cfg.leaderboard, Path(cfg.paths.output_dir)
    if "domain" not in cfg.metrics.report:
        raise ConfigError(
            "task=leaderboard ranks the entries by domain FID: keep domain in metrics.report "
            f"(now {list(cfg.metrics.report)})"
        )
    entries = entries_of(settings)
    common = [str(o) for o in settings.overrides or []]
    data_dir = Path(cfg.paths.data_dir).resolve()
    shared = compose_train_config([*common, f"paths.data_dir={quoted(str(data_dir))}"])
    datamodule: L.LightningDataModule = hydra.utils.instantiate(shared.data)
    datamodule.prepare_data()
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True)
    # trained (or found) before the entries, so no entry's wall time pays for it; they find it cached
    classifier = classifier_for(
        datamodule, metrics["classifier"], metrics["classifier_cache_dir"], resolve_device(cfg.device)
    )
    floor = floor_metrics(classifier, datamodule, cfg.samples_per_class, metrics, cfg.seed)
    board = {
        "setup": setup_of(cfg, shared, datamodule, classifier, floor),
        "floor": {
            "name": FLOOR,
            "metrics": floor,
            "summary": summary_of(floor, datamodule.class_names),
            **(
                {"status": "skipped", "error": floor["skipped"]}
                if "skipped" in floor
                else {"status": "val split vs test split"}
            ),
        },
        "entries": [],
    }
    board_file = out / "leaderboard.json"
    previous = json.loads(board_file.read_text()) if settings.reuse_runs and board_file.is_file() else {}
    out.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        board["entries"].append(train_and_report(entry, common, cfg, out, data_dir, previous))
        write_board(board, out)
    precisions = {row["precision"] for row in board["entries"] if "precision" in row}
    board["setup"]["precision"] = sorted(precisions) or board["setup"]["precision"]
    board["pictures"] = draw_pictures(board, datamodule, cfg.grid_samples_per_class, out)
    write_board(board, out)
    log.info("leaderboard of %d entries: %s", len(entries), out / "leaderboard.md")
    return board
