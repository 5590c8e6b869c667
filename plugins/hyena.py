"""Hyena: long implicit convolutions by FFT, interleaved with multiplicative gates, in plain PyTorch.

Poli et al. (2023), "Hyena Hierarchy: Towards Larger Convolutional Language Models". The input is
projected into ``order + 1`` streams ``x_0 .. x_{order-1}, v`` of ``d_model`` channels and each is mixed
with its neighbours by a short causal depthwise convolution. Then, for each of the ``order - 1`` long
convolutions, ``v = h_i * (v ⊙ x_i)`` (plus a learned skip ``bias_i ⊙ v``), and the output is
``x_0 ⊙ v``: gates that depend on the input, around convolutions that do not (H3 is order 2 with
state-space filters; Fu et al., 2023, "Hungry Hungry Hippos").

The filters ``h_i`` span the whole sequence and are implicit: a small FFN with sine activations maps a
positional encoding of t (t itself and ``filter_bands`` sine/cosine pairs) to a value per channel, times
a window ``exp(-decay_c * t)`` whose decay differs per channel, so some channels forget fast and some
remember the whole sequence. Positions are measured in units of the task's length, so the filter for a
longer sequence extends the one for a shorter one and a model takes any length.

A convolution of length T costs O(T log T) by FFT. It is causal because the filter is zero at negative
t and both signals are zero-padded to 2T, so nothing wraps around from the end to the start. Reading a
sequence one position at a time (:meth:`HyenaOperator.step`) needs the whole history of each long
convolution's input: the state grows with the length (``(order - 1) x d_model x T`` numbers per block,
like a Transformer's KV cache) and each step costs O(T). That is Hyena's price for its long filters.

Cost of the defaults (d_model 64, order 2, 2 blocks with an MLP of 2x): 96k parameters on mqar (64
tokens); a training step of 64 sequences took 0.05-0.14 s on one core of a loaded 2-core CPU, about
1.4x the default Transformer's measured alongside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from nnbench_plugins.sequence_shapes import sequence_incompatibility
from pydantic import Field

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


class Hyena(nnbench.Architecture):
    """Hyena (Poli et al., 2023): gated long implicit convolutions over token or feature sequences."""

    name = "hyena"
    modalities = frozenset({"sequence"})
    kinds = frozenset({"classification", "regression"})
    width_option = "d_model"

    class Config(nnbench.Config):
        """Width, depth, order and filter of the Hyena blocks."""

        d_model: int = 64  # token width
        depth: int = 2  # blocks
        order: int = Field(
            2, ge=2
        )  # gates per operator; order - 1 long convolutions (Hyena uses 2; H3 is order 2)
        filter_width: int = 64  # hidden units of the implicit filter's FFN
        filter_bands: int = 8  # sine/cosine pairs of the filter's positional encoding
        d_conv: int = 3  # width of the short causal convolution of the projected streams
        mlp_ratio: int = 2  # MLP hidden width after each mixer, as a multiple of d_model (0: none)
        pool: Literal["mean", "last"] = "mean"  # whole-sequence tasks: mean over positions or the last

    # Width and depth grow; s is the default.
    sizes = {
        "xs": {"d_model": 32, "depth": 1},
        "s": {"d_model": 64, "depth": 2},
        "m": {"d_model": 128, "depth": 2},
        "l": {"d_model": 192, "depth": 3},
    }
    # Learning rate a decade either side of 1e-3; width, depth and the order within reason.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "d_model": nnbench.Choice([32, 64, 128]),
        "depth": nnbench.IntRange(1, 3),
        "order": nnbench.IntRange(2, 3),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the shapes the stack can read and map."""
        return super().incompatibility(task) or sequence_incompatibility(self.name, task)

    def state_size(self, task: nnbench.TaskSpec, config: Hyena.Config, *, length: int) -> int:
        """Per block: every long convolution's input history (grows with ``length``) and the short
        convolution's last inputs."""
        history = (config.order - 1) * config.d_model * length
        return config.depth * (history + (config.order + 1) * config.d_model * (config.d_conv - 1))

    def build(self, task: nnbench.TaskSpec, config: Hyena.Config) -> nn.Module:
        """A :class:`~nnbench_plugins.nets.mixer_stack.MixerStack` of :class:`~nnbench_plugins.nets.hyena.HyenaOperator` mixers."""
        from nnbench_plugins.nets.hyena import HyenaOperator
        from nnbench_plugins.nets.mixer_stack import MixerStack

        return MixerStack(
            input_shape=task.input_shape,
            output_shape=task.output_shape,
            vocab_size=task.vocab_size,
            d_model=config.d_model,
            depth=config.depth,
            mlp_ratio=config.mlp_ratio,
            pool=config.pool,
            make_mixer=lambda: HyenaOperator(
                d_model=config.d_model,
                order=config.order,
                l_max=task.input_shape[0],
                filter_width=config.filter_width,
                filter_bands=config.filter_bands,
                d_conv=config.d_conv,
            ),
        )


@hookimpl
def register_architectures(register):
    """Register Hyena."""
    register(Hyena())
