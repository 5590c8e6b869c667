"""A multilayer perceptron: the baseline every other family has to beat.

Each sample is flattened to one vector (token sequences are embedded first) and passed through
``depth`` hidden layers of ``width`` units with GELU activations, then a linear layer to the task's
outputs. It has no prior about space or order, which is exactly what the comparison needs to show.
References: Rumelhart, Hinton & Williams (1986), "Learning representations by back-propagating errors";
GELU: Hendrycks & Gimpel (2016), "Gaussian Error Linear Units".

On a causal task (``task.causal``: output t may only look at positions <= t) the weights are masked as
in MADE (Germain et al., 2015, "MADE: Masked Autoencoder for Distribution Estimation"): each hidden
unit is given a position and only connects to inputs at or before it, and output t only to units at or
before t.

Cost of the defaults (2 x 128): 21k-90k parameters on the smoke tasks and about 1-2 ms a training
step of 128 samples on one CPU core, so 300 steps take under a second (digits: ~98% test accuracy).
Sizes on mnist1d, a step of 64 samples with AdamW on one CPU core: xs (2 x 48) 4.8k parameters and 0.7 ms,
l (3 x 512) 551k and 5.5 ms.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import nnbench
from nnbench import hookimpl


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


class MLP(nnbench.Architecture):
    """A multilayer perceptron on the flattened input (Rumelhart et al., 1986)."""

    name = "mlp"
    modalities = frozenset({"tabular", "image", "sequence", "points"})
    kinds = frozenset({"classification", "regression"})

    class Config(nnbench.Config):
        """Size of the network."""

        width: int = 128  # units per hidden layer
        depth: int = 2  # hidden layers (0: a linear model)
        embed_dim: int = 16  # embedding size per token, for token-sequence tasks only
        dropout: float = 0.0  # dropout after each hidden activation

    # Width doubles or more (and a third layer comes in at m): 4-6x the parameters per size on mnist1d
    # (5k to 550k); s is the default 2 x 128; even l steps in a few ms on a CPU core.
    sizes = {
        "xs": {"width": 48, "depth": 2},
        "s": {"width": 128, "depth": 2},
        "m": {"width": 256, "depth": 3},
        "l": {"width": 512, "depth": 3},
    }
    # Learning rate a decade either side of AdamW's 1e-3. Widths and depths within the sizes (all cheap
    # on a CPU); dropout up to 0.3, for the small tables.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "width": nnbench.Choice([64, 128, 256, 512]),
        "depth": nnbench.IntRange(1, 4),
        "dropout": nnbench.Uniform(0.0, 0.3),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus: a causal task must have one output row per input position."""
        reason = super().incompatibility(task)
        if reason is None and self._is_causal(task) and task.output_shape[0] != task.input_shape[0]:
            reason = f"mlp's causal masks need one output per input position, got {task.input_shape} -> {task.output_shape}"
        return reason

    @staticmethod
    def _is_causal(task: nnbench.TaskSpec) -> bool:
        return task.causal and task.modality == "sequence" and len(task.output_shape) == 2

    def build(self, task: nnbench.TaskSpec, config: MLP.Config) -> nn.Module:
        """An :class:`MLPNet` from ``(B, *task.input_shape)`` to ``(B, *task.output_shape)``."""
        return MLPNet(
            input_shape=task.input_shape,
            output_shape=task.output_shape,
            width=config.width,
            depth=config.depth,
            dropout=config.dropout,
            vocab_size=task.vocab_size,
            embed_dim=config.embed_dim,
            causal=self._is_causal(task),
        )


@hookimpl
def register_architectures(register):
    """Register the MLP."""
    register(MLP())
