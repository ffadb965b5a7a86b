"""``seq2seq_text``, ``seq2seq_image_to_text``, ``seq2seq_text_to_image``: encoder-decoder RNNs on
the arithmetic queries of report 002 (sections 3-4), text or images in, text or images out."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import override

from condgan.data.arithmetic import START, VOCABULARY
from condgan.data.character_images import CHARACTERS
from condgan.errors import ConfigError
from condgan.models.sequence import SequenceModule
from condgan.nets.seq2seq import CharImageEncoder, ImageSequenceDecoder, SequenceEncoder, TextDecoder, TokenEncoder

RECON_LOSSES = ("bce", "l1")


class TextAnswerModule(SequenceModule):
    """A query encoder (``self.encoder``, set by the subclass) and a :class:`TextDecoder` trained
    with teacher forcing on cross-entropy; answers are decoded greedily. ``cell`` (lstm | gru),
    ``hidden``, ``encoder_layers``, ``decoder_layers``, ``dropout`` and ``embed_dim`` (of the
    characters) size both (report 002, Tables 2-3)."""

    def __init__(
        self,
        operand_max: int,
        embed_dim: int,
        hidden: int,
        encoder_layers: int,
        decoder_layers: int,
        cell: str,
        dropout: float,
        optimizer: Mapping,
        lr_decay: Mapping | None = None,
    ) -> None:
        super().__init__(operand_max, optimizer, lr_decay)
        self.decoder = TextDecoder(len(VOCABULARY), embed_dim, hidden, hidden, decoder_layers, cell, dropout)

    def summarize(self, batch: dict) -> torch.Tensor:
        """The encoder's summary ``[N, hidden]`` of the batch's queries."""
        return self.encoder(batch["query"])

    def answer_loss(self, summary: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the answer tokens under teacher forcing (the decoder reads the true previous ones)."""
        previous = torch.cat([torch.full_like(answer[:, :1], START), answer[:, :-1]], dim=1)
        return F.cross_entropy(self.decoder(summary, previous).flatten(0, 1), answer.flatten())

    @override
    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"loss": self.answer_loss(self.summarize(batch), batch["answer"])}

    def answers(self, batch: dict) -> torch.Tensor:
        """Greedily decoded answer tokens ``[N, answer_width]`` of a batch (in eval mode, without gradients)."""
        with self.evaluating():
            return self.decoder.greedy(self.summarize(batch), START, self.answer_width)

    @override
    def validation_metrics(self, batch: dict) -> dict[str, torch.Tensor]:
        right = self.answers(batch) == batch["answer"]
        return {"exact_match": right.all(1).float().mean(), "char_acc": right.float().mean()}


class Seq2SeqText(TextAnswerModule):
    """Text to text: a character embedding and a recurrent encoder, then the text decoder."""

    def __init__(
        self,
        operand_max: int,
        embed_dim: int,
        hidden: int,
        encoder_layers: int,
        decoder_layers: int,
        cell: str,
        dropout: float,
        optimizer: Mapping,
        lr_decay: Mapping | None = None,
    ) -> None:
        super().__init__(
            operand_max, embed_dim, hidden, encoder_layers, decoder_layers, cell, dropout, optimizer, lr_decay
        )
        self.save_hyperparameters()
        self.encoder = TokenEncoder(len(VOCABULARY), embed_dim, hidden, encoder_layers, cell, dropout)


class Seq2SeqImageToText(TextAnswerModule):
    """Images to text: a small CNN turns each query character image into an ``embed_dim`` vector
    (``cnn_width`` channels), then the recurrent encoder and the text decoder. ``read_weight`` > 0
    adds that weight x the cross-entropy of a linear head reading each query character from its
    vector (the query's own text as the target), so the CNN learns to read before the arithmetic
    needs it; 0 = off (trained on the answers alone, as in the report)."""

    query_form = "image"

    def __init__(
        self,
        operand_max: int,
        channels: int,
        image_size: int,
        cnn_width: int,
        embed_dim: int,
        hidden: int,
        encoder_layers: int,
        decoder_layers: int,
        cell: str,
        dropout: float,
        optimizer: Mapping,
        read_weight: float = 0.0,
        lr_decay: Mapping | None = None,
    ) -> None:
        super().__init__(
            operand_max, embed_dim, hidden, encoder_layers, decoder_layers, cell, dropout, optimizer, lr_decay
        )
        self.save_hyperparameters()
        self.read_weight = read_weight
        self.characters = CharImageEncoder(channels, image_size, cnn_width, embed_dim)
        self.encoder = SequenceEncoder(embed_dim, hidden, encoder_layers, cell, dropout)
        self.reader = nn.Linear(embed_dim, len(CHARACTERS)) if read_weight else None

    @override
    def summarize(self, batch: dict) -> torch.Tensor:
        return self.encoder(self.characters(self.images(batch, "query_images")))

    @override
    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        vectors = self.characters(self.images(batch, "query_images"))
        terms = {"answer_loss": self.answer_loss(self.encoder(vectors), batch["answer"])}
        if self.reader is not None:
            terms["read_loss"] = F.cross_entropy(self.reader(vectors).flatten(0, 1), batch["query"].flatten())
        terms["loss"] = terms["answer_loss"] + self.read_weight * terms.get("read_loss", 0.0)
        return terms


class Seq2SeqTextToImage(SequenceModule):
    """Text to images: the text encoder of :class:`Seq2SeqText`, then an
    :class:`ImageSequenceDecoder` that draws one image per answer position (blank past the answer's
    end; ``image_hidden`` units), trained on ``recon_loss`` ``bce`` (pixels scaled to [0, 1]) or
    ``l1`` against the batch's answer images. ``text_weight`` > 0 adds that weight x the
    cross-entropy of a linear head naming each answer character from the decoder's state (the
    answer's text as the target), so the arithmetic is learnt from text as quickly as by
    :class:`Seq2SeqText` and the images only have to draw it; 0 = off (images alone, as in the
    report). ``style_dim`` > 0 adds a latent style code per answer character, a CVAE: in training
    encoded from that character's image by a small CNN (``style_width`` channels), with
    ``kl_weight`` x its KL divergence from N(0, I) per answer; drawn from N(0, I) when generating
    (0 = off: the decoder can only draw the average look of each character)."""

    answer_form = "image"

    def __init__(
        self,
        operand_max: int,
        channels: int,
        image_size: int,
        embed_dim: int,
        hidden: int,
        encoder_layers: int,
        decoder_layers: int,
        cell: str,
        dropout: float,
        image_hidden: int,
        recon_loss: str,
        optimizer: Mapping,
        text_weight: float = 0.0,
        style_dim: int = 0,
        style_width: int = 16,
        kl_weight: float = 1.0,
        lr_decay: Mapping | None = None,
    ) -> None:
        super().__init__(operand_max, optimizer, lr_decay)
        if recon_loss not in RECON_LOSSES:
            raise ConfigError(f"model.recon_loss={recon_loss!r}: use one of {', '.join(RECON_LOSSES)}")
        self.save_hyperparameters()
        self.recon_loss, self.text_weight = recon_loss, text_weight
        self.style_dim, self.kl_weight = style_dim, kl_weight
        self.encoder = TokenEncoder(len(VOCABULARY), embed_dim, hidden, encoder_layers, cell, dropout)
        self.decoder = ImageSequenceDecoder(
            hidden,
            hidden,
            decoder_layers,
            cell,
            dropout,
            self.answer_width,
            channels,
            image_size,
            image_hidden,
            style_dim,
        )
        self.namer = nn.Linear(hidden, len(CHARACTERS)) if text_weight else None
        if style_dim:
            self.style = CharImageEncoder(channels, image_size, style_width, 2 * style_dim)

    def latent(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The style code ``[N, W, style_dim]`` of each answer character (sampled from the posterior
        of its image) and the KL term."""
        mu, logvar = self.style(self.images(batch, "answer_images")).chunk(2, dim=2)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return z, {"kl": -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(mu)}

    @override
    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        style, terms = self.latent(batch) if self.style_dim else (None, {})
        states = self.decoder.states(self.encoder(batch["query"]))
        logits, target = self.decoder.pixels(states, style), self.images(batch, "answer_images")
        if self.recon_loss == "bce":
            terms["recon_loss"] = F.binary_cross_entropy_with_logits(logits, (target + 1) / 2)
        else:
            terms["recon_loss"] = F.l1_loss(torch.tanh(logits / 2), target)
        if self.namer is not None:
            terms["text_loss"] = F.cross_entropy(self.namer(states).flatten(0, 1), batch["answer"].flatten())
        terms["loss"] = (
            terms["recon_loss"] + self.text_weight * terms.get("text_loss", 0.0) + self.kl_weight * terms.get("kl", 0.0)
        )
        return terms

    def draw(self, query: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Answer images ``[N, answer_width, C, S, S]`` in [-1, 1] for query tokens (on the model's
        device; style codes drawn from ``generator`` when given), in eval mode without gradients."""
        with self.evaluating():
            style = None
            if self.style_dim:
                style = torch.randn(len(query), self.answer_width, self.style_dim, generator=generator).to(self.device)
            return torch.tanh(self.decoder(self.encoder(query.to(self.device)), style) / 2)

    def validation_metrics(self, batch: dict) -> dict[str, torch.Tensor]:
        """Mean squared error of the drawn answers against the batch's answer images, pixels in [0, 1]."""
        drawn = self.draw(batch["query"])
        return {"mse": F.mse_loss((drawn + 1) / 2, (self.images(batch, "answer_images") + 1) / 2)}
