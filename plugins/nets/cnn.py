"""The torch modules of the architecture declared in :mod:`nnbench_plugins.cnn`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the channel dimension (dim 1) of each position of ``(B, C, *spatial)``."""

    def __init__(self, *, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(
            -1, 1
        )  # (B, *spatial, C) normalized, back to (B, C, *spatial)


class ConvBlock2d(nn.Module):
    """Convolution with "same" padding, norm, GELU, dropout, then an optional 2x2 max-pool."""

    def __init__(
        self, *, in_channels: int, out_channels: int, kernel_size: int, norm: bool, dropout: float, pool: bool
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding="same")
        self.norm = ChannelNorm(channels=out_channels) if norm else nn.Identity()
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.drop(self.act(self.norm(self.conv(x)))))  # (B, C_out, H or H/2, W or W/2)


class ImageCNN(nn.Module):
    """Conv blocks, global average pool, linear head."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, int, int],
        output_shape: tuple[int, ...],
        channels: int,
        depth: int,
        kernel_size: int,
        norm: bool,
        dropout: float,
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        in_channels, height, width = input_shape
        blocks = []
        for i in range(depth):
            pool = min(height, width) >= 4  # never pool below 2x2
            blocks.append(
                ConvBlock2d(
                    in_channels=in_channels if i == 0 else channels,
                    out_channels=channels,
                    kernel_size=kernel_size,
                    norm=norm,
                    dropout=dropout,
                    pool=pool,
                )
            )
            if pool:
                height, width = height // 2, width // 2
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels if depth else in_channels, math.prod(output_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)  # (B, channels, H', W')
        x = x.mean(dim=(2, 3))  # (B, channels)
        return self.head(x).view(len(x), *self.output_shape)  # (B, *output_shape)


class TemporalBlock(nn.Module):
    """Padded dilated 1-D convolution, norm, GELU, dropout; residual when the width does not change."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        causal: bool,
        norm: bool,
        dropout: float,
    ):
        super().__init__()
        total = (kernel_size - 1) * dilation  # padding that keeps the length T
        self.padding = (total, 0) if causal else (total // 2, total - total // 2)  # (left, right)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        self.norm = ChannelNorm(channels=out_channels) if norm else nn.Identity()
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.residual = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(nn.functional.pad(x, self.padding))  # (B, C_out, T)
        y = self.drop(self.act(self.norm(y)))
        return x + y if self.residual else y


class SequenceCNN(nn.Module):
    """Embedding (tokens) or features, temporal blocks, then a per-position or pooled head."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        output_shape: tuple[int, ...],
        vocab_size: int | None,
        embed_dim: int,
        channels: int,
        depth: int,
        kernel_size: int,
        dilation: int,
        causal: bool,
        norm: bool,
        dropout: float,
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.embed = nn.Embedding(vocab_size, embed_dim) if vocab_size else None
        in_channels = embed_dim if vocab_size else (input_shape[1] if len(input_shape) == 2 else 1)
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(
                    in_channels=in_channels if i == 0 else channels,
                    out_channels=channels,
                    kernel_size=kernel_size,
                    dilation=dilation**i,
                    causal=causal,
                    norm=norm,
                    dropout=dropout,
                )
                for i in range(depth)
            )
        )
        width = channels if depth else in_channels
        self.per_position = len(output_shape) == 2
        if self.per_position:
            self.head = nn.Conv1d(width, output_shape[1], kernel_size=1)
        else:
            self.head = nn.Linear(width, math.prod(output_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (B, T, E)
        elif x.dim() == 2:
            x = x.unsqueeze(-1)  # (B, T, 1)
        x = self.blocks(x.transpose(1, 2))  # (B, channels, T)
        if self.per_position:
            return self.head(x).transpose(1, 2)  # (B, T, C)
        return self.head(x.mean(dim=2)).view(len(x), *self.output_shape)  # (B, *output_shape)
