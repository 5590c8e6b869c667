"""A selective state-space model: Mamba's mixer in plain PyTorch.

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces". Each block projects
the input to ``expand * d_model`` channels and a gate, runs a short causal depthwise convolution and SiLU,
then a diagonal linear recurrence per channel with ``d_state`` states, whose step ``Δ``, input map ``B``
and readout ``C`` are computed from the input at each position (the "selection")::

    h_t = exp(Δ_t A) * h_{t-1} + Δ_t B_t x_t        y_t = C_t · h_t + D x_t

``A`` is diagonal and negative (S4D-real initialisation, ``A_n = -n``; Gu et al., 2022, "On the
Parameterization and Initialization of Diagonal State Space Models"), ``Δ`` a softplus of a low-rank
projection whose bias makes the initial steps lie in [dt_min, dt_max]. The output is gated by
``SiLU(z)`` and projected back; blocks have no MLP (Mamba's expand replaces it).

Training runs a chunked scan: within a chunk of ``chunk`` positions the recurrence is solved by a
parallel prefix scan (Hillis & Steele, 1986) in log2(chunk) steps, chunks run one after the other and
hand over their last state. Only products of decays in (0, 1) are formed, so it is stable at any
length. Inference can run one position at a time (:meth:`SelectiveSSM.step`): the state per sequence
is ``expand * d_model * d_state`` numbers and ``d_conv - 1`` inputs of the convolution per block, whatever
the length, and the cost of a sequence is linear in its length. No fused kernel is used (the official
``mamba_ssm`` kernel needs CUDA); the recurrence is written as in ``selective_scan_ref``.

Cost of the defaults (d_model 64, expand 1, d_state 8, 2 blocks): 38k parameters on mqar (64 tokens);
a training step of 64 sequences took 0.23-0.53 s on one core of a loaded 2-core CPU, about 5x the
default Transformer's measured alongside (the scan's B x T x E x N states dominate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from nnbench_plugins.sequence_shapes import sequence_incompatibility

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from torch import nn


class SSM(nnbench.Architecture):
    """A selective state-space model (Mamba, Gu & Dao 2023) over token or feature sequences."""

    name = "ssm"
    modalities = frozenset({"sequence"})
    kinds = frozenset({"classification", "regression"})
    width_option = "d_model"

    class Config(nnbench.Config):
        """Width, depth and state of the Mamba blocks."""

        d_model: int = 64  # token width
        depth: int = 2  # Mamba blocks
        d_state: int = 8  # states per channel (N); the recurrent state is expand * d_model * d_state
        expand: int = 1  # inner channels as a multiple of d_model (Mamba uses 2; 1 halves a CPU step)
        d_conv: int = 4  # width of the short causal convolution
        chunk: int = 8  # positions solved in parallel by the prefix scan; chunks run in sequence
        mlp_ratio: int = 0  # an MLP after each mixer, as a multiple of d_model (0: none, as in Mamba)
        pool: Literal["mean", "last"] = "mean"  # whole-sequence tasks: mean over positions or the last

    # Width and state grow together; s is the default. A training step costs about batch x T x
    # expand x d_model x d_state (the scan's states), so m and l are slow on a CPU core.
    sizes = {
        "xs": {"d_model": 32, "depth": 1, "d_state": 4},
        "s": {"d_model": 64, "depth": 2, "d_state": 8},
        "m": {"d_model": 128, "depth": 2, "d_state": 16},
        "l": {"d_model": 192, "depth": 3, "d_state": 16},
    }
    # Learning rate a decade either side of 1e-3 (Mamba trains at a few 1e-3); width, depth and the
    # state per channel within the sizes.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "d_model": nnbench.Choice([32, 64, 128]),
        "depth": nnbench.IntRange(1, 3),
        "d_state": nnbench.Choice([4, 8, 16]),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus the shapes the stack can read and map."""
        return super().incompatibility(task) or sequence_incompatibility(self.name, task)

    def state_size(self, task: nnbench.TaskSpec, config: SSM.Config, *, length: int) -> int:
        """Per block: the SSM state and the convolution's last inputs; independent of ``length``."""
        inner = config.expand * config.d_model
        return config.depth * (inner * config.d_state + inner * (config.d_conv - 1))

    def build(self, task: nnbench.TaskSpec, config: SSM.Config) -> nn.Module:
        """A :class:`~nnbench_plugins.nets.mixer_stack.MixerStack` of :class:`SelectiveSSM` mixers."""
        from nnbench_plugins.nets.mixer_stack import MixerStack
        from nnbench_plugins.nets.ssm import SelectiveSSM

        return MixerStack(
            input_shape=task.input_shape,
            output_shape=task.output_shape,
            vocab_size=task.vocab_size,
            d_model=config.d_model,
            depth=config.depth,
            mlp_ratio=config.mlp_ratio,
            pool=config.pool,
            make_mixer=lambda: SelectiveSSM(
                d_model=config.d_model,
                d_state=config.d_state,
                expand=config.expand,
                d_conv=config.d_conv,
                chunk=config.chunk,
            ),
        )


@hookimpl
def register_architectures(register):
    """Register the selective SSM."""
    register(SSM())
