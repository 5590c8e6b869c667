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

from typing import TYPE_CHECKING

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


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
        from nnbench_plugins.nets.mlp import MLPNet

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
