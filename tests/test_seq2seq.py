"""The arithmetic sequence models (seq2seq_text, seq2seq_image_to_text, seq2seq_text_to_image):
each runs, learns on a small query set, and gets a `make eval` report; bad settings are one line."""

import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from condgan.data.arithmetic import encode
from condgan.errors import ConfigError
from condgan.models import Seq2SeqText
from condgan.pipelines.evaluate import evaluate
from condgan.pipelines.train import train
from tests.conftest import QUIET, compose_config
from tests.test_cli import error_lines, run_here
from tests.test_configs import CONF, built_class, options, sequence_options

MODELS = sequence_options("model")
# one-digit operands: 200 queries (171 train, 9 val, 20 test), a small rendered digit set
SMALL = [
    "data.operand_max=9",
    "data.batch_size=32",
    "data.digits.samples_per_class=30",
    "data.digits.test_samples_per_class=10",
    *QUIET,
]


def experiment_of(model: str) -> str:
    """The arith_* experiment that trains ``model``."""
    for name in options("experiment"):
        defaults = OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{name}.yaml")).get("defaults", [])
        if any(isinstance(entry, dict) and entry.get("override /model") == model for entry in defaults):
            return name
    raise LookupError(f"no experiment trains model={model}")


def config(tmp_path, data_dir, model: str, *overrides: str):
    """``model``'s experiment, made small: one-digit operands, a small digit set."""
    return compose_config("train", [f"experiment={experiment_of(model)}", *SMALL, *overrides], tmp_path, data_dir)


@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run(tmp_path, data_dir, model):
    trainer = train(config(tmp_path, data_dir, model, "debug=fdr"))
    assert trainer.state.finished and type(trainer.lightning_module) is built_class("model", model)


# epochs of the one-digit queries for the learning test
LEARNING_EPOCHS = {"seq2seq_text": 30, "seq2seq_image_to_text": 30, "seq2seq_text_to_image": 30}


def closer_to_own_answer(drawn: torch.Tensor, target: torch.Tensor) -> float:
    """Share of drawn answers nearer (mean squared error) their own answer images than those of the
    next query: 0.5 by chance."""
    own = (drawn - target).pow(2).mean((1, 2, 3, 4))
    other = (drawn - target.roll(1, dims=0)).pow(2).mean((1, 2, 3, 4))
    return float((own < other).float().mean())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_learns_the_small_query_set(tmp_path, data_dir, model):
    """The loss on the training queries falls, the answers beat chance, the lr decays as configured."""
    cfg = config(tmp_path, data_dir, model, f"trainer.max_epochs={LEARNING_EPOCHS[model]}", "logger=csv")
    torch.manual_seed(cfg.seed)
    before = instantiate(cfg.model).eval()
    trainer = train(cfg)
    after = trainer.lightning_module.eval()
    queries = trainer.datamodule.sets["train"]
    batch = queries[(0, range(len(queries)))]
    with torch.no_grad():
        first, last = float(before.losses(batch)["loss"]), float(after.losses(batch)["loss"])
    assert last < 0.7 * first, f"{model}: loss {first:.3f} -> {last:.3f}"
    if after.answer_form == "text":  # chance: about 1 in the 28 answers
        exact = float((after.answers(batch) == batch["answer"]).all(1).float().mean())
        assert exact > 0.2, f"{model}: exact match {exact:.3f} on its training queries"
    else:
        share = closer_to_own_answer(after.draw(batch["query"]), after.images(batch, "answer_images"))
        assert share > 0.6, f"{model}: {share:.2f} of the drawn answers nearer their own answer"
    [lr] = [group["lr"] for group in trainer.optimizers[0].param_groups]
    assert lr == pytest.approx(cfg.model.lr_decay.final_factor * cfg.model.optimizer.lr, rel=0.05)


def test_a_model_and_data_in_other_forms_are_a_one_line_error(tmp_path, data_dir):
    cfg = config(tmp_path, data_dir, "seq2seq_image_to_text", "debug=fdr", "data.query_form=text")
    with pytest.raises(
        ConfigError,
        match="Seq2SeqImageToText reads image queries and writes text answers: use "
        "data=arithmetic with data.query_form=image data.answer_form=text",
    ):
        train(cfg)


def test_an_unknown_cell_type_is_refused_by_the_networks(tmp_path, data_dir):
    settings = {**instantiate(config(tmp_path, data_dir, "seq2seq_text").model).hparams, "cell": "rnn"}
    with pytest.raises(ConfigError, match="model cell type 'rnn': use one of lstm, gru"):
        Seq2SeqText(**settings)


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.cell=rnn", "model.cell='rnn': use one of lstm, gru"),
        ("data.operand_max=100", "data.operand_max=100: use a whole number in 0..99 (operands of at most two digits)"),
    ],
)
def test_bad_settings_stop_the_command_line_with_one_line(tmp_path, override, message):
    result = run_here("train.py", "experiment=arith_text2text", override, *QUIET, cwd=tmp_path)
    assert result.returncode == 2 and error_lines(result) == [f"condgan: error: {message}"]
    assert "Traceback" not in result.stderr and not list(tmp_path.rglob("*.ckpt"))


def test_a_style_code_changes_the_drawn_answers(tmp_path, data_dir):
    model = instantiate(config(tmp_path, data_dir, "seq2seq_text_to_image", "model.style_dim=4").model)
    query, answer = encode(["1-4", "8+8"], 3), encode(["-3", "16"], 2)
    a, b = model.draw(query, torch.Generator().manual_seed(0)), model.draw(query, torch.Generator().manual_seed(1))
    assert a.shape == (2, 2, 1, 28, 28) and a.abs().max() <= 1 and not torch.allclose(a, b)
    images = torch.randint(0, 256, (2, 2, 1, 28, 28), dtype=torch.uint8)
    terms = model.losses({"query": query, "answer": answer, "answer_images": images})
    expected = terms["recon_loss"] + model.text_weight * terms["text_loss"] + model.kl_weight * terms["kl"]
    assert terms["kl"] >= 0 and torch.isclose(terms["loss"], expected)


@pytest.mark.parametrize("model", ["seq2seq_text", "seq2seq_text_to_image"])
def test_make_eval_reports_the_answers(tmp_path, data_dir, model):
    run_dir = tmp_path / "run"
    train(config(run_dir, data_dir, model, "trainer.max_epochs=1"))
    eval_cfg = compose_config(
        "eval",
        [f"ckpt_path={run_dir}", "device=cpu", "answers_shown=4", "metrics.character_reader.epochs=1"],
        tmp_path / "eval",
        data_dir,
    )
    report = evaluate(eval_cfg)
    answers = report["metrics"]["answers"]
    assert answers["answers"] == 20 and 0 <= answers["exact_match"] <= answers["char_accuracy"] <= 1
    assert set(answers["by_operator"]) == {"+", "-"} and sum(g["answers"] for g in answers["by_length"].values()) == 20
    grid = "answer_grid" if model == "seq2seq_text_to_image" else "query_grid"
    for picture in ("answer_distribution", grid):
        assert (tmp_path / "eval" / f"{picture}.png").is_file(), picture
    assert ("mse" in answers) == (model == "seq2seq_text_to_image")
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["model"] == built_class("model", model).__name__
    assert "| test answers | exact match |" in (tmp_path / "eval" / "report.md").read_text()
