"""The torch modules of the architecture declared in :mod:`nnbench_plugins.ssm`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from nnbench_plugins.nets.mixer_stack import ShortConv
from torch import nn


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
