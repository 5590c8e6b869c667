"""A pre-norm Transformer encoder over tokens, image patches or table features.

Every input becomes a sequence of ``d_model`` tokens: token sequences ``(T,)`` through an embedding,
feature sequences ``(T, F)`` through a linear map, images ``(C, H, W)`` as non-overlapping patches
(ViT: Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words"), and tables ``(F,)`` as one token per
feature, ``value * W_f + b_f`` (FT-Transformer: Gorishniy et al., 2021, "Revisiting Deep Learning Models
for Tabular Data"). Then ``depth`` pre-norm blocks (Xiong et al., 2020, "On Layer Normalization in the
Transformer Architecture") of multi-head self-attention and a GELU MLP, as in Vaswani et al. (2017),
"Attention Is All You Need". Sequences and patches get learned or sinusoidal positions; feature tokens
need none (each feature has its own embedding). Sinusoidal positions extend to sequences longer than the
task's (length generalisation); learned ones do not. Per-position tasks (output ``(T, C)``) get a head on
every token; the others on a CLS token or on the mean token. On a causal task attention is masked
(``is_causal``), so output t sees only positions <= t.

An image whose sides ``patch`` does not divide uses the largest patch size below it that divides both
(down to 1 pixel); the model's ``patch_size`` attribute holds the one used.

Cost of the defaults (d_model 64, depth 2, 4 heads, patch 4): about 102k parameters; a training step of
128 samples on one CPU core takes about 12 ms on digits (4 patches + CLS; 97.5% in 30 s) and 50-57 ms
on running-parity (32 tokens) or tabular-real (30 feature tokens + CLS). Sizes on mnist1d (40 tokens +
CLS), a step of 64 samples with AdamW on one CPU core: xs (d_model 32, 1 block) 14.5k parameters and
8 ms, l (d_model 192, 3 blocks) 1.35M and 291 ms (471 ms on mqar's 64 tokens).
"""

from __future__ import annotations

import math
from typing import Literal

import pydantic
import torch
from torch import nn

import nnbench
from nnbench import hookimpl


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


class Transformer(nnbench.Architecture):
    """A pre-norm Transformer encoder (Vaswani et al., 2017): ViT on images, FT-Transformer on tables."""

    name = "transformer"
    modalities = frozenset({"tabular", "image", "sequence"})
    kinds = frozenset({"classification", "regression"})
    width_option = "d_model"

    class Config(nnbench.Config):
        """Size of the encoder and how inputs become tokens."""

        d_model: int = 64  # token width
        depth: int = 2  # encoder blocks
        heads: int = 4  # attention heads (must divide d_model)
        mlp_ratio: int = 4  # MLP hidden width as a multiple of d_model
        dropout: float = 0.0  # dropout on tokens, attention weights and MLP outputs
        positions: Literal["learned", "sinusoidal"] = "learned"  # position encoding of sequences and patches
        patch: int = 4  # image patch side (4: 4 patches of an 8x8 digit); falls back to one that divides
        pool: Literal["cls", "mean"] = "cls"  # whole-input tasks: read the CLS token or the mean token

        @pydantic.model_validator(mode="after")
        def _heads_divide_width(self):
            if self.d_model % self.heads:
                raise ValueError(f"heads ({self.heads}) must divide d_model ({self.d_model})")
            if self.positions == "sinusoidal" and self.d_model % 2:
                raise ValueError(f"sinusoidal positions need an even d_model, got {self.d_model}")
            return self

    # d_model and depth grow, parameters about 3-7x a step; s is the default (64 wide, 2 blocks, 4
    # heads). Heads divide d_model in every size. A step costs about params x tokens, already 35-60 ms
    # at s on the quick tasks' 40-64 tokens on a CPU core, so m and l are meant for a GPU.
    sizes = {
        "xs": {"d_model": 32, "depth": 1, "heads": 2},
        "s": {"d_model": 64, "depth": 2, "heads": 4},
        "m": {"d_model": 128, "depth": 2, "heads": 4},
        "l": {"d_model": 192, "depth": 3, "heads": 4},
    }
    # Learning rate a decade either side of AdamW's 1e-3; AdamW weight decay from negligible to strong;
    # widths all divisible by the default 4 heads and by xs's 2 (and even, for sinusoidal positions);
    # at most 3 blocks to keep a CPU step cheap.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "training.weight_decay": nnbench.LogUniform(1e-5, 1e-1),
        "d_model": nnbench.Choice([32, 64, 96, 128]),
        "depth": nnbench.IntRange(1, 3),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the shapes a token encoder can read and map."""
        reason = super().incompatibility(task)
        if reason is not None:
            return reason
        if task.modality == "image" and len(task.input_shape) != 3:
            return f"transformer cuts images shaped (C, H, W) into patches, got {task.input_shape}"
        if task.modality == "tabular" and len(task.input_shape) != 1:
            return f"transformer reads tables as (F,) feature vectors, got {task.input_shape}"
        if task.modality != "sequence" and len(task.output_shape) != 1:
            return f"transformer maps a {task.modality} input to one output vector, not {task.output_shape}"
        if len(task.output_shape) == 2 and task.output_shape[0] != task.input_shape[0]:
            return f"transformer's per-position head needs one output per input position, got {task.input_shape} -> {task.output_shape}"
        return None

    def state_size(self, task: nnbench.TaskSpec, config: Transformer.Config, *, length: int) -> int | None:
        """The KV cache: a key and a value of d_model per token per block, so it grows with ``length``
        (one token more for the CLS token of whole-sequence tasks); None for tables and images."""
        if task.modality != "sequence":
            return None
        tokens = length + (1 if len(task.output_shape) == 1 and config.pool == "cls" else 0)
        return 2 * config.depth * tokens * config.d_model

    def build(self, task: nnbench.TaskSpec, config: Transformer.Config) -> nn.Module:
        """A :class:`TransformerNet` for ``task``."""
        return TransformerNet(
            task=task,
            d_model=config.d_model,
            depth=config.depth,
            heads=config.heads,
            mlp_ratio=config.mlp_ratio,
            dropout=config.dropout,
            positions=config.positions,
            patch=config.patch,
            pool=config.pool,
        )


@hookimpl
def register_architectures(register):
    """Register the Transformer."""
    register(Transformer())
