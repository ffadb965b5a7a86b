"""``data=arithmetic``: every query ``a+b`` and ``a-b`` of two operands in ``0..operand_max`` (report
002, sections 3-4), as fixed-width character rows and, on request, as rows of character images.

Queries are split by query with a fixed seed: ``test_fraction`` of all queries is the test split
(the report's 90/10), ``val_fraction`` of the rest is held out for validation, and training uses the
first ``train_fraction`` of what remains (the report's Table 1 varies it; smaller fractions are
subsets of larger ones, and the test split stays the same). Character images come from a digit
dataset (``digits``: a data config such as ``glyph_digits`` or ``mnist``) whose train, val and test
split feed the queries of the same split, and from rendered operator images; training batches are
drawn afresh every time, validation and test images once, with the seed.
"""

import logging
from collections.abc import Mapping, Sequence

import hydra
import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

from condgan.data.base import TensorImageDataModule
from condgan.data.batching import EpochBatchSampler, MidEpochResume
from condgan.data.character_images import BLANK, CHARACTERS, OPERATOR_CHARACTERS, CharacterImages, render_operators
from condgan.errors import ConfigError

log = logging.getLogger(__name__)

# token ids: the characters of CHARACTERS (0 = blank padding), then the decoder's start token
VOCABULARY = CHARACTERS + "="
PAD = BLANK
START = VOCABULARY.index("=")
FORMS = ("text", "image")
SPLITS = ("train", "val", "test")


def widths(operand_max: int) -> tuple[int, int]:
    """Characters of the longest query (``99+99``) and of the longest answer (``198``, ``-99``)."""
    digits = len(str(operand_max))
    return 2 * digits + 1, max(len(str(2 * operand_max)), digits + 1)


def encode(texts: Sequence[str], width: int) -> torch.Tensor:
    """int64 ``[N, width]`` token rows of ``texts``, left-aligned and padded with blanks."""
    unknown = set("".join(texts)) - set(VOCABULARY)
    if unknown or any(len(text) > width for text in texts):
        raise ValueError(f"cannot encode {sorted(unknown) or 'texts longer than ' + str(width)} as arithmetic tokens")
    lookup = torch.zeros(128, dtype=torch.long)
    lookup[list(VOCABULARY.encode())] = torch.arange(len(VOCABULARY))
    padded = "".join(text.ljust(width) for text in texts).encode()
    return lookup[torch.frombuffer(bytearray(padded), dtype=torch.uint8).long()].reshape(len(texts), width)


def decode(tokens: torch.Tensor) -> list[str]:
    """The texts of token rows (trailing padding dropped; the start token shown as ``=``)."""
    return ["".join(VOCABULARY[t] for t in row).rstrip() for row in tokens.tolist()]


def answer_value(text: str) -> int | None:
    """The integer an answer's text writes (``-99``, ``198``, ``7``), or None for anything else
    (an empty answer, a lone ``-``, blanks or operators between digits)."""
    digits = text[1:] if text.startswith("-") else text
    return int(text) if digits.isdigit() and digits.isascii() else None


class Queries:
    """Every query of two operands in ``0..operand_max`` and each operator: operand and operator
    columns, the texts, their token rows and the answers' values."""

    def __init__(self, operand_max: int, operators: str) -> None:
        span = torch.arange(operand_max + 1)
        ops, a, b = torch.meshgrid(torch.arange(len(operators)), span, span, indexing="ij")
        self.a, self.operator, self.b = a.reshape(-1), ops.reshape(-1), b.reshape(-1)
        self.operators = operators
        signs = torch.tensor([1 if op == "+" else -1 for op in operators])
        self.values = self.a + signs[self.operator] * self.b
        self.query_width, self.answer_width = widths(operand_max)
        columns = zip(self.a.tolist(), self.operator.tolist(), self.b.tolist())
        self.texts = [f"{a}{operators[o]}{b}" for a, o, b in columns]
        self.query_tokens = encode(self.texts, self.query_width)
        self.answer_tokens = encode([str(v) for v in self.values.tolist()], self.answer_width)

    def __len__(self) -> int:
        return len(self.values)


def split_queries(
    n: int, test_fraction: float, val_fraction: float, train_fraction: float, seed: int
) -> dict[str, torch.Tensor]:
    """Indices of the test, val and train queries among ``n``, from one permutation drawn with ``seed``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = round(n * test_fraction)
    rest = order[n_test:]
    n_val = round(len(rest) * val_fraction)
    pool = rest[n_val:]
    return {"test": order[:n_test], "val": rest[:n_val], "train": pool[: round(len(pool) * train_fraction)]}


class QueryBatches(Dataset):
    """One split's queries; an item is a whole batch, asked for by ``(draw seed, indices)``: a dict of
    ``query`` / ``answer`` token rows, the answers' ``value`` and ``operator`` index, and (when
    images are wanted) ``query_images`` / ``answer_images`` uint8 ``[B, L, 1, S, S]``, drawn from the
    seed, or taken from ``fixed`` images drawn once."""

    def __init__(
        self,
        queries: Queries,
        index: torch.Tensor,
        images: CharacterImages | None,
        forms: Mapping[str, str],
        fixed_seed: int | None,
    ) -> None:
        self.batch = {
            "query": queries.query_tokens[index],
            "answer": queries.answer_tokens[index],
            "value": queries.values[index],
            "operator": queries.operator[index],
        }
        self.images, self.forms = images, dict(forms)
        self.fixed = None if fixed_seed is None else self.draw(torch.arange(len(index)), fixed_seed)

    def __len__(self) -> int:
        return len(self.batch["value"])

    def draw(self, index: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        """Character images drawn with ``seed`` for the queries and answers at ``index`` whose form is an image."""
        generator = torch.Generator().manual_seed(seed)
        return {
            f"{side}_images": self.images.draw(self.batch[side][index], generator)
            for side in ("query", "answer")
            if self.forms[side] == "image"
        }

    def __getitem__(self, item) -> dict[str, torch.Tensor]:
        seed, index = item
        index = torch.as_tensor(index, dtype=torch.long)
        batch = {key: value[index] for key, value in self.batch.items()}
        if self.fixed is not None:
            return {**batch, **{key: value[index] for key, value in self.fixed.items()}}
        return {**batch, **self.draw(index, seed)}


class StoredOrderBatches(Dataset):
    """A split's batches in stored order, one per item, each drawn with a seed of its own: for
    ``trainer.overfit_batches`` (``debug=overfit``), where Lightning reads items in order and keeps
    the first few, so every epoch trains on the same batches and pictures."""

    def __init__(self, queries: QueryBatches, batch_size: int, seed: int) -> None:
        self.queries, self.batch_size, self.seed = queries, batch_size, seed

    def __len__(self) -> int:
        return -(-len(self.queries) // self.batch_size)

    def __getitem__(self, number: int) -> dict[str, torch.Tensor]:
        start = number * self.batch_size
        return self.queries[(self.seed + number, range(start, min(start + self.batch_size, len(self.queries))))]


class SeededBatchSampler(EpochBatchSampler):
    """:class:`EpochBatchSampler`'s batches, each with the seed of its image draws: from the sampler's
    seed, the epoch and the batch's position, so a run draws the same pictures whenever it runs."""

    def __iter__(self):
        epoch = self.epoch
        batches = self.index_batches()
        for number, batch in enumerate(batches, start=len(self) - len(batches)):
            yield (self.seed * 1_000_003 + epoch) * 100_003 + number, batch.tolist()


class ArithmeticDataModule(MidEpochResume, L.LightningDataModule):
    """The arithmetic queries of report 002 in ``query_form`` / ``answer_form`` ``text`` or ``image``
    (text token rows come in every batch; images only where a form asks for them).

    ``digits``: the config of the digit source, a 10-class :class:`TensorImageDataModule` (its
    ``_target_`` and settings; instantiated here). ``operators``: the operators used (``+-``).
    ``operator_images``: rendered images per operator and split; ``render``: the glyph renderer's
    settings for them; ``jitter``: the random warp of an operator image at each draw.
    """

    name = "arithmetic"

    def __init__(
        self,
        digits: Mapping,
        operand_max: int = 99,
        operators: str = "+-",
        query_form: str = "text",
        answer_form: str = "text",
        test_fraction: float = 0.1,
        val_fraction: float = 0.05,
        train_fraction: float = 1.0,
        batch_size: int = 128,
        seed: int = 0,
        operator_images: int = 16,
        render: Mapping | None = None,
        jitter: Mapping | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not 0 <= operand_max <= 99:
            raise ConfigError(
                f"data.operand_max={operand_max}: queries have operands of at most two digits; "
                "use a whole number in 0..99"
            )
        if not operators or len(set(operators)) != len(operators) or not set(operators) <= set(OPERATOR_CHARACTERS):
            raise ConfigError(f"data.operators={operators!r}: use '+-', '+' or '-'")
        for key, form in (("query_form", query_form), ("answer_form", answer_form)):
            if form not in FORMS:
                raise ConfigError(f"data.{key}={form!r}: use text or image")
        self.save_hyperparameters(logger=False)
        self.queries = Queries(operand_max, operators)
        self.splits = split_queries(len(self.queries), test_fraction, val_fraction, train_fraction, seed)
        self.sets: dict[str, QueryBatches] = {}
        self._digit_source: TensorImageDataModule | None = None
        self._characters: dict[str, CharacterImages] = {}

    @property
    def forms(self) -> dict[str, str]:
        """The query's and the answer's form (text or image), by side."""
        return {"query": self.hparams.query_form, "answer": self.hparams.answer_form}

    @property
    def needs_images(self) -> bool:
        """Whether either side is drawn as character images (so the digit dataset is needed)."""
        return "image" in self.forms.values()

    @property
    def query_width(self) -> int:
        """Tokens in a padded query."""
        return self.queries.query_width

    @property
    def answer_width(self) -> int:
        """Tokens in a padded answer."""
        return self.queries.answer_width

    def digit_source(self) -> TensorImageDataModule:
        """The digit dataset (``data.digits``), instantiated on first use."""
        if self._digit_source is None:
            source = hydra.utils.instantiate(dict(self.hparams.digits))
            if not isinstance(source, TensorImageDataModule) or source.num_classes != 10:
                raise ConfigError(
                    "data.digits must be a 10-class digit dataset config such as glyph_digits or mnist "
                    "(data@data.digits=mnist)"
                )
            self._digit_source = source
        return self._digit_source

    def characters(self, split: str) -> CharacterImages:
        """The character-image drawer of a split: the digit source's split of that name and its
        own rendered operators (seeded per split)."""
        if split not in self._characters:
            digits = self.digit_source().reference_set(split)
            hp = self.hparams
            operators = render_operators(
                hp.operator_images, hp.seed * 10 + SPLITS.index(split), digits.images.shape[-1], hp.render or {}
            )
            self._characters[split] = CharacterImages((digits.images, digits.labels), operators, hp.jitter)
        return self._characters[split]

    def character_set(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels (indices into :data:`CHARACTERS`) of every character class of a
        split: each of the digit source's images, and as many drawn operators and blanks per
        class as there are digits per class on average; what a character reader learns from."""
        drawer = self.characters(split)
        per_class = max(1, round(int(drawer.digits[2].sum()) / 10))
        digit_images, _, counts = drawer.digits
        digit_labels = torch.arange(10).repeat_interleave(counts) + CHARACTERS.index("0")
        others = torch.tensor([BLANK, *(CHARACTERS.index(op) for op in OPERATOR_CHARACTERS)])
        others = others.repeat_interleave(per_class)
        drawn = drawer.draw(others[:, None], torch.Generator().manual_seed(self.hparams.seed + SPLITS.index(split)))
        return torch.cat([digit_images, drawn[:, 0]]), torch.cat([digit_labels, others])

    @override
    def prepare_data(self) -> None:
        if self.needs_images:
            self.digit_source().prepare_data()

    @override
    def setup(self, stage: str | None = None) -> None:
        wanted = ("train", "val") if stage in ("fit", "validate") else ("test",) if stage == "test" else SPLITS
        for split in wanted:
            if split in self.sets:
                continue
            if split == "train" and not len(self.splits["train"]):
                raise ConfigError(
                    f"data.train_fraction={self.hparams.train_fraction} leaves no training query; raise it"
                )
            images = self.characters(split) if self.needs_images else None
            fixed = None if split == "train" else self.hparams.seed * 10 + SPLITS.index(split)
            self.sets[split] = QueryBatches(self.queries, self.splits[split], images, self.forms, fixed)
        if "train" in wanted:
            log.info(
                "arithmetic: %d train, %d val, %d test queries (%s -> %s)",
                *(len(self.splits[s]) for s in SPLITS),
                self.hparams.query_form,
                self.hparams.answer_form,
            )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.sets:
            raise RuntimeError(f"{self.name}: call setup() before asking for the {split} dataloader")
        dataset = self.sets[split]
        if self.trainer is not None and self.trainer.overfit_batches > 0:
            return DataLoader(StoredOrderBatches(dataset, self.hparams.batch_size, self.hparams.seed), batch_size=None)
        drop_last = shuffle and len(dataset) >= self.hparams.batch_size
        resume_at = self._resume_at if shuffle else None
        sampler = SeededBatchSampler(
            len(dataset), self.hparams.batch_size, shuffle, drop_last, self.hparams.seed, resume_at
        )
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=sampler,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
            generator=torch.Generator().manual_seed(self.hparams.seed),
        )

    @override
    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    @override
    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    @override
    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
