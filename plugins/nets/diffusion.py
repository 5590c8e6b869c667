"""The torch modules of the architecture declared in :mod:`nnbench_plugins.diffusion`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from nnbench_plugins.data_scaling import DataScaling
from torch import nn

import nnbench

if TYPE_CHECKING:  # only for annotations: the declaration imports this module, not the reverse
    from nnbench_plugins.diffusion import Diffusion


def beta_schedule(*, kind: str, timesteps: int) -> torch.Tensor:
    """The ``timesteps`` noise variances: linear 1e-4..0.02 scaled by 1000/T, or cosine (clipped at 0.999)."""
    if kind == "linear":
        scale = 1000 / timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    s = 0.008
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    abar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2  # (T+1,)
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps ``(B,)`` as ``(B, dim)``, as for Transformer positions."""
    half = dim // 2
    frequency = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)  # (half,)
    angle = t.float()[:, None] * frequency[None]  # (B, half)
    return torch.cat([angle.sin(), angle.cos()], dim=1)  # (B, dim)


class TimeMLP(nn.Module):
    """Sinusoidal embedding, then Linear, SiLU, Linear."""

    def __init__(self, *, dim: int):
        super().__init__()
        self.sinusoids = 2 * (dim // 2)
        self.net = nn.Sequential(nn.Linear(self.sinusoids, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.net(time_embedding(t, self.sinusoids))  # (B, dim)


class MLPDenoiser(nn.Module):
    """``depth`` x (Linear + time projection, SiLU), then a linear layer to the noise estimate."""

    def __init__(self, *, features: int, width: int, depth: int, time_dim: int):
        super().__init__()
        self.time = TimeMLP(dim=time_dim)
        sizes = [features] + [width] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.time_proj = nn.ModuleList(nn.Linear(time_dim, width) for _ in range(depth))
        self.out = nn.Linear(sizes[-1], features)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(t)  # (B, time_dim)
        h = x
        for layer, proj in zip(self.layers, self.time_proj):
            h = nn.functional.silu(layer(h) + proj(emb))  # (B, width)
        return self.out(h)  # (B, D)


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups, or the largest divisor of the channels below 8."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv 3x3, + time projection, GroupNorm, SiLU, conv 3x3; 1x1 skip when widths differ."""

    def __init__(self, *, in_channels: int, out_channels: int, time_dim: int):
        super().__init__()
        self.norm1 = norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.time(emb)[:, :, None, None]  # time added per channel
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """Conv in; a block at full size; stride-2 conv down; two blocks at half size; up; concat skip; block; conv out."""

    def __init__(self, *, channels_in: int, channels: int, time_dim: int):
        super().__init__()
        c = channels
        self.time = TimeMLP(dim=time_dim)
        self.conv_in = nn.Conv2d(channels_in, c, 3, padding=1)
        self.enc = ResBlock(in_channels=c, out_channels=c, time_dim=time_dim)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.mid1 = ResBlock(in_channels=2 * c, out_channels=2 * c, time_dim=time_dim)
        self.mid2 = ResBlock(in_channels=2 * c, out_channels=2 * c, time_dim=time_dim)
        self.up = nn.Conv2d(2 * c, c, 3, padding=1)
        self.dec = ResBlock(in_channels=2 * c, out_channels=c, time_dim=time_dim)
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, channels_in, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(t)  # (B, time_dim)
        skip = self.enc(self.conv_in(x), emb)  # (B, c, H, W)
        h = self.mid2(self.mid1(self.down(skip), emb), emb)  # (B, 2c, ceil(H/2), ceil(W/2))
        h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")  # (B, 2c, H, W), odd sides too
        h = self.dec(torch.cat([self.up(h), skip], dim=1), emb)  # (B, 2c, H, W) -> (B, c, H, W)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))  # (B, C, H, W)


class DiffusionModel(nn.Module):
    """Denoiser, its EMA weights (buffers), the schedule and the data scaling; ``sample(n)`` in data units."""

    def __init__(self, *, task: nnbench.TaskSpec, config: Diffusion.Config):
        super().__init__()
        self.output_shape = tuple(task.output_shape)
        self.image = task.modality == "image"
        self.sample_steps = config.sample_steps or config.timesteps
        self.eta = config.eta
        self.ema_decay = config.ema_decay
        if self.image:
            self.net = UNet(
                channels_in=self.output_shape[0], channels=config.channels, time_dim=config.time_dim
            )
        else:
            self.net = MLPDenoiser(
                features=math.prod(self.output_shape),
                width=config.width,
                depth=config.depth,
                time_dim=config.time_dim,
            )
        # The EMA copy as buffers, ema.<i> for the i-th parameter: not counted as parameters, but in state_dict.
        self.ema = nn.Module()
        self.ema_names = [name for name, _ in self.net.named_parameters()]
        for i, (_, p) in enumerate(self.net.named_parameters()):
            self.ema.register_buffer(str(i), p.detach().clone())
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        abar = torch.cumprod(1 - beta_schedule(kind=config.schedule, timesteps=config.timesteps), dim=0)
        self.register_buffer("alphas_cumprod", abar.float())  # (T,)
        # Images' range to [-1, 1] (predictions of x0 are clipped there), points standardised; fitted
        # by Diffusion.prepare.
        self.scaling = DataScaling(self.output_shape, image=self.image)

    @property
    def timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The DDPM loss on a data batch: MSE between the added noise and its prediction."""
        x0 = self.scaling.to_model(x)  # (B, *shape)
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device)  # (B,)
        abar = self.alphas_cumprod[t].view(-1, *[1] * (x0.dim() - 1))  # (B, 1, ...)
        noise = torch.randn_like(x0)
        xt = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        return nn.functional.mse_loss(self.net(xt, t), noise)

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema = d * ema + (1 - d) * weights`` with ``d = min(ema_decay, (1 + n) / (10 + n))``."""
        n = float(self.ema_updates)
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        for ema, p in zip(self.ema.buffers(), self.net.parameters()):
            ema.lerp_(p.detach(), 1 - decay)
        self.ema_updates += 1

    def ema_net(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The denoiser run with the EMA weights."""
        weights = dict(zip(self.ema_names, self.ema.buffers()))
        return torch.func.functional_call(self.net, weights, (x, t))

    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None) -> torch.Tensor:
        """``n`` samples ``(n, *output_shape)`` in data units, in ``steps`` (default ``sample_steps``) steps."""
        steps = min(steps or self.sample_steps, self.timesteps)
        device = self.alphas_cumprod.device
        ts = torch.linspace(self.timesteps - 1, 0, steps).round().long().unique_consecutive().tolist()
        x = torch.randn(n, *self.output_shape, device=device)
        for i, t in enumerate(ts):
            abar = self.alphas_cumprod[t]
            abar_prev = self.alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else abar.new_tensor(1.0)
            eps = self.ema_net(x, torch.full((n,), t, device=device, dtype=torch.long))
            x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
            if self.image:  # images live in [-1, 1]: clip the estimate and re-derive the noise from it
                x0 = x0.clamp(-1, 1)
                eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
            sigma = self.eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).clamp(min=0).sqrt()
            x = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
            if i + 1 < len(ts):
                x = x + sigma * torch.randn_like(x)
        return self.scaling.to_data(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sample(x.shape[0])  # (B, *output_shape)
