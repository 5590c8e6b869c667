"""Recurrent networks: an LSTM or a GRU reading a sequence one step at a time.

Token sequences ``(T,)`` are embedded first; feature sequences ``(T, F)`` are read as they are (and
``(T,)`` float sequences as one feature per step); images ``(C, H, W)`` are read row by row, H steps of
C*W features. Per-position tasks (output ``(T, C)``) get a linear head on every step's state; other tasks
a linear head on the last state (both directions' final states when bidirectional) or on the mean state.
LSTM: Hochreiter & Schmidhuber (1997), "Long Short-Term Memory"; GRU: Cho et al. (2014), "Learning Phrase
Representations using RNN Encoder-Decoder for Statistical Machine Translation"; bidirectional: Schuster &
Paliwal (1997), "Bidirectional Recurrent Neural Networks". The LSTM's forget-gate bias starts at 1
(Jozefowicz, Zaremba & Sutskever, 2015, "An Empirical Exploration of Recurrent Network Architectures").

A unidirectional network is causal by construction: the state at step t has read only steps <= t. A
backward direction reads the future, so ``bidirectional`` on a causal task is refused with a ValueError.

Cost of the defaults (LSTM, 1 layer of 128): 72k-75k parameters on the smoke tasks (a GRU 54k-56k) and
about 7-8 ms (digits, 8 rows) or 27-32 ms (running-parity, 32 steps) a training step of 128 samples on one
CPU core; in 30 s an LSTM or a GRU reaches 100% on running-parity (and on its 4x longer strings), 94-97%
on digits. Sizes on mnist1d (40 steps), a step of 64 samples with AdamW on one CPU core: xs (LSTM of 32)
4.8k parameters and 3 ms, l (LSTM of 512) 1.06M and 197 ms (360 ms on mqar's 64 tokens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


class RNN(nnbench.Architecture):
    """An LSTM or GRU over sequences, or over the rows of an image."""

    name = "rnn"
    modalities = frozenset({"sequence", "image"})
    kinds = frozenset({"classification", "regression"})
    width_option = "hidden"

    class Config(nnbench.Config):
        """Cell type and size of the recurrent stack."""

        cell: Literal["lstm", "gru"] = "lstm"  # the recurrent cell
        hidden: int = 128  # state size per direction and layer
        layers: int = 1  # stacked recurrent layers
        bidirectional: bool = False  # also read right to left (refused on causal tasks)
        embed_dim: int = 16  # embedding size per token, for token-sequence tasks only
        dropout: float = 0.0  # dropout between stacked layers (needs layers > 1)
        pool: Literal["last", "mean"] = "last"  # whole-sequence tasks: final state or mean over steps

    # The hidden state doubles from s on (parameters about 4x a step); s is the default LSTM of 128.
    # A recurrent step costs hidden^2 per time step and cannot be parallelised over time, so l (512)
    # is meant for a GPU: on a CPU core it takes a few hundred ms a step on the quick tasks.
    sizes = {
        "xs": {"hidden": 32},
        "s": {"hidden": 128},
        "m": {"hidden": 256},
        "l": {"hidden": 512},
    }
    # Learning rate a decade either side of AdamW's 1e-3; the cell type; the hidden size up to m (l is
    # slow on long sequences) and one or two layers (two cost about twice the time per step).
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "cell": nnbench.Choice(["lstm", "gru"]),
        "hidden": nnbench.Choice([64, 128, 192]),
        "layers": nnbench.IntRange(1, 2),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the shapes a recurrent stack can read and map."""
        reason = super().incompatibility(task)
        if reason is not None:
            return reason
        if task.modality == "image" and len(task.input_shape) != 3:
            return f"rnn reads images shaped (C, H, W) row by row, got {task.input_shape}"
        if task.modality == "image" and len(task.output_shape) != 1:
            return f"rnn maps an image to one output vector, not {task.output_shape}"
        if len(task.output_shape) == 2 and task.output_shape[0] != task.input_shape[0]:
            return f"rnn's per-position head needs one output per input position, got {task.input_shape} -> {task.output_shape}"
        return None

    def state_size(self, task: nnbench.TaskSpec, config: RNN.Config, *, length: int) -> int | None:
        """Per layer the hidden state (and an LSTM's cell state), whatever the length; None when
        bidirectional (the backward direction reads the whole sequence first) or not a sequence."""
        if config.bidirectional or task.modality != "sequence":
            return None
        return config.layers * config.hidden * (2 if config.cell == "lstm" else 1)

    def build(self, task: nnbench.TaskSpec, config: RNN.Config) -> nn.Module:
        """An :class:`RNNNet` for ``task``; a bidirectional network on a causal task is a ValueError."""
        from nnbench_plugins.nets.rnn import RNNNet

        if config.bidirectional and task.causal:
            raise ValueError(
                f"rnn: bidirectional=True cannot be used on the causal task {task.name!r}: the backward "
                "direction reads later positions; use bidirectional=False"
            )
        return RNNNet(
            input_shape=task.input_shape,
            output_shape=task.output_shape,
            image=task.modality == "image",
            vocab_size=task.vocab_size,
            embed_dim=config.embed_dim,
            cell=config.cell,
            hidden=config.hidden,
            layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            pool=config.pool,
        )


@hookimpl
def register_architectures(register):
    """Register the RNN."""
    register(RNN())
