"""The torch modules of the architecture declared in :mod:`nnbench_plugins.mlp`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (no mask: a plain linear layer)."""

    def __init__(self, *, in_features: int, out_features: int, mask: torch.Tensor | None = None):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask)  # (out_features, in_features) or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight if self.mask is None else self.weight * self.mask
        return nn.functional.linear(x, weight, self.bias)


def causal_masks(*, seq_len: int, sizes: list[int]) -> list[torch.Tensor]:
    """MADE masks for layers of ``sizes`` (input, hidden..., output) laid out position-major.

    Inputs and outputs belong to position ``i // (size / seq_len)``; hidden unit k to ``k * seq_len // width``.
    A unit may connect to a unit of the previous layer whose position is not later than its own.
    """
    degrees = [torch.arange(seq_len).repeat_interleave(sizes[0] // seq_len)]
    degrees += [torch.arange(width) * seq_len // width for width in sizes[1:-1]]
    degrees.append(torch.arange(seq_len).repeat_interleave(sizes[-1] // seq_len))
    return [
        (later[:, None] >= earlier[None, :]).float()
        for earlier, later in zip(degrees[:-1], degrees[1:], strict=True)
    ]


class MLPNet(nn.Module):
    """Flatten, ``depth`` x (Linear, GELU, Dropout), Linear; reshaped to the task's output shape."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        width: int,
        depth: int,
        dropout: float,
        vocab_size: int | None = None,
        embed_dim: int = 16,
        causal: bool = False,
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.embed = nn.Embedding(vocab_size, embed_dim) if vocab_size else None
        in_features = math.prod(input_shape) * (embed_dim if vocab_size else 1)
        sizes = [in_features] + [width] * depth + [math.prod(output_shape)]
        masks = causal_masks(seq_len=output_shape[0], sizes=sizes) if causal else [None] * (depth + 1)
        layers: list[nn.Module] = []
        for i, mask in enumerate(masks):
            layers.append(MaskedLinear(in_features=sizes[i], out_features=sizes[i + 1], mask=mask))
            if i < depth:
                layers.append(nn.GELU())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (B, T, E)
        x = x.flatten(1)  # (B, F), position-major for sequences
        return self.layers(x).view(len(x), *self.output_shape)  # (B, *output_shape)
