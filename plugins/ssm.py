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

import math
from typing import Literal

import torch
from nnbench_plugins.mixer_stack import MixerStack, ShortConv, sequence_incompatibility
from torch import nn

import nnbench
from nnbench import hookimpl


def prefix_scan(decay: torch.Tensor, drive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve ``h_t = decay_t * h_{t-1} + drive_t`` along dim 1 for every t at once (Hillis-Steele).

    Returns ``(a, b)`` with ``h_t = a_t * h_start + b_t``: ``a`` the product of decays since the start,
    ``b`` the state reached from a zero start. Each round composes every position with the one
    ``offset`` earlier; positions before the start compose with the identity (decay 1, drive 0).
    """
    a, b = decay, drive
    offset = 1
    while offset < a.shape[1]:
        earlier_a = torch.cat([torch.ones_like(a[:, :offset]), a[:, :-offset]], dim=1)
        earlier_b = torch.cat([torch.zeros_like(b[:, :offset]), b[:, :-offset]], dim=1)
        a, b = a * earlier_a, b + a * earlier_b
        offset *= 2
    return a, b


def selective_scan(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, *, chunk: int
) -> torch.Tensor:
    """``y_t = C_t · h_t`` for ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t``, chunk by chunk.

    ``x`` and ``dt`` are ``(B, T, E)``, ``A`` is ``(E, N)``, ``B`` and ``C`` are ``(B, T, N)``.
    """
    batch, length, channels = x.shape
    decay = torch.exp(dt[..., None] * A)  # (B, T, E, N), in (0, 1)
    drive = (dt * x)[..., None] * B[:, :, None, :]  # (B, T, E, N)
    h = x.new_zeros(batch, channels, A.shape[1])  # (B, E, N)
    ys = []
    for start in range(0, length, chunk):
        a, b = prefix_scan(decay[:, start : start + chunk], drive[:, start : start + chunk])
        states = b + a * h[:, None]  # (B, Q, E, N): every state of the chunk
        h = states[:, -1]
        ys.append(torch.einsum("bqen,bqn->bqe", states, C[:, start : start + chunk]))
    return torch.cat(ys, dim=1)  # (B, T, E)


class SelectiveSSM(nn.Module):
    """Mamba's mixer: in-projection and gate, short convolution, selective scan, gated out-projection."""

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int,
        expand: int,
        d_conv: int,
        chunk: int,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
    ):
        super().__init__()
        inner = expand * d_model
        self.d_state, self.chunk = d_state, chunk
        self.dt_rank = math.ceil(d_model / 16)  # Mamba's "auto" rank of the step's projection
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)  # x and the gate z
        self.conv = ShortConv(channels=inner, kernel_size=d_conv)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)  # Δ (low rank), B, C
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        # Initial steps log-uniform in [dt_min, dt_max]: the bias is softplus^-1 of them.
        dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(inner, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(inner))  # the skip connection x_t -> y_t
        self.out_proj = nn.Linear(inner, d_model, bias=False)

    def _select(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The input-dependent step Δ ``(..., E)``, input map B and readout C ``(..., N)``."""
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return nn.functional.softplus(self.dt_proj(dt)), B, C

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x = nn.functional.silu(self.conv(x))
        dt, B, C = self._select(x)
        A = -torch.exp(self.A_log)  # (E, N), negative: a decaying state
        y = selective_scan(x, dt, A, B, C, chunk=self.chunk) + x * self.D
        return self.out_proj(y * nn.functional.silu(z))  # (B, T, D)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolution's buffer ``(B, E, d_conv-1)`` and the SSM state ``(B, E, N)``, zeros."""
        return self.conv.initial_state(batch), self.A_log.new_zeros(batch, *self.A_log.shape)

    def step(self, u_t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One position ``(B, D)``: the recurrence itself, as in Mamba's ``selective_state_update``."""
        buffer, h = state
        x, z = self.in_proj(u_t).chunk(2, dim=-1)  # (B, E) each
        x, buffer = self.conv.step(x, buffer)
        x = nn.functional.silu(x)
        dt, B, C = self._select(x)  # (B, E), (B, N), (B, N)
        A = -torch.exp(self.A_log)
        h = torch.exp(dt[..., None] * A) * h + (dt * x)[..., None] * B[:, None, :]  # (B, E, N)
        y = torch.einsum("ben,bn->be", h, C) + x * self.D
        return self.out_proj(y * nn.functional.silu(z)), (buffer, h)


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

    def build(self, task: nnbench.TaskSpec, config: SSM.Config) -> MixerStack:
        """A :class:`~nnbench_plugins.mixer_stack.MixerStack` of :class:`SelectiveSSM` mixers."""
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
