"""The torch modules of the architecture declared in :mod:`nnbench_plugins.rnn`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RNNNet(nn.Module):
    """Embedding or row reader, a stacked LSTM/GRU, then a per-position or whole-sequence linear head."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        image: bool,
        vocab_size: int | None,
        embed_dim: int,
        cell: str,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        pool: str,
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.image = image
        self.pool = pool
        self.embed = nn.Embedding(vocab_size, embed_dim) if vocab_size else None
        if vocab_size:
            in_features = embed_dim
        elif image:
            in_features = input_shape[0] * input_shape[2]  # C * W features per row
        else:
            in_features = input_shape[1] if len(input_shape) == 2 else 1
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_cls(
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        if cell == "lstm":  # gates are ordered (input, forget, cell, output): forget bias 1 in all
            with torch.no_grad():
                for name, bias in self.rnn.named_parameters():
                    if name.startswith("bias_"):
                        bias[hidden : 2 * hidden] = 1.0 if name.startswith("bias_ih") else 0.0
        self.directions = 2 if bidirectional else 1
        self.per_position = len(output_shape) == 2
        width = hidden * self.directions
        out_features = output_shape[1] if self.per_position else math.prod(output_shape)
        self.head = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (B, T, E)
        elif self.image:
            x = x.permute(0, 2, 1, 3).flatten(2)  # (B, C, H, W) -> (B, H, C*W): one row per step
        elif x.dim() == 2:
            x = x.unsqueeze(-1)  # (B, T, 1)
        states, final = self.rnn(x)  # (B, T, dirs*hidden)
        if self.per_position:
            return self.head(states)  # (B, T, C)
        if self.pool == "mean":
            pooled = states.mean(dim=1)  # (B, dirs*hidden)
        else:
            h_n = final[0] if isinstance(final, tuple) else final  # (layers*dirs, B, hidden)
            pooled = h_n[-self.directions :].transpose(0, 1).flatten(1)  # last layer: (B, dirs*hidden)
        return self.head(pooled).view(len(x), *self.output_shape)  # (B, *output_shape)
