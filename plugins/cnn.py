"""Convolutional networks: a VGG-style stack for images, a temporal convolutional network for sequences.

Images ``(C, H, W)``: ``depth`` blocks of (3x3 convolution, LayerNorm over channels, GELU, 2x2 max-pool
while the feature map is at least 4x4), global average pooling, then a linear head (LeCun et al., 1998,
"Gradient-based learning applied to document recognition"; Simonyan & Zisserman, 2015, VGG).

Sequences (tokens ``(T,)`` embedded first, or features ``(T, F)``): ``depth`` residual blocks of 1-D
convolution with "same" padding, optionally dilated, as in a TCN (Bai, Kolter & Koltun, 2018, "An
Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling"). Per-position
tasks (output ``(T, C)``) get a 1x1 convolution head; whole-sequence tasks pool over time first. On a
causal task all padding is on the left, so output t sees only positions <= t.

Normalization is a LayerNorm over the channels of each position (as in ConvNeXt): it does not depend on
the batch, unlike BatchNorm, and never mixes positions, so causality holds.

Cost of the defaults (32 channels, depth 2): 5k-10k parameters on the smoke tasks and about 5-10 ms a
training step of 128 samples on one CPU core, so 300 steps take 2-3 s (digits: ~99% test accuracy).
Sizes on digits-shifted (24x24 images), a step of 64 samples with AdamW on one CPU core: xs (16 channels,
depth 2) 2.7k parameters and 10-14 ms, l (64 channels, depth 4) 113k and 60-80 ms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


class CNN(nnbench.Architecture):
    """A convolutional network: VGG-style on images, a TCN on sequences."""

    name = "cnn"
    modalities = frozenset({"image", "sequence"})
    kinds = frozenset({"classification", "regression"})
    width_option = "channels"

    class Config(nnbench.Config):
        """Size and shape of the convolution stack."""

        channels: int = 32  # feature maps (images) or channels (sequences) of every block
        depth: int = 2  # convolution blocks
        kernel_size: int = 3  # convolution width (odd sizes pad symmetrically)
        dilation: int = (
            1  # sequences: block i dilates by dilation**i (2 doubles the receptive field per block)
        )
        embed_dim: int = 16  # embedding size per token, for token-sequence tasks only
        norm: bool = True  # LayerNorm over channels after each convolution
        dropout: float = 0.0  # dropout after each activation

    # Channels grow and blocks are added (deeper blocks run on pooled, smaller maps, so they add
    # parameters cheaply): 2.5-4.5x the parameters per size; s is the default 32 x 2. l takes 60-80 ms
    # a step on the 24x24 images of digits-shifted, where wider full-size blocks get expensive.
    sizes = {
        "xs": {"channels": 16, "depth": 2},
        "s": {"channels": 32, "depth": 2},
        "m": {"channels": 48, "depth": 3},
        "l": {"channels": 64, "depth": 4},
    }
    # Learning rate a decade either side of Adam's 1e-3; channels and depth within the sizes (64 x 4 is
    # the most a CPU step should pay for on 24x24 images); a little dropout for the small image sets.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "channels": nnbench.Choice([16, 32, 64]),
        "depth": nnbench.IntRange(1, 4),
        "dropout": nnbench.Uniform(0.0, 0.3),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the input and output shapes a convolution stack can map."""
        reason = super().incompatibility(task)
        if reason is not None:
            return reason
        if task.modality == "image" and len(task.input_shape) != 3:
            return f"cnn needs images shaped (C, H, W), got {task.input_shape}"
        if (
            task.modality == "sequence"
            and len(task.output_shape) == 2
            and task.output_shape[0] != task.input_shape[0]
        ):
            return f"cnn's per-position head needs one output per input position, got {task.input_shape} -> {task.output_shape}"
        return None

    def state_size(self, task: nnbench.TaskSpec, config: CNN.Config, *, length: int) -> int | None:
        """The receptive-field buffer of a streaming TCN: block i keeps its last (kernel_size - 1) x
        dilation**i inputs, whatever the length; None for images."""
        if task.modality != "sequence":
            return None
        first = (
            config.embed_dim
            if task.vocab_size
            else (task.input_shape[1] if len(task.input_shape) == 2 else 1)
        )
        return sum(
            (config.kernel_size - 1) * config.dilation**i * (first if i == 0 else config.channels)
            for i in range(config.depth)
        )

    def build(self, task: nnbench.TaskSpec, config: CNN.Config) -> nn.Module:
        """An :class:`ImageCNN` or a :class:`SequenceCNN` for ``task``."""
        from nnbench_plugins.nets.cnn import ImageCNN, SequenceCNN

        common = dict(
            output_shape=task.output_shape,
            channels=config.channels,
            depth=config.depth,
            kernel_size=config.kernel_size,
            norm=config.norm,
            dropout=config.dropout,
        )
        if task.modality == "image":
            return ImageCNN(input_shape=task.input_shape, **common)
        return SequenceCNN(
            input_shape=task.input_shape,
            vocab_size=task.vocab_size,
            embed_dim=config.embed_dim,
            dilation=config.dilation,
            causal=task.causal,
            **common,
        )


@hookimpl
def register_architectures(register):
    """Register the CNN."""
    register(CNN())
