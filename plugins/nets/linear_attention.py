"""The torch modules of the architecture declared in :mod:`nnbench_plugins.linear_attention`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from nnbench_plugins.nets.mixer_stack import ShortConv
from torch import nn

EPS = 1e-6  # added to the normaliser phi(q) · z, which the Taylor kernel keeps >= 1/2 per key


def taylor_features(x: torch.Tensor) -> torch.Tensor:
    """``phi(x) = [1, x / f^(1/4), (x ⊗ x) / sqrt(2 f)]``, so ``phi(q) · phi(k) = 1 + s + s^2 / 2`` with
    ``s = q · k / sqrt(f)``: ``(..., f)`` to ``(..., 1 + f + f^2)``."""
    f = x.shape[-1]
    square = (x[..., :, None] * x[..., None, :]).flatten(-2)  # (..., f * f)
    return torch.cat([torch.ones_like(x[..., :1]), x / f**0.25, square / math.sqrt(2 * f)], dim=-1)


class TaylorLinearAttention(nn.Module):
    """Based's linear attention: short convolution, q/k/v, Taylor kernel, chunked causal sums."""

    def __init__(self, *, d_model: int, heads: int, feature_dim: int, d_conv: int, chunk: int):
        super().__init__()
        self.heads, self.feature_dim, self.chunk = heads, feature_dim, chunk
        self.conv = ShortConv(channels=d_model, kernel_size=d_conv)
        self.q = nn.Linear(d_model, heads * feature_dim, bias=False)
        self.k = nn.Linear(d_model, heads * feature_dim, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and keys ``(..., nh, f)`` and values ``(..., nh, hs)`` of convolved inputs ``(..., D)``."""
        heads = (*x.shape[:-1], self.heads, -1)
        return self.q(x).view(heads), self.k(x).view(heads), self.v(x).view(heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (t.transpose(1, 2) for t in self._qkv(self.conv(x)))  # (B, nh, T, f|hs)
        features = 1 + self.feature_dim + self.feature_dim**2
        S = x.new_zeros(batch, self.heads, features, v.shape[-1])  # sum of phi(k) v^T of earlier chunks
        z = x.new_zeros(batch, self.heads, features)  # sum of phi(k) of earlier chunks
        ys = []
        for start in range(0, length, self.chunk):
            qc, kc, vc = (t[:, :, start : start + self.chunk] for t in (q, k, v))  # (B, nh, Q, f|hs)
            s = qc @ kc.transpose(-1, -2) / math.sqrt(self.feature_dim)  # (B, nh, Q, Q)
            mask = torch.ones(s.shape[-2:], dtype=torch.bool, device=x.device).tril()
            kernel = (1 + s + 0.5 * s * s) * mask  # phi(q) · phi(k), causal within the chunk
            phi_q = taylor_features(qc)  # (B, nh, Q, F)
            numerator = kernel @ vc + phi_q @ S  # (B, nh, Q, hs)
            denominator = kernel.sum(dim=-1) + (phi_q @ z[..., None]).squeeze(-1)  # (B, nh, Q)
            ys.append(numerator / (denominator[..., None] + EPS))
            phi_k = taylor_features(kc)  # (B, nh, Q, F)
            S = S + phi_k.transpose(-1, -2) @ vc  # (B, nh, F, hs)
            z = z + phi_k.sum(dim=2)
        y = torch.cat(ys, dim=2).transpose(1, 2).reshape(batch, length, width)  # (B, T, D)
        return self.out(y)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The convolution's buffer, ``S`` ``(B, nh, F, hs)`` and ``z`` ``(B, nh, F)``, zeros."""
        weight = self.v.weight
        features = 1 + self.feature_dim + self.feature_dim**2
        head_size = weight.shape[0] // self.heads
        return (
            self.conv.initial_state(batch),
            weight.new_zeros(batch, self.heads, features, head_size),
            weight.new_zeros(batch, self.heads, features),
        )

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
        """One position ``(B, D)``: add ``phi(k_t) v_t^T`` to the state, read it with ``phi(q_t)``."""
        buffer, S, z = state
        x_t, buffer = self.conv.step(x_t, buffer)
        q, k, v = self._qkv(x_t)  # (B, nh, f|hs)
        phi_q, phi_k = taylor_features(q), taylor_features(k)  # (B, nh, F)
        S = S + phi_k[..., :, None] * v[..., None, :]  # (B, nh, F, hs)
        z = z + phi_k
        numerator = (phi_q[..., None, :] @ S).squeeze(-2)  # (B, nh, hs)
        denominator = (phi_q * z).sum(dim=-1, keepdim=True)  # (B, nh, 1)
        y = (numerator / (denominator + EPS)).flatten(1)  # (B, D)
        return self.out(y), (buffer, S, z)
