"""``evaluate.py`` reports: every metric with its protocol and the pictures of one checkpoint, or
of every run under a (multi)run folder with a comparison table.

Per run: ``report.md``, ``report.json``, ``class_grid.png``, ``samples.npz`` (uint8 NHWC images,
int64 labels (``[N]``, or ``[N, 1 + attributes]`` rows named by ``label_columns``), class names),
``latent_interpolation.png``, ``label_interpolation.png``,
``per_class_fid.png``, ``per_class_kid.png``, ``loss_curves.png`` (from the run's TensorBoard logs),
``reconstructions.png`` (autoencoders), and the same pictures and numbers in ``tensorboard/``.

The generated labels follow the reference split's class frequencies (``samples_per_class`` per
class on average; uniform when the data is missing), as each metric's protocol records.
"""

import json
import logging
import re
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from condgan.data.base import to_signed_unit
from condgan.data.statistics import class_allocation, class_column
from condgan.errors import CheckpointError, CondganError, ConfigError
from condgan.metrics.classifier import classifier_for
from condgan.metrics.suites import REPORT_SUITES, ScoredSamples
from condgan.models import load_generative_model
from condgan.models.base import CHECKPOINT_KEY, GenerativeModule, check_truncation
from condgan.models.checkpoint import import_class, read_checkpoint
from condgan.models.sequence import is_sequence_checkpoint
from condgan.pipelines.common import report_header, resolve_device
from condgan.pipelines.sequence_report import SEQUENCE_COLUMNS, evaluate_sequence_checkpoint
from condgan.utils.images import class_grid, labelled_class_grid, save_png, to_uint8
from condgan.utils.interpolation import label_interpolation, latent_interpolation
from condgan.utils.plots import bar_chart, objective_by_trial
from condgan.utils.run_logs import training_summary
from condgan.utils.sampling import generate_counts, grid_samples

log = logging.getLogger(__name__)

# table columns of report.md: (header, path into a run's metrics, format)
COLUMNS = (
    ("domain FID", ("domain", "fid"), "{:.3f}"),
    ("domain KID", ("domain", "kid", "mean"), "{:.4f}"),
    ("cond. acc.", ("domain", "conditional_accuracy"), "{:.3f}"),
    ("precision", ("domain", "precision"), "{:.3f}"),
    ("recall", ("domain", "recall"), "{:.3f}"),
    ("KL", ("pixel_intensity", "kl"), "{:.4f}"),
    ("JS", ("pixel_intensity", "js"), "{:.4f}"),
    ("one piece", ("ink", "one_piece"), "{:.3f}"),
    ("one piece (real)", ("ink", "real_one_piece"), "{:.3f}"),
    ("Inception FID", ("inception", "fid"), "{:.2f}"),
)


def run_checkpoint(run_dir: Path, which: str) -> Path | None:
    """``checkpoints/<which>.ckpt`` of a run, else its ``last.ckpt`` (a run that never validated has
    no ``best.ckpt``), else None."""
    for name in (which, "last"):
        path = run_dir / "checkpoints" / f"{name}.ckpt"
        if path.is_file():
            if name != which:
                log.warning("%s has no checkpoints/%s.ckpt: using its last.ckpt", run_dir, which)
            return path
    return None


def find_checkpoints(path: str | Path, which: str) -> list[Path]:
    """The checkpoint itself, or ``checkpoints/<which>.ckpt`` (else ``last.ckpt``) of the run folder
    or of every run below a folder."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CheckpointError(f"{path} not found; pass ckpt_path=<a .ckpt file, a run folder or a multirun folder>")
    wanted = f"checkpoints/{which}.ckpt" + ("" if which == "last" else " or last.ckpt")
    runs = (
        [path]
        if (path / "checkpoints").is_dir()
        else sorted(folder.parent for folder in path.rglob("checkpoints") if folder.is_dir())
    )
    found = []
    for run in runs:
        ckpt = run_checkpoint(run, which)
        if ckpt is None:
            log.warning("%s skipped: no %s", run, wanted)
        else:
            found.append(ckpt)
    if not found:
        raise CheckpointError(f"no {wanted} under {path}; pass a .ckpt file, a run or a multirun folder")
    return found


def class_names_of(checkpoint: dict, num_classes: int) -> list[str]:
    """Class names the training data declared (saved with the DataModule's hyperparameters)."""
    names = (checkpoint.get("datamodule_hyper_parameters") or {}).get("class_names")
    return list(names) if names else [str(i) for i in range(num_classes)]


def rebuild_datamodule(checkpoint: dict, root: str | None = None) -> L.LightningDataModule:
    """The DataModule the checkpoint was trained on (reading its files from ``root`` when given),
    with its train/val and test splits loaded."""
    path = checkpoint[CHECKPOINT_KEY].get("datamodule_class")
    if path is None:
        raise CondganError("the checkpoint does not record its DataModule")
    hyperparameters = dict(checkpoint["datamodule_hyper_parameters"])
    if root is not None:
        hyperparameters["root"] = root
    datamodule = import_class(path, L.LightningDataModule)(**hyperparameters)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def export_samples(
    images: torch.Tensor, labels: torch.Tensor, path: Path, class_names: list[str], label_columns: list[str]
) -> Path:
    """Write the generated ``images`` and their label columns to ``path`` (``.npz``); returns the path."""
    np.savez_compressed(
        path,
        images=to_uint8(images).permute(0, 2, 3, 1).numpy(),
        labels=labels.numpy(),
        class_names=np.array(class_names),
        label_columns=np.array(label_columns),
    )
    return path


def reference_split(datamodule) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The real images the samples are scored against, their classes, and the split's name: the
    test split without the experiment's ``data.preprocess``, the same for every experiment on the
    dataset (:meth:`~condgan.data.base.TensorImageDataModule.reference_set`)."""
    test = datamodule.reference_set("test")
    return test.images, test.labels, datamodule.reference_name("test")


def generated_counts(datamodule, num_classes: int, per_class: int) -> torch.Tensor:
    """How many images of each class to generate: ``per_class`` on average, in the class mix of the
    reference split (uniform when there is no data to read it from)."""
    if datamodule is None:
        return torch.full((num_classes,), per_class)
    return class_allocation(reference_split(datamodule)[1], num_classes, num_classes * per_class)


def metrics_of(datamodule, images: torch.Tensor, labels: torch.Tensor, cfg: DictConfig, device: torch.device) -> dict:
    """The metric suites ``metrics.report`` names (:data:`~condgan.metrics.suites.REPORT_SUITES`), in
    its order, of the samples against the real :func:`reference_split`, each with its protocol; what
    cannot be computed here (Inception weights missing offline) is ``{"skipped": reason}``."""
    real_images, real_labels, reference = reference_split(datamodule)
    settings = OmegaConf.to_container(cfg.metrics, resolve=True)
    scored = ScoredSamples(
        real=(real_images, real_labels),
        fake=(images, class_column(labels)),
        num_classes=datamodule.num_classes,
        reference=reference,
        settings=settings,
        intensity_bins=cfg.intensity_bins,
        ink_threshold=cfg.ink_threshold,
        seed=cfg.seed,
        device=device,
        classifier=lambda: classifier_for(datamodule, settings["classifier"], settings["classifier_cache_dir"], device),
    )
    return {name: REPORT_SUITES[name](scored) for name in settings["report"]}


def pictures(model: GenerativeModule, datamodule, cfg: DictConfig, names: list[str]) -> dict[str, torch.Tensor]:
    """Class grid, interpolation strips and (autoencoders) reconstructions, as uint8 images; rows of
    classes are labelled with their ``names``."""
    k, steps = model.num_classes, cfg.interpolation.steps

    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(cfg.seed)

    classes = torch.linspace(0, k - 1, min(k, cfg.interpolation.rows)).round().long().unique()
    rows = model.with_attributes(classes)
    images = {
        "class_grid": labelled_class_grid(
            *grid_samples(model, cfg.grid_samples_per_class, seeded(), truncation=cfg.grid_truncation), names
        ),
        "latent_interpolation": labelled_class_grid(
            latent_interpolation(model, rows, steps, seeded()), steps, [names[c] for c in classes.tolist()]
        ),
    }
    if k > 1:
        pairs = zip(rows.tolist(), model.with_attributes((classes + 1) % k).tolist())
        images["label_interpolation"] = labelled_class_grid(
            label_interpolation(model, pairs, steps, seeded()),
            steps,
            [f"{names[c]} > {names[(c + 1) % k]}" for c in classes.tolist()],
        )
    if hasattr(model, "reconstruct") and datamodule is not None:
        n = cfg.grid_samples_per_class
        real = to_signed_unit(datamodule.test_set.images[:n])
        recon = model.reconstruct(real, datamodule.test_set.labels[:n]).cpu()
        images["reconstructions"] = class_grid(torch.cat([real, recon]), n)
    return images


def run_label(ckpt: Path, root: Path) -> str:
    """A short name of the run a checkpoint belongs to: its Hydra overrides, else its folder."""
    run_dir = ckpt.parent.parent
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        values = OmegaConf.load(overrides)
        if values:
            return " ".join(str(v) for v in values)
    return str(run_dir.relative_to(root)) if run_dir.is_relative_to(root) and run_dir != root else run_dir.name


def evaluate_checkpoint(ckpt: Path, cfg: DictConfig, out: Path) -> dict:
    """Samples, pictures and metrics of one checkpoint, written to ``out``; returns the report. An
    arithmetic sequence model gets its own report (:mod:`condgan.pipelines.sequence_report`)."""
    device = resolve_device(cfg.device)
    checkpoint = read_checkpoint(ckpt, cfg.trust_checkpoint)
    if is_sequence_checkpoint(checkpoint):
        return evaluate_sequence_checkpoint(ckpt, checkpoint, cfg, out)
    model = load_generative_model(checkpoint, device)
    names = class_names_of(checkpoint, model.num_classes)
    out.mkdir(parents=True, exist_ok=True)
    try:
        datamodule = rebuild_datamodule(checkpoint, cfg.data_root)
    except CondganError as err:
        datamodule, metrics = None, {"skipped": " ".join(str(err).split())}
        log.warning("metrics skipped: %s", metrics["skipped"])
    counts = generated_counts(datamodule, model.num_classes, cfg.samples_per_class)
    images, labels = generate_counts(model, counts, torch.Generator().manual_seed(cfg.seed), cfg.batch_size)
    if datamodule is not None:
        metrics = metrics_of(datamodule, images, labels, cfg, device)
    report = {
        "checkpoint": str(ckpt.resolve()),
        "model": type(model).__name__,
        "data": datamodule.name
        if datamodule is not None
        else checkpoint[CHECKPOINT_KEY].get("datamodule_class", "unknown").rsplit(".", 1)[-1],
        "epochs_trained": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "class_names": names,
        "attributes": model.attributes,
        "samples": str(export_samples(images, labels, out / "samples.npz", names, ["class", *model.attributes])),
        "samples_per_class": cfg.samples_per_class,
        "metrics": metrics,
        "training": training_summary(ckpt.parent.parent, out),
        "pictures": {},
    }
    writer = SummaryWriter(str(out / "tensorboard"))
    for name, picture in pictures(model, datamodule, cfg, names).items():
        report["pictures"][name] = str(save_png(picture, out / f"{name}.png"))
        writer.add_image(f"eval/{name}", picture)
    domain = report["metrics"].get("domain", {})
    if "per_class_fid" in domain:
        report["pictures"].update(per_class_charts(domain, names, out))
    for header, keys, _ in COLUMNS:
        value = lookup(report["metrics"], keys)
        if isinstance(value, float):
            writer.add_scalar(f"eval/{header.replace(' ', '_').replace('.', '')}", value)
    writer.add_text("eval/report", markdown(report))
    writer.close()
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    log.info("report of %s: %s", ckpt, out / "report.md")
    return report


def unreliable_marks(domain: dict) -> list[str]:
    """ "*" for each class whose per-class FID is unreliable (too few images), else ""."""
    return ["" if reliable else "*" for reliable in domain["per_class_fid_reliable"]]


def per_class_charts(domain: dict, names: list[str], out: Path) -> dict[str, str]:
    """``per_class_fid.png`` (unreliable classes' names marked *) and ``per_class_kid.png``."""
    marks = unreliable_marks(domain)
    marked = [name + mark for name, mark in zip(names, marks)]
    note = f" (*: under {domain['protocol']['per_class_min_images']} images, unreliable)" if any(marks) else ""
    return {
        "per_class_fid": str(
            bar_chart(domain["per_class_fid"], marked, f"domain FID per class{note}", "FID", out / "per_class_fid.png")
        ),
        "per_class_kid": str(
            bar_chart(domain["per_class_kid"], names, "domain KID per class", "KID", out / "per_class_kid.png")
        ),
    }


def per_class_table(domain: dict, names: list[str]) -> list[str]:
    """report.md's per-class rows: image counts, FID (* when unreliable), KID and conditional accuracy."""

    def number(value, fmt: str) -> str:
        return "-" if value is None else fmt.format(value)

    counts = domain["per_class_images"]
    lines = ["| class | reference images | generated | domain FID | domain KID | cond. acc. |", "|---" * 6 + "|"]
    for row in zip(
        names,
        counts["reference"],
        counts["generated"],
        domain["per_class_fid"],
        unreliable_marks(domain),
        domain["per_class_kid"],
        domain["per_class_accuracy"],
    ):
        name, real, fake, fid, mark, kid, acc = row
        fid_cell = number(fid, "{:.3f}" + mark)
        lines.append(f"| {name} | {real} | {fake} | {fid_cell} | {number(kid, '{:.4f}')} | {number(acc, '{:.3f}')} |")
    if any(unreliable_marks(domain)):
        lines += [
            "",
            f"\\* fewer than {domain['protocol']['per_class_min_images']} real or generated images of the "
            "class (`metrics.per_class_min_images`): its FID rests on a singular covariance and carries a "
            "bias that grows as the count falls; compare the KID instead.",
        ]
    return lines


def lookup(tree: dict, keys: tuple[str, ...]):
    """The value at the path ``keys`` in nested dicts, or None where the path ends early."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def table_row(label: str, report: dict, columns: tuple = COLUMNS) -> str:
    """One report's row of :func:`table` (``-`` for a metric it lacks)."""
    cells = [label, report["model"], report["data"], str(report["epochs_trained"])]
    for _, keys, fmt in columns:
        value = lookup(report["metrics"], keys)
        cells.append(fmt.format(value) if isinstance(value, (int, float)) else "-")
    return "| " + " | ".join(cells) + " |"


def table(rows: list[tuple[str, dict]], columns: tuple = COLUMNS) -> list[str]:
    """A markdown table comparing reports, one row per (label, report)."""
    headers = ["run", "model", "data", "epochs", *(header for header, _, _ in columns)]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + [table_row(label, report, columns) for label, report in rows]


def protocol_lines(metrics: dict) -> list[str]:
    """One line per metric: its protocol (sample counts, settings), or why it was skipped."""
    lines = []
    for name, result in metrics.items():
        if "skipped" in result:
            lines.append(f"- **{name}**: skipped ({result['skipped']})")
        else:
            details = ", ".join(
                f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in result.get("protocol", {}).items()
            )
            lines.append(f"- **{name}**: {details}")
    return lines


def markdown(report: dict) -> str:
    """``report.md`` of one run: the metric table, protocols, per-class numbers and pictures."""
    lines = report_header(report)
    lines += table([("this run", report)]) + ["", "## Protocols", ""]
    metrics = report["metrics"]
    lines += protocol_lines(metrics) if "skipped" not in metrics else [f"Metrics skipped: {metrics['skipped']}"]
    domain = metrics.get("domain", {})
    if "per_class_fid" in domain:
        lines += ["", "## Per class", ""] + per_class_table(domain, report["class_names"])
    final = report["training"].get("final", {})
    if final:
        lines += ["", "## End of training (mean of the last 10 logged values)", "", "| scalar | value |", "|---|---|"]
        lines += [f"| {tag} | {value:.4f} |" for tag, value in sorted(final.items())]
    lines += ["", "## Pictures", ""]
    for name, path in {
        **report["pictures"],
        **({"loss_curves": report["training"]["loss_curves"]} if "loss_curves" in report["training"] else {}),
    }.items():
        lines.append(f"![{name}]({Path(path).name})")
    return "\n".join(lines) + "\n"


def study_section(root: Path, rows: list[tuple[str, dict, str]], out: Path) -> tuple[list[str], dict] | None:
    """For a folder an Optuna sweep wrote (its ``optuna_trials.json``): the trials ranked by the
    objective, linked to their reports, and ``objective_by_trial.png``."""
    path = root / "optuna_trials.json"
    if not path.is_file():
        return None
    study = json.loads(path.read_text())
    reports = {Path(report["checkpoint"]).parent.parent.resolve(): folder for _, report, folder in rows}
    lines = [
        "",
        f"## Optuna study `{study['study_name']}` ({study['direction']}, {len(study['trials'])} trials)",
        "",
        "| rank | trial | objective | state | parameters |",
        "|---|---|---|---|---|",
    ]
    for rank, trial in enumerate(study["trials"], 1):
        folder = reports.get(Path(trial["folder"]).resolve()) if trial.get("folder") else None
        name = f"[{trial['number']}]({folder}/report.md)" if folder else str(trial["number"])
        value = "-" if trial["value"] is None else f"{trial['value']:.4f}"
        params = " ".join(f"{key}={value}" for key, value in trial["params"].items())
        lines.append(
            f"| {rank if trial['value'] is not None else '-'} | {name} | {value} | {trial['state']} | {params} |"
        )
    plot = objective_by_trial(
        [t["number"] for t in study["trials"]],
        [t["value"] for t in study["trials"]],
        study["direction"],
        f"Optuna study {study['study_name']}",
        out / "objective_by_trial.png",
    )
    lines += ["", f"![objective by trial]({plot.name})"]
    return lines, {**study, "objective_by_trial": str(plot)}


def evaluate_runs(cfg: DictConfig) -> dict:
    """Report every checkpoint that ``cfg.ckpt_path`` names; with several, also a comparison."""
    if not cfg.get("ckpt_path"):
        raise ConfigError(
            "evaluate.py needs ckpt_path=<a .ckpt file, a run folder or a multirun folder> (or task=eda data=<name>)"
        )
    check_truncation(cfg.grid_truncation)
    root, out = Path(cfg.ckpt_path), Path(cfg.paths.output_dir)
    checkpoints = find_checkpoints(root, cfg.checkpoint)
    if len(checkpoints) == 1:
        return evaluate_checkpoint(checkpoints[0], cfg, out)
    rows = []
    for ckpt in checkpoints:
        label = run_label(ckpt, root)
        folder = re.sub(r"[^A-Za-z0-9._=-]+", "_", str(ckpt.parent.parent.relative_to(root)))
        rows.append((label, evaluate_checkpoint(ckpt, cfg, out / folder), folder))
    lines = [f"# Comparison of {len(rows)} runs under `{root}`", ""]
    kinds = {"answers" in report["metrics"] for _, report, _ in rows}  # arithmetic sequence models or not
    columns = (COLUMNS if False in kinds else ()) + (SEQUENCE_COLUMNS if True in kinds else ())
    lines += table([(f"[{label}]({folder}/report.md)", report) for label, report, folder in rows], columns)
    comparison = {"root": str(root.resolve()), "runs": [{"label": label, **report} for label, report, _ in rows]}
    study = study_section(root, rows, out)
    if study is not None:
        lines += study[0]
        comparison["optuna_study"] = study[1]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "report.json").write_text(json.dumps(comparison, indent=2))
    log.info("comparison of %d runs: %s", len(rows), out / "report.md")
    return comparison
