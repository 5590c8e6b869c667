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

from typing import TYPE_CHECKING, Literal

import pydantic

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


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
        from nnbench_plugins.nets.transformer import TransformerNet

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
