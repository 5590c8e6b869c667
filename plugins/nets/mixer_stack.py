"""The residual stack the sequence-mixer plugins share (``ssm``, ``linear-attention``, ``hyena``).

Not an architecture: it holds what those three files would otherwise each repeat, so that each of them
is only its mixer. A sequence becomes ``d_model`` tokens (token ids through an embedding, feature
sequences ``(T, F)`` or scalar sequences ``(T,)`` through a linear map), then ``depth`` pre-norm blocks
``x + mixer(norm(x))`` (and ``x + mlp(norm(x))`` when ``mlp_ratio`` > 0), as in the Transformer (Vaswani
et al., 2017) with its attention swapped for another token mixer, which is how Zoology (Arora et al.,
2023, "Zoology: Measuring and Improving Recall in Efficient Language Models") compares mixers. A final
norm, then a linear head on every position (per-position tasks) or on the mean or last position.

Every mixer here is causal, so the stack is too, whatever the task. A mixer also reads a sequence one
position at a time: ``initial_state(batch)`` and ``step(x_t, state) -> (y_t, state)``; the stack's
:meth:`MixerStack.recurrent` uses them and must give what ``forward`` gives (the tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class ShortConv(nn.Module):
    """A causal depthwise 1-D convolution over a few positions (the "short convolution" of H3, Hyena,
    Mamba and Based): output t mixes inputs t-k+1..t of the same channel."""

    def __init__(self, *, channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(channels, channels, kernel_size, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x.transpose(1, 2), (self.kernel_size - 1, 0))  # (B, C, k-1+T): left only
        return self.conv(x).transpose(1, 2)  # (B, T, C)

    def initial_state(self, batch: int) -> torch.Tensor:
        """The last ``k - 1`` inputs, zeros before the sequence starts: ``(B, C, k-1)``."""
        weight = self.conv.weight
        return weight.new_zeros(batch, weight.shape[0], self.kernel_size - 1)

    def step(self, x_t: torch.Tensor, buffer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One position: ``x_t`` is ``(B, C)``; returns the output ``(B, C)`` and the new buffer."""
        window = torch.cat([buffer, x_t[:, :, None]], dim=2)  # (B, C, k)
        y = (window * self.conv.weight[:, 0, :]).sum(dim=2) + self.conv.bias  # (B, C)
        return y, window[:, :, 1:]


class Block(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm(x))``, then ``x + mlp(norm(x))`` if it has an MLP."""

    def __init__(self, *, d_model: int, mixer: nn.Module, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(d_model) if mlp_ratio else None
        self.mlp = (
            nn.Sequential(
                nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model)
            )
            if mlp_ratio
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))  # (B, T, D)
        return x if self.mlp is None else x + self.mlp(self.norm2(x))

    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One position ``(B, D)`` through the block, with the mixer's state."""
        y, state = self.mixer.step(self.norm1(x_t), state)
        x_t = x_t + y
        return (x_t if self.mlp is None else x_t + self.mlp(self.norm2(x_t))), state


class MixerStack(nn.Module):
    """Tokens, ``depth`` blocks of ``make_mixer()``, a final norm and a per-position or pooled head."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        vocab_size: int | None,
        d_model: int,
        depth: int,
        mlp_ratio: int,
        pool: str,
        make_mixer: Callable[[], nn.Module],
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.per_position = len(output_shape) == 2
        self.pool = pool
        if vocab_size:
            self.tokenizer: nn.Module = nn.Embedding(vocab_size, d_model)
        else:
            features = input_shape[1] if len(input_shape) == 2 else 1
            self.tokenizer = nn.Linear(features, d_model)
        self.blocks = nn.ModuleList(
            Block(d_model=d_model, mixer=make_mixer(), mlp_ratio=mlp_ratio) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(d_model)
        out_features = output_shape[1] if self.per_position else math.prod(output_shape)
        self.head = nn.Linear(d_model, out_features)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of inputs as ``(B, T, D)`` tokens."""
        if isinstance(self.tokenizer, nn.Linear) and x.dim() == 2:
            x = x.unsqueeze(-1)  # (B, T, 1): one feature per position
        return self.tokenizer(x)  # (B, T, D)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """Normed hidden states ``(B, T, D)`` to the task's outputs."""
        if self.per_position:
            return self.head(h)  # (B, T, C)
        pooled = h.mean(dim=1) if self.pool == "mean" else h[:, -1]  # (B, D)
        return self.head(pooled).view(len(h), *self.output_shape)  # (B, *output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x)
        for block in self.blocks:
            h = block(h)
        return self.readout(self.norm(h))

    def recurrent(self, x: torch.Tensor) -> torch.Tensor:
        """The same outputs as ``forward``, reading one position at a time with each mixer's state."""
        tokens = self.tokens(x)  # (B, T, D)
        states = [block.mixer.initial_state(len(x)) for block in self.blocks]
        hidden = []
        for t in range(tokens.shape[1]):
            h_t = tokens[:, t]  # (B, D)
            for i, block in enumerate(self.blocks):
                h_t, states[i] = block.step(h_t, states[i])
            hidden.append(self.norm(h_t))
        return self.readout(torch.stack(hidden, dim=1))  # (B, T, D) -> outputs
