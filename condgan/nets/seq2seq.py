"""Encoder-decoder blocks of the arithmetic sequence models (report 002, sections 3-4): a recurrent
encoder of per-character vectors, a small CNN that turns each character image into such a vector,
a recurrent text decoder (teacher forcing, greedy decoding) and a recurrent decoder that emits one
image per answer character."""

import torch
from torch import nn
from typing_extensions import override

from condgan.errors import ConfigError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def recurrent_layers(cell: str, input_size: int, hidden: int, layers: int, dropout: float) -> nn.RNNBase:
    """A batch-first LSTM or GRU stack; ``dropout`` between its layers (none for a single layer)."""
    if cell not in CELLS:
        raise ConfigError(f"model cell type {cell!r}: use one of {', '.join(CELLS)}")
    if layers < 1:
        raise ConfigError(f"a recurrent stack of {layers} layers: use 1 or more")
    return CELLS[cell](input_size, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0, batch_first=True)


class SequenceEncoder(nn.Module):
    """A recurrent stack over ``[N, L, input_dim]`` vectors; its summary is the top layer's last
    hidden state ``[N, hidden]``."""

    def __init__(self, input_dim: int, hidden: int, layers: int, cell: str, dropout: float) -> None:
        super().__init__()
        self.rnn = recurrent_layers(cell, input_dim, hidden, layers, dropout)

    @override
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(inputs)
        h = state[0] if isinstance(state, tuple) else state
        return h[-1]


class CharImageEncoder(nn.Module):
    """Each character image of ``[N, L, C, S, S]`` (values in [-1, 1]) to an ``out_dim`` vector:
    two strided 3x3 convolutions (``width``, ``2 * width`` channels, batch norm, ReLU) and a linear
    layer, layer-normalised so the recurrent stack reading it starts with unsaturated gates; shared
    across positions."""

    def __init__(self, channels: int, image_size: int, width: int, out_dim: int) -> None:
        super().__init__()
        side = ((image_size + 1) // 2 + 1) // 2  # after two stride-2 convolutions with padding 1
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(2 * width * side * side, out_dim),
            nn.LayerNorm(out_dim),
        )

    @override
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, length = images.shape[:2]
        return self.net(images.flatten(0, 1)).reshape(n, length, -1)


class Bridge(nn.Module):
    """The initial state of every layer of a decoder stack from a summary vector: ``tanh`` of a
    linear map (and for an LSTM the same for its cell state)."""

    def __init__(self, context_dim: int, hidden: int, layers: int, cell: str) -> None:
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.maps = nn.ModuleList(nn.Linear(context_dim, layers * hidden) for _ in range(2 if cell == "lstm" else 1))

    @override
    def forward(self, context: torch.Tensor):
        states = [
            torch.tanh(m(context)).reshape(-1, self.layers, self.hidden).transpose(0, 1).contiguous() for m in self.maps
        ]
        return tuple(states) if len(states) == 2 else states[0]


class TextDecoder(nn.Module):
    """Answer tokens from a summary vector: each step reads the previous token's embedding beside
    the summary, a recurrent stack carries the state (initialised from the summary), a linear head
    gives the next token's logits."""

    def __init__(
        self, vocabulary: int, embed_dim: int, context_dim: int, hidden: int, layers: int, cell: str, dropout: float
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embed_dim)
        self.bridge = Bridge(context_dim, hidden, layers, cell)
        self.rnn = recurrent_layers(cell, embed_dim + context_dim, hidden, layers, dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, vocabulary))

    def step(self, context: torch.Tensor, tokens: torch.Tensor, state) -> tuple[torch.Tensor, object]:
        """Logits ``[N, T, vocabulary]`` after reading ``tokens`` ``[N, T]`` from ``state``, and the new state."""
        inputs = torch.cat([self.embed(tokens), context[:, None].expand(-1, tokens.shape[1], -1)], dim=2)
        outputs, state = self.rnn(inputs, state)
        return self.head(outputs), state

    def forward(self, context: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits of every answer position given the true previous tokens ``[N, T]``
        (the start token, then the answer without its last token)."""
        return self.step(context, previous, self.bridge(context))[0]

    def greedy(self, context: torch.Tensor, start: int, steps: int) -> torch.Tensor:
        """int64 ``[N, steps]`` tokens, each the most likely given the ones chosen before."""
        token = torch.full((len(context), 1), start, dtype=torch.long, device=context.device)
        state, chosen = self.bridge(context), []
        for _ in range(steps):
            logits, state = self.step(context, token, state)
            token = logits.argmax(2)
            chosen.append(token)
        return torch.cat(chosen, dim=1)


class ImageSequenceDecoder(nn.Module):
    """One image per answer position from a summary vector: a recurrent stack reads the summary and a
    learned position embedding at each of ``steps`` positions; each output (with a ``style_dim``
    style code of its own, if any) becomes an image through a two-layer perceptron (``image_hidden``
    units). Returns pixel logits ``[N, steps, C, S, S]`` (image = ``tanh(logits / 2)``)."""

    def __init__(
        self,
        context_dim: int,
        hidden: int,
        layers: int,
        cell: str,
        dropout: float,
        steps: int,
        channels: int,
        image_size: int,
        image_hidden: int,
        style_dim: int = 0,
        position_dim: int = 16,
    ) -> None:
        super().__init__()
        self.steps, self.shape = steps, (channels, image_size, image_size)
        self.positions = nn.Parameter(torch.randn(steps, position_dim) * 0.1)
        self.bridge = Bridge(context_dim, hidden, layers, cell)
        self.rnn = recurrent_layers(cell, context_dim + position_dim, hidden, layers, dropout)
        self.draw = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(hidden + style_dim, image_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(image_hidden, channels * image_size * image_size),
        )

    def states(self, context: torch.Tensor) -> torch.Tensor:
        """The recurrent stack's output ``[N, steps, hidden]`` at each answer position."""
        n = len(context)
        inputs = torch.cat([context[:, None].expand(-1, self.steps, -1), self.positions.expand(n, -1, -1)], dim=2)
        return self.rnn(inputs, self.bridge(context))[0]

    def pixels(self, states: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel logits ``[N, steps, C, S, S]`` of the images at :meth:`states` (in ``style``
        ``[N, steps, style_dim]``, if the decoder has one)."""
        inputs = states if style is None else torch.cat([states, style], dim=2)
        return self.draw(inputs).reshape(*states.shape[:2], *self.shape)

    @override
    def forward(self, context: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self.pixels(self.states(context), style)


class TokenEncoder(nn.Module):
    """Query tokens ``[N, L]`` to a summary ``[N, hidden]``: a character embedding, then a
    :class:`SequenceEncoder`."""

    def __init__(self, vocabulary: int, embed_dim: int, hidden: int, layers: int, cell: str, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embed_dim)
        self.encoder = SequenceEncoder(embed_dim, hidden, layers, cell, dropout)

    @override
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embed(tokens))
