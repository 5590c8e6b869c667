"""The torch modules of the architecture declared in :mod:`nnbench_plugins.hyena`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math

import torch
from nnbench_plugins.nets.mixer_stack import ShortConv
from torch import nn


class Sine(nn.Module):
    """``sin(frequency * x)`` with a learned frequency per unit (the implicit filter's activation)."""

    def __init__(self, *, width: int, frequency: float = 1.0):
        super().__init__()
        self.frequency = nn.Parameter(frequency * torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.frequency * x)


class ImplicitFilter(nn.Module):
    """``h(t) = FFN(positions(t)) * (exp(-decay_c t) + shift)`` for ``channels`` channels at once."""

    def __init__(
        self,
        *,
        channels: int,
        l_max: int,
        bands: int,
        width: int,
        fast_decay: float = 0.3,
        shift: float = 0.0,
    ):
        super().__init__()
        self.l_max, self.shift = l_max, shift
        self.register_buffer("bands", torch.arange(bands).float(), persistent=False)  # (K,)
        self.ffn = nn.Sequential(
            nn.Linear(1 + 2 * bands, width),
            Sine(width=width),
            nn.Linear(width, width),
            Sine(width=width),
            nn.Linear(width, channels, bias=False),
        )
        # Per channel, the rate at which the window falls to 1% of its start: within 30% of the task's
        # length for the fastest channel, within 150% for the slowest (Hyena's ExponentialModulation).
        target = math.log(1e-2)
        decays = torch.linspace(-target / 1.5, -target / fast_decay, channels)
        self.register_buffer("decay", decays, persistent=False)  # (C,)

    def forward(self, length: int) -> torch.Tensor:
        """The filters over positions ``0 .. length-1``: ``(C, length)``."""
        t = torch.arange(length, device=self.decay.device).float()[:, None] / self.l_max  # (L, 1)
        angle = 2 * math.pi * t * self.bands  # (L, K)
        positions = torch.cat([t, torch.cos(angle), torch.sin(angle)], dim=1)  # (L, 1 + 2K)
        window = torch.exp(-t * self.decay) + self.shift  # (L, C)
        return (self.ffn(positions) * window).transpose(0, 1)  # (C, L)


def fft_causal_conv(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``y_t = sum_{s<=t} h_{t-s} v_s`` per channel: ``v`` ``(B, C, T)``, ``h`` ``(C, T)``, by FFT of size 2T."""
    length = v.shape[-1]
    size = 2 * length  # zero-padded: a product of spectra is a circular convolution of length 2T
    spectrum = torch.fft.rfft(v, n=size) * torch.fft.rfft(h, n=size)  # (B, C, T+1)
    return torch.fft.irfft(spectrum, n=size)[..., :length]  # (B, C, T)


class HyenaOperator(nn.Module):
    """The Hyena recurrence of gates and long convolutions, with its in- and out-projections."""

    def __init__(
        self, *, d_model: int, order: int, l_max: int, filter_width: int, filter_bands: int, d_conv: int
    ):
        super().__init__()
        self.d_model, self.order = d_model, order
        self.in_proj = nn.Linear(d_model, (order + 1) * d_model)
        self.short = ShortConv(channels=(order + 1) * d_model, kernel_size=d_conv)
        self.filter = ImplicitFilter(
            channels=(order - 1) * d_model, l_max=l_max, bands=filter_bands, width=filter_width
        )
        self.bias = nn.Parameter(torch.randn(order - 1, d_model))  # the skip of each long convolution
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[1]
        streams = self.short(self.in_proj(u)).transpose(1, 2)  # (B, (N+1) D, T)
        *gates, v = streams.split(self.d_model, dim=1)  # N gates and v, each (B, D, T)
        filters = self.filter(length).view(self.order - 1, self.d_model, length)  # (N-1, D, T)
        for i, gate in enumerate(reversed(gates[1:])):
            v = v * gate
            v = fft_causal_conv(v, filters[i]) + self.bias[i][:, None] * v
        return self.out_proj((v * gates[0]).transpose(1, 2))  # (B, T, D)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The short convolution's buffer and, per long convolution, its inputs so far (none yet)."""
        empty = self.bias.new_zeros(batch, self.d_model, 0)
        return self.short.initial_state(batch), [empty] * (self.order - 1)

    def step(self, u_t: torch.Tensor, state: tuple[torch.Tensor, list[torch.Tensor]]):
        """One position ``(B, D)``: each long convolution is a dot product of its whole input history
        with the filter reversed, so the state and the cost of a step grow with the position."""
        buffer, histories = state
        streams, buffer = self.short.step(self.in_proj(u_t), buffer)  # (B, (N+1) D)
        *gates, v = streams.split(self.d_model, dim=1)  # each (B, D)
        position = histories[0].shape[-1] + 1  # positions read so far, this one included
        filters = self.filter(position).view(self.order - 1, self.d_model, position)  # (N-1, D, t+1)
        new_histories = []
        for i, gate in enumerate(reversed(gates[1:])):
            v = v * gate
            history = torch.cat([histories[i], v[..., None]], dim=2)  # (B, D, t+1)
            new_histories.append(history)
            v = (history * filters[i].flip(-1)).sum(dim=2) + self.bias[i] * v  # (B, D)
        return self.out_proj(v * gates[0]), (buffer, new_histories)
