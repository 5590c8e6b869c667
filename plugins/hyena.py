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

import math
from typing import Literal

import torch
from nnbench_plugins.mixer_stack import MixerStack, ShortConv, sequence_incompatibility
from pydantic import Field
from torch import nn

import nnbench
from nnbench import hookimpl


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

    def build(self, task: nnbench.TaskSpec, config: Hyena.Config) -> MixerStack:
        """A :class:`~nnbench_plugins.mixer_stack.MixerStack` of :class:`HyenaOperator` mixers."""
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
