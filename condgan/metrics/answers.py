"""Scores of arithmetic answers (report 002, sections 3-4): exact match of whole answers and
per-character accuracy, overall, by answer length and by operator; and the character reader, a
domain classifier of the arithmetic data's character images that reads generated answers."""

from collections.abc import Mapping
from pathlib import Path

import torch

from condgan.data.arithmetic import PAD, ArithmeticDataModule, answer_value, decode
from condgan.data.character_images import CHARACTERS
from condgan.metrics.classifier import DomainClassifier, load_or_train_classifier


def _scores(right: torch.Tensor) -> dict:
    return {
        "answers": len(right),
        "exact_match": float(right.all(1).float().mean()),
        "char_accuracy": float(right.float().mean()),
    }


def answer_scores(predicted: torch.Tensor, true: torch.Tensor, operators: torch.Tensor, operator_names: str) -> dict:
    """Exact match (every position of the answer right, padding included) and per-character
    accuracy (share of right positions) of predicted answer tokens ``[N, W]`` against the true
    ones, overall and per true answer length (its characters, a minus sign included) and per
    operator (``operators``: indices into ``operator_names``)."""
    right = predicted.cpu() == true.cpu()
    lengths = (true.cpu() != PAD).sum(1)
    operators = operators.cpu()
    return {
        **_scores(right),
        "by_length": {str(n): _scores(right[lengths == n]) for n in lengths.unique().tolist()},
        "by_operator": {operator_names[o]: _scores(right[operators == o]) for o in operators.unique().tolist()},
    }


def answer_values(tokens: torch.Tensor) -> list[int | None]:
    """The integer each answer row writes, None where it writes none."""
    return [answer_value(text) for text in decode(tokens)]


def value_errors(predicted: list[int | None], true: list[int]) -> dict:
    """How far the predicted values lie from the true ones: answers that write no number, wrong
    numbers, and the mean absolute error of the wrong ones."""
    wrong = [abs(p - t) for p, t in zip(predicted, true) if p is not None and p != t]
    return {
        "not_a_number": sum(p is None for p in predicted),
        "wrong_numbers": len(wrong),
        "mean_abs_error_of_wrong": sum(wrong) / len(wrong) if wrong else 0.0,
    }


def character_reader(
    datamodule: ArithmeticDataModule, settings: Mapping, cache_dir: str | Path, device: torch.device | str = "cpu"
) -> DomainClassifier:
    """A domain classifier (:mod:`condgan.metrics.classifier`, ``settings`` as ``metrics.character_reader``)
    of the character images: blank, the digit source's digits, ``+`` and ``-``, trained on the
    train split's characters, tested on the test split's, cached like every domain classifier."""
    return load_or_train_classifier(
        f"{datamodule.digit_source().name}-characters",
        datamodule.character_set("train"),
        datamodule.character_set("test"),
        len(CHARACTERS),
        settings,
        cache_dir,
        device,
    )


def read_characters(reader: DomainClassifier, images: torch.Tensor) -> torch.Tensor:
    """The character tokens the reader sees in images ``[N, W, C, S, S]`` (uint8, or floats in
    [-1, 1]): int64 ``[N, W]``, indices into :data:`CHARACTERS` (the same as the text tokens)."""
    return reader.predict(images.flatten(0, 1)).reshape(images.shape[:2])
