"""data=arithmetic: every query and answer, the splits by query, the text encoding, and the
character images drawn from a digit source (the rendered glyph digits, or MNIST-format files)."""

import re

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from condgan.data.arithmetic import ArithmeticDataModule, Queries, answer_value, decode, encode, split_queries, widths
from condgan.data.character_images import CHARACTERS
from condgan.errors import ConfigError
from condgan.metrics.answers import character_reader, read_characters
from tests.conftest import compose_config
from tests.helpers import write_mnist_style

SMALL_DIGITS = ["data.digits.samples_per_class=60", "data.digits.test_samples_per_class=20"]


def arithmetic(tmp_path, data_dir, *overrides: str, digits: list[str] = SMALL_DIGITS):
    """The arithmetic DataModule of the composed config, with its train/val and test splits set up."""
    cfg = compose_config("train", ["data=arithmetic", "model=seq2seq_text", *digits, *overrides], tmp_path, data_dir)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def test_every_query_of_two_digit_operands_is_encoded_with_its_right_answer():
    queries = Queries(99, "+-")
    assert len(queries) == 20_000 and (queries.query_width, queries.answer_width) == (5, 3)
    texts, answers = decode(queries.query_tokens), decode(queries.answer_tokens)
    assert texts == queries.texts and len(set(texts)) == 20_000
    for text, answer in zip(texts, answers):
        a, op, b = text.partition("+") if "+" in text else text.partition("-")
        assert answer_value(answer) == (int(a) + int(b) if op == "+" else int(a) - int(b)), text
    assert {"99+99", "0-99", "7+0"} <= set(texts)
    assert (queries.values.min(), queries.values.max()) == (-99, 198)


def test_answers_decode_with_signs_and_three_digits_and_refuse_non_numbers():
    tokens = encode(["-99", "198", "7", "-5", "0"], 3)
    assert tokens.shape == (5, 3) and decode(tokens) == ["-99", "198", "7", "-5", "0"]
    assert [answer_value(t) for t in decode(tokens)] == [-99, 198, 7, -5, 0]
    for text in ("", "-", "1-2", "+5", "--3", "1 2"):
        assert answer_value(text) is None, text
    assert widths(9) == (3, 2) and widths(99) == (5, 3)
    with pytest.raises(ValueError, match="cannot encode"):
        encode(["1234"], 3)


def test_splits_are_disjoint_by_query_and_smaller_training_fractions_are_subsets():
    full = split_queries(20_000, 0.1, 0.05, 1.0, seed=0)
    assert [len(full[s]) for s in ("train", "val", "test")] == [17_100, 900, 2_000]
    together = torch.cat(list(full.values()))
    assert len(together.unique()) == 20_000
    half = split_queries(20_000, 0.1, 0.05, 0.5, seed=0)
    assert torch.equal(half["test"], full["test"]) and torch.equal(half["val"], full["val"])
    assert len(half["train"]) == 8_550 and set(half["train"].tolist()) <= set(full["train"].tolist())
    assert not torch.equal(split_queries(20_000, 0.1, 0.05, 1.0, seed=1)["test"], full["test"])


def test_text_batches_carry_tokens_only(tmp_path, data_dir):
    datamodule = arithmetic(tmp_path, data_dir)
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) == {"query", "answer", "value", "operator"}
    assert batch["query"].shape == (128, 5) and batch["answer"].shape == (128, 3)
    assert [answer_value(t) for t in decode(batch["answer"])] == batch["value"].tolist()
    test_queries = set(decode(next(iter(datamodule.test_dataloader()))["query"]))
    assert not test_queries & set(decode(batch["query"])), "no test query in training"


def test_image_queries_show_their_characters_and_never_repeat(tmp_path, data_dir):
    datamodule = arithmetic(tmp_path, data_dir, "data.query_form=image", "data.answer_form=image")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["query_images"].shape == (128, 5, 1, 28, 28) and batch["query_images"].dtype == torch.uint8
    assert batch["answer_images"].shape == (128, 3, 1, 28, 28)
    source = datamodule.digit_source().reference_set("train")
    pictures = {(bytes(image.numpy()), int(label)) for image, label in zip(source.images, source.labels)}
    for side in ("query", "answer"):
        tokens, images = batch[side].flatten(), batch[f"{side}_images"].flatten(0, 1)
        for token, image in zip(tokens.tolist(), images):
            char = CHARACTERS[token]
            if char.isdigit():
                assert (bytes(image.numpy()), int(char)) in pictures, f"a {char} not from the train split's {char}s"
            else:
                assert (image.max() == 0) == (char == " "), f"{char!r}: blank exactly where the text is padded"
    train = datamodule.sets["train"]  # the same queries drawn with two batch seeds, and again with the first
    drawn, redrawn, again = train[(1, range(64))], train[(2, range(64))], train[(1, range(64))]
    assert not any(torch.equal(a, b) for a, b in zip(drawn["query_images"], redrawn["query_images"]))
    assert torch.equal(drawn["query_images"], again["query_images"]), "a batch's seed decides its pictures"
    test = datamodule.test_dataloader()
    assert torch.equal(next(iter(test))["query_images"], next(iter(test))["query_images"]), "test images are fixed"


@pytest.mark.slow
def test_the_character_reader_reads_image_queries_and_answers(tmp_path, data_dir):
    datamodule = arithmetic(tmp_path, data_dir, "data.query_form=image", "data.answer_form=image")
    cfg = compose_config("train", ["metrics.character_reader.batch_size=32"], tmp_path, data_dir)
    reader = character_reader(
        datamodule, OmegaConf.to_container(cfg.metrics.character_reader, resolve=True), data_dir / "classifiers"
    )
    assert reader.test_accuracy > 0.95
    batch = next(iter(datamodule.test_dataloader()))
    for side in ("query", "answer"):
        read = read_characters(reader, batch[f"{side}_images"])
        assert (read == batch[side]).float().mean() > 0.95, f"{side} images do not show their characters"


def test_digits_come_from_the_digit_source_class_of_each_character(tmp_path, data_dir):
    root = tmp_path / "mnist"
    write_mnist_style(root, 200, 60, num_classes=10, gzipped=True)
    datamodule = arithmetic(
        tmp_path,
        data_dir,
        "data.query_form=image",
        digits=["data@data.digits=mnist", f"data.digits.root={root}", "data.digits.download=false"],
    )
    assert datamodule.digit_source().name == "mnist"
    batch = next(iter(datamodule.train_dataloader()))
    digits = (batch["query"] >= CHARACTERS.index("0")) & (batch["query"] <= CHARACTERS.index("9"))
    images = batch["query_images"][digits][:, 0]
    # the stand-in MNIST images draw a bar of (label + 1) pixels in their rows 1-2
    assert torch.equal((images[:, 1, 1:] > 0).sum(1), batch["query"][digits] - CHARACTERS.index("0") + 1)


@pytest.mark.parametrize(
    "settings,message",
    [
        (
            {"operand_max": 100},
            "data.operand_max=100: queries have operands of at most two digits; use a whole number in",
        ),
        ({"operators": "*"}, "data.operators='*': use '+-', '+' or '-'"),
        ({"query_form": "audio"}, "data.query_form='audio': use text or image"),
    ],
)
def test_bad_arithmetic_settings_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        ArithmeticDataModule(digits={}, **settings)
    assert "\n" not in str(err.value)


def test_a_digit_source_without_ten_classes_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="data.digits must be a 10-class digit dataset"):
        instantiate(
            compose_config(
                "train",
                ["data=arithmetic", "model=seq2seq_text", "data@data.digits=glyphs", "data.query_form=image"],
                tmp_path,
                tmp_path,
            ).data
        ).digit_source()
