"""``evaluate.py`` reports of the arithmetic sequence models (report 002, sections 3-4): every test
query answered, scored (exact match, per-character accuracy, by answer length and operator), the
answer distribution plotted, and grids of queries with their answers.

Text answers are decoded greedily; image answers are read by the character reader (a domain
classifier of the data's character images, :func:`~condgan.metrics.answers.character_reader`, with
the ``metrics.character_reader`` settings), and
an answer counts as right when every one of its characters (blanks included) is read as the true
one. Per run: ``report.md``, ``report.json``, ``answer_distribution.png``, ``query_grid.png``
(text answers) or ``answer_grid.png`` (image answers), ``loss_curves.png``, ``tensorboard/``.
"""

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from condgan.data.arithmetic import ArithmeticDataModule, decode
from condgan.data.base import to_signed_unit
from condgan.errors import CondganError
from condgan.metrics.answers import answer_scores, answer_values, character_reader, read_characters, value_errors
from condgan.models.base import CHECKPOINT_KEY
from condgan.models.checkpoint import import_class
from condgan.models.seq2seq import Seq2SeqTextToImage
from condgan.models.sequence import SequenceModule, load_sequence_model
from condgan.pipelines.common import report_header, resolve_device
from condgan.utils.images import labelled_class_grid, save_png
from condgan.utils.plots import answer_distribution
from condgan.utils.run_logs import training_summary

log = logging.getLogger(__name__)

# comparison-table columns of several runs: (header, path into a run's metrics, format)
SEQUENCE_COLUMNS = (
    ("exact match", ("answers", "exact_match"), "{:.4f}"),
    ("char. acc.", ("answers", "char_accuracy"), "{:.4f}"),
    ("MSE", ("answers", "mse"), "{:.4f}"),
)


def rebuild_arithmetic(checkpoint: dict, digits_root: str | None) -> ArithmeticDataModule:
    """The checkpoint's arithmetic DataModule with its test split (the digit source's files read from
    ``digits_root`` when given), the same queries and test images as in training."""
    settings = dict(checkpoint["datamodule_hyper_parameters"])
    if digits_root is not None:
        settings["digits"] = {**settings["digits"], "root": digits_root}
    datamodule = import_class(checkpoint[CHECKPOINT_KEY]["datamodule_class"], ArithmeticDataModule)(**settings)
    datamodule.prepare_data()
    datamodule.setup("test")
    return datamodule


def answer_test_split(model: SequenceModule, datamodule: ArithmeticDataModule, reader, seed: int) -> dict:
    """Every test query's tokens (and images, for image queries), its true and predicted answer
    tokens and operator, and (image answers) the drawn answers and the test answer images."""
    parts: dict[str, list] = {
        "query": [],
        "true": [],
        "predicted": [],
        "operator": [],
        "drawn": [],
        "target": [],
        "query_images": [],
    }
    generator = torch.Generator().manual_seed(seed)
    for batch in datamodule.test_dataloader():
        batch = {key: value.to(model.device) for key, value in batch.items()}
        if isinstance(model, Seq2SeqTextToImage):
            drawn = model.draw(batch["query"], generator).cpu()
            parts["drawn"].append(drawn)
            parts["target"].append(batch["answer_images"].cpu())
            predicted = read_characters(reader, drawn)
        else:
            predicted = model.answers(batch)
        parts["query"].append(batch["query"].cpu())
        if "query_images" in batch:
            parts["query_images"].append(batch["query_images"].cpu())
        parts["true"].append(batch["answer"].cpu())
        parts["predicted"].append(predicted.cpu())
        parts["operator"].append(batch["operator"].cpu())
    return {key: torch.cat(value) for key, value in parts.items() if value}


def query_grid(answered: dict, datamodule: ArithmeticDataModule, shown: int, seed: int) -> torch.Tensor:
    """The first ``shown`` test queries as character images (those the model read, or for text
    queries drawn from the test digits), each row labelled with the query, the predicted answer and,
    when wrong, the true one."""
    queries = answered["query"][:shown]
    if "query_images" in answered:
        images = answered["query_images"][:shown]
    else:
        images = datamodule.characters("test").draw(queries, torch.Generator().manual_seed(seed))
    texts = zip(decode(queries), decode(answered["predicted"][:shown]), decode(answered["true"][:shown]))
    labels = [f"{q} = {p}" + ("" if p == t else f"  (wrong: {t})") for q, p, t in texts]
    return labelled_class_grid(to_signed_unit(images).flatten(0, 1), queries.shape[1], labels)


def answer_grid(answered: dict, shown: int) -> torch.Tensor:
    """The first ``shown`` test queries' drawn answers, a gray cell, and a real image of the true
    answer per row, labelled with the query and what the reader reads in the drawn answer."""
    drawn, target = answered["drawn"][:shown], to_signed_unit(answered["target"][:shown])
    gap = torch.zeros_like(drawn[:, :1])
    width = drawn.shape[1]
    labels = [
        f"{q} -> read {p!r}" + ("" if p == t else "  (wrong)")
        for q, p, t in zip(
            decode(answered["query"][:shown]), decode(answered["predicted"][:shown]), decode(answered["true"][:shown])
        )
    ]
    return labelled_class_grid(torch.cat([drawn, gap, target], dim=1).flatten(0, 1), 2 * width + 1, labels)


def data_description(datamodule: ArithmeticDataModule) -> str:
    """One line naming the arithmetic data: digit source, forms and train fraction."""
    hp = datamodule.hparams
    return (
        f"arithmetic ({datamodule.digit_source().name} digits, {hp.query_form} -> {hp.answer_form}, "
        f"train fraction {hp.train_fraction})"
    )


def markdown(report: dict) -> str:
    """``report.md`` of one sequence model: the scores, their breakdowns, the protocol and the pictures."""
    answers = report["metrics"]["answers"]
    mse = f"{answers['mse']:.4f}" if "mse" in answers else "-"
    lines = [
        *report_header(report),
        "| test answers | exact match | char. acc. | not a number | wrong numbers | mean abs. error of wrong | MSE |",
        "|---|---|---|---|---|---|---|",
        f"| {answers['answers']} | {answers['exact_match']:.4f} | {answers['char_accuracy']:.4f} | "
        f"{answers['not_a_number']} | {answers['wrong_numbers']} | {answers['mean_abs_error_of_wrong']:.2f} "
        f"| {mse} |",
        "",
    ]
    for title, key in (("By answer length (characters)", "by_length"), ("By operator", "by_operator")):
        lines += [f"## {title}", "", "| group | answers | exact match | char. acc. |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {s['answers']} | {s['exact_match']:.4f} | {s['char_accuracy']:.4f} |"
            for name, s in answers[key].items()
        ]
        lines.append("")
    lines += ["## Protocol", ""] + [f"- {key}: {value}" for key, value in answers["protocol"].items()]
    final = report["training"].get("final", {})
    if final:
        lines += ["", "## End of training (mean of the last 10 logged values)", "", "| scalar | value |", "|---|---|"]
        lines += [f"| {tag} | {value:.4f} |" for tag, value in sorted(final.items())]
    lines += ["", "## Pictures", ""]
    lines += [f"![{name}]({Path(path).name})" for name, path in report["pictures"].items()]
    return "\n".join(lines) + "\n"


def evaluate_sequence_checkpoint(ckpt: Path, checkpoint: dict, cfg: DictConfig, out: Path) -> dict:
    """Answers, scores and pictures of one sequence model's checkpoint, written to ``out``."""
    device = resolve_device(cfg.device)
    model = load_sequence_model(checkpoint, device)
    datamodule = rebuild_arithmetic(checkpoint, cfg.data_root)
    out.mkdir(parents=True, exist_ok=True)
    reader = None
    if isinstance(model, Seq2SeqTextToImage):
        settings = OmegaConf.to_container(cfg.metrics, resolve=True)
        reader = character_reader(datamodule, settings["character_reader"], settings["classifier_cache_dir"], device)
    answered = answer_test_split(model, datamodule, reader, cfg.seed)
    values_true, values_predicted = answer_values(answered["true"]), answer_values(answered["predicted"])
    scores = answer_scores(answered["predicted"], answered["true"], answered["operator"], datamodule.hparams.operators)
    protocol = {
        "test split": f"{len(values_true)} queries, test_fraction {datamodule.hparams.test_fraction} of all "
        f"{len(datamodule.queries)} (seed {datamodule.hparams.seed}), never trained on",
        "exact match": "every character of the fixed-width answer right, padding included",
        "answers from": "greedy decoding"
        if reader is None
        else f"the character reader (domain classifier of blank, {datamodule.digit_source().name} digits, + and -; "
        f"test accuracy {reader.test_accuracy:.4f}) reading each drawn character",
    }
    if reader is not None:
        scores["mse"] = float(F.mse_loss((answered["drawn"] + 1) / 2, answered["target"].float() / 255))
        protocol["MSE"] = "drawn answers against the test split's answer images, pixels in [0, 1]"
    scores.update(value_errors(values_predicted, values_true), protocol=protocol)
    report = {
        "checkpoint": str(ckpt.resolve()),
        "model": type(model).__name__,
        "data": data_description(datamodule),
        "epochs_trained": checkpoint.get("epoch"),
        "global_step": checkpoint.get("global_step"),
        "metrics": {"answers": scores, **({"reader": reader.info} if reader is not None else {})},
        "training": training_summary(ckpt.parent.parent, out),
        "pictures": {
            "answer_distribution": str(
                answer_distribution(
                    values_true,
                    values_predicted,
                    f"{type(model).__name__}: test answers",
                    out / "answer_distribution.png",
                )
            )
        },
    }
    writer = SummaryWriter(str(out / "tensorboard"))
    try:
        grids = (
            {"answer_grid": answer_grid(answered, cfg.answers_shown)}
            if reader is not None
            else {"query_grid": query_grid(answered, datamodule, cfg.answers_shown, cfg.seed)}
        )
    except CondganError as err:  # text queries drawn from a digit source that is not on this machine
        grids = {}
        log.warning("query grid skipped: %s", " ".join(str(err).split()))
    for name, picture in grids.items():
        report["pictures"][name] = str(save_png(picture, out / f"{name}.png"))
        writer.add_image(f"eval/{name}", picture)
    if "loss_curves" in report["training"]:
        report["pictures"]["loss_curves"] = report["training"]["loss_curves"]
    for key in ("exact_match", "char_accuracy", "mse"):
        if key in scores:
            writer.add_scalar(f"eval/{key}", scores[key])
    writer.add_text("eval/report", markdown(report))
    writer.close()
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    log.info("report of %s: %s (exact match %.4f)", ckpt, out / "report.md", scores["exact_match"])
    return report
