"""The torch modules of the architecture declared in :mod:`nnbench_plugins.transformer`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import nnbench


def sinusoidal_positions(*, length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """The fixed positions of Vaswani et al.: sin on even channels, cos on odd, ``(length, dim)``."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]  # (L, 1)
    channels = torch.arange(0, dim, 2, dtype=torch.float32, device=device)
    frequency = torch.exp(channels * (-math.log(10000.0) / dim))  # (D/2,)
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def largest_patch(*, height: int, width: int, patch: int) -> int:
    """The largest patch size <= ``patch`` that divides both sides of the image."""
    return max(p for p in range(1, min(patch, height, width) + 1) if height % p == 0 and width % p == 0)


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``scaled_dot_product_attention`` (causal when asked)."""

    def __init__(self, *, d_model: int, heads: int, dropout: float, causal: bool):
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.heads, D // self.heads)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, nh, T, hs)
        y = nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class Block(nn.Module):
    """Pre-norm block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, *, d_model: int, heads: int, mlp_ratio: int, dropout: float, causal: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model=d_model, heads=heads, dropout=dropout, causal=causal)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))  # (B, T, D)


class FeatureTokens(nn.Module):
    """FT-Transformer's tokenizer: scalar feature f becomes ``x_f * W_f + b_f``."""

    def __init__(self, *, features: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(features, d_model) / math.sqrt(d_model))
        self.bias = nn.Parameter(torch.zeros(features, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., None] * self.weight + self.bias  # (B, F, 1) * (F, D) -> (B, F, D)


class TransformerNet(nn.Module):
    """Tokenizer, positions, optional CLS token, pre-norm blocks, final LayerNorm, linear head."""

    def __init__(
        self,
        *,
        task: nnbench.TaskSpec,
        d_model: int,
        depth: int,
        heads: int,
        mlp_ratio: int,
        dropout: float,
        positions: str,
        patch: int,
        pool: str,
    ):
        super().__init__()
        self.output_shape = tuple(task.output_shape)
        self.modality = task.modality
        self.per_position = task.modality == "sequence" and len(task.output_shape) == 2
        self.patch_size = None
        if task.modality == "image":
            channels, height, width = task.input_shape
            self.patch_size = largest_patch(height=height, width=width, patch=patch)
            self.tokenizer = nn.Conv2d(channels, d_model, self.patch_size, stride=self.patch_size)
            length = (height // self.patch_size) * (width // self.patch_size)
        elif task.modality == "tabular":
            self.tokenizer = FeatureTokens(features=task.input_shape[0], d_model=d_model)
            length = task.input_shape[0]
        elif task.vocab_size:
            self.tokenizer = nn.Embedding(task.vocab_size, d_model)
            length = task.input_shape[0]
        else:
            features = task.input_shape[1] if len(task.input_shape) == 2 else 1
            self.tokenizer = nn.Linear(features, d_model)
            length = task.input_shape[0]
        if task.modality == "tabular":
            self.register_buffer("positions", None)
        elif positions == "learned":
            self.positions = nn.Parameter(0.02 * torch.randn(length, d_model))  # (L, D)
        else:
            self.register_buffer("positions", sinusoidal_positions(length=length, dim=d_model))  # (L, D)
        self.sinusoidal = positions == "sinusoidal" and task.modality != "tabular"
        self.use_cls = not self.per_position and pool == "cls"
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, d_model)) if self.use_cls else None
        self.drop = nn.Dropout(dropout)
        causal = task.causal and self.per_position
        self.blocks = nn.Sequential(
            *(
                Block(d_model=d_model, heads=heads, mlp_ratio=mlp_ratio, dropout=dropout, causal=causal)
                for _ in range(depth)
            )
        )
        self.ln_f = nn.LayerNorm(d_model)
        out_features = task.output_shape[1] if self.per_position else math.prod(task.output_shape)
        self.head = nn.Linear(d_model, out_features)
        nn.init.zeros_(self.head.weight)  # as in ViT: every output starts at its bias (uniform classes)
        nn.init.zeros_(self.head.bias)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """One input batch as ``(B, L, D)`` tokens, positions added."""
        if self.modality == "image":
            x = self.tokenizer(x).flatten(2).transpose(1, 2)  # (B, D, H/p, W/p) -> (B, L, D)
        elif isinstance(self.tokenizer, nn.Linear) and x.dim() == 2:
            x = self.tokenizer(x.unsqueeze(-1))  # (B, T, 1) -> (B, T, D)
        else:
            x = self.tokenizer(x)  # (B, L, D)
        if self.positions is None:
            return x
        length = x.shape[1]
        if length <= len(self.positions):
            return x + self.positions[:length]  # shorter sequences use the first positions
        if not self.sinusoidal:
            raise ValueError(
                f"transformer: learned positions cover {len(self.positions)} tokens, got {length} "
                "(use positions: sinusoidal for longer sequences)"
            )
        return x + sinusoidal_positions(length=length, dim=x.shape[2], device=x.device)  # longer: (L', D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x)  # (B, L, D)
        if self.use_cls:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)  # (B, 1+L, D)
        h = self.ln_f(self.blocks(self.drop(h)))
        if self.per_position:
            return self.head(h)  # (B, T, C)
        pooled = h[:, 0] if self.use_cls else h.mean(dim=1)  # (B, D)
        return self.head(pooled).view(len(x), *self.output_shape)  # (B, *output_shape)
