"""Causal linear attention with a Taylor feature map (Based), in plain PyTorch.

Arora et al. (2024), "Simple linear attention language models balance the recall-throughput tradeoff"
(Based). Softmax attention weighs value s at position t by ``exp(q_t · k_s / sqrt(f))``; Based replaces
the exponential by its second-order Taylor expansion, ``1 + x + x^2 / 2``, which is a dot product of
feature maps ``phi(q_t) · phi(k_s)`` with ``phi(x) = [1, x / f^(1/4), (x ⊗ x) / sqrt(2 f)]`` (``1 + f + f^2``
features for ``f``-dimensional queries and keys). The output is then a running sum (Katharopoulos et
al., 2020, "Transformers are RNNs")::

    S_t = S_{t-1} + phi(k_t) v_t^T      z_t = z_{t-1} + phi(k_t)      y_t = phi(q_t)^T S_t / phi(q_t)^T z_t

so a sequence is read in time linear in its length with a fixed state of ``heads x (1 + f + f^2) x
(head_dim + 1)`` numbers: the recall a model can do is bounded by that state, which ``feature_dim``
sets (the recall-throughput trade-off of the paper). As in Based, a short causal depthwise convolution
before the projections gives each token its neighbours (a key can carry the token before it).

Training is chunked (as in flash-linear-attention's chunk form; Yang et al., 2024, "Gated Linear
Attention Transformers with Hardware-Efficient Training"): within a chunk the kernel ``1 + s + s^2/2``
of ``s = q·k / sqrt(f)`` is applied as masked attention (the feature map is never built there), and
the state ``S, z`` carries earlier chunks. :meth:`TaylorLinearAttention.step` is the recurrence itself.

Cost of the defaults (d_model 64, 1 head, f 16, 2 blocks with an MLP of 2x): 63k parameters on mqar
(64 tokens); a training step of 64 sequences took 0.10-0.19 s on one core of a loaded 2-core CPU, about
2x the default Transformer's measured alongside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pydantic
from nnbench_plugins.sequence_shapes import sequence_incompatibility

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


class LinearAttention(nnbench.Architecture):
    """Causal linear attention with Based's Taylor feature map (Arora et al., 2024)."""

    name = "linear-attention"
    modalities = frozenset({"sequence"})
    kinds = frozenset({"classification", "regression"})
    width_option = "d_model"

    class Config(nnbench.Config):
        """Width, depth and feature map of the linear-attention blocks."""

        d_model: int = 64  # token width
        depth: int = 2  # blocks
        heads: int = 1  # attention heads (must divide d_model); Based uses one
        feature_dim: int = 16  # query/key size f per head: the state grows as f^2 (Based uses 16)
        d_conv: int = 3  # width of the short causal convolution before the projections
        chunk: int = 32  # positions per chunk of the training form
        mlp_ratio: int = 2  # MLP hidden width after each mixer, as a multiple of d_model (0: none)
        pool: Literal["mean", "last"] = "mean"  # whole-sequence tasks: mean over positions or the last

        @pydantic.model_validator(mode="after")
        def _heads_divide_width(self):
            if self.d_model % self.heads:
                raise ValueError(f"heads ({self.heads}) must divide d_model ({self.d_model})")
            return self

    # Width grows with the feature size (the state, heads x (1+f+f^2) x head size, grows with both);
    # s is the default.
    sizes = {
        "xs": {"d_model": 32, "depth": 1, "feature_dim": 8},
        "s": {"d_model": 64, "depth": 2, "feature_dim": 16},
        "m": {"d_model": 128, "depth": 2, "feature_dim": 16},
        "l": {"d_model": 192, "depth": 3, "feature_dim": 24},
    }
    # Learning rate a decade either side of 1e-3; width, depth and the feature size within the sizes.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "d_model": nnbench.Choice([32, 64, 128]),
        "depth": nnbench.IntRange(1, 3),
        "feature_dim": nnbench.Choice([8, 16, 24]),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the shapes the stack can read and map."""
        return super().incompatibility(task) or sequence_incompatibility(self.name, task)

    def state_size(self, task: nnbench.TaskSpec, config: LinearAttention.Config, *, length: int) -> int:
        """Per block: ``S`` and ``z`` of every head, and the convolution's last inputs; not ``length``."""
        features = 1 + config.feature_dim + config.feature_dim**2
        head_size = config.d_model // config.heads
        per_block = config.heads * features * (head_size + 1) + config.d_model * (config.d_conv - 1)
        return config.depth * per_block

    def build(self, task: nnbench.TaskSpec, config: LinearAttention.Config) -> nn.Module:
        """A :class:`~nnbench_plugins.nets.mixer_stack.MixerStack` of :class:`TaylorLinearAttention` mixers."""
        from nnbench_plugins.nets.linear_attention import TaylorLinearAttention
        from nnbench_plugins.nets.mixer_stack import MixerStack

        return MixerStack(
            input_shape=task.input_shape,
            output_shape=task.output_shape,
            vocab_size=task.vocab_size,
            d_model=config.d_model,
            depth=config.depth,
            mlp_ratio=config.mlp_ratio,
            pool=config.pool,
            make_mixer=lambda: TaylorLinearAttention(
                d_model=config.d_model,
                heads=config.heads,
                feature_dim=config.feature_dim,
                d_conv=config.d_conv,
                chunk=config.chunk,
            ),
        )


@hookimpl
def register_architectures(register):
    """Register linear attention."""
    register(LinearAttention())
