"""A denoising diffusion probabilistic model (DDPM): learn to predict the noise added to data.

Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models": data x0 is noised to
``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` at a random step t of ``timesteps``, and a network
learns ``eps`` with a mean squared error. The noise schedule is linear (Ho et al., scaled to the number
of steps) or cosine (Nichol & Dhariwal, 2021, "Improved Denoising Diffusion Probabilistic Models").
Samples are drawn with the DDIM update (Song, Meng & Ermon, 2021, "Denoising Diffusion Implicit Models")
on ``sample_steps`` evenly spaced steps: with ``eta`` 1 and every step this is DDPM's ancestral sampler,
with fewer steps its strided form, with ``eta`` 0 deterministic DDIM. Sampling uses an exponential moving
average of the weights (``ema_decay``, warmed up as ``min(decay, (1 + n) / (10 + n))`` after n updates),
kept as buffers of the model so that checkpoints and the loop's warm-up restore include it.

Points ``(D,)`` use an MLP denoiser with a sinusoidal time embedding added at each hidden layer; images
``(C, H, W)`` a small U-Net (Ronneberger et al., 2015): residual blocks with GroupNorm and the time
embedding added, one stride-2 down level and one up level with a skip connection. Data are rescaled
inside the model (points: per-coordinate mean and std; images: their range to [-1, 1], with predictions
of x0 clipped there) with statistics of the training split; ``sample(n)`` maps back to data units.

Cost of the defaults (100 timesteps), a training step of 128 samples on one CPU core: toy2d (MLP 3 x 128)
67k parameters and 2 ms; images (U-Net, 16 channels) 74k parameters and 27 ms at 1x8x8, 86 ms at
1x16x16, 470 ms at 3x32x32. Drawing n samples costs ``sample_steps`` network evaluations of n inputs.
Sizes, a training step of 64 samples with AdamW on one CPU core: on toy2d xs (MLP 3 x 64) 17k parameters
and 1.7 ms, l (MLP 4 x 512) 1.09M and 11 ms; on digits-gen (1x8x8) xs (U-Net of 8 channels) 19k and
11-13 ms, l (48 channels) 596k and 69-73 ms.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from nnbench_plugins.data_scaling import DataScaling
from pydantic import Field
from torch import nn

import nnbench
from nnbench import hookimpl


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


class Diffusion(nnbench.Architecture):
    """A DDPM (Ho et al., 2020): MLP denoiser for points, small U-Net for images, EMA weights for sampling."""

    name = "diffusion"
    modalities = frozenset({"points", "image"})
    kinds = frozenset({"generation"})

    class Config(nnbench.Config):
        """Schedule, sampler, denoiser and optimizer."""

        timesteps: int = Field(100, ge=1)  # diffusion steps T of training
        schedule: Literal["cosine", "linear"] = "cosine"  # noise schedule
        sample_steps: int | None = Field(None, ge=1)  # sampling steps (None: all T; fewer: strided DDPM/DDIM)
        eta: float = 1.0  # sampler noise: 1 is DDPM's ancestral sampler, 0 deterministic DDIM
        ema_decay: float = 0.999  # EMA of the weights used for sampling (0: the raw weights)
        width: int = 128  # points: units per hidden layer of the denoiser
        depth: int = 3  # points: hidden layers of the denoiser
        channels: int = 16  # images: U-Net channels at full resolution (doubled at half)
        time_dim: int = 64  # size of the time embedding

    # Each size sets both denoisers: the points MLP (width, depth) and the image U-Net (channels), with
    # the time embedding; about 4x the parameters per size on toy2d. s is the default; l keeps a step
    # near 70 ms on 8x8 images (the U-Net's cost grows with channels^2 x pixels).
    sizes = {
        "xs": {"width": 64, "depth": 3, "channels": 8, "time_dim": 32},
        "s": {"width": 128, "depth": 3, "channels": 16, "time_dim": 64},
        "m": {"width": 256, "depth": 4, "channels": 32, "time_dim": 64},
        "l": {"width": 512, "depth": 4, "channels": 48, "time_dim": 128},
    }
    # The suite's optimizer and learning rate, tuned like everyone's (a decade below to 5x the usual
    # 1e-3). The noise schedule; the sampler's noise (0 DDIM to 1 DDPM: free to train, it only changes
    # the samples scored); the points denoiser's width (image suites override with channels). Not
    # ema_decay: its warm-up keeps the decay below 0.99 for the first ~900 updates.
    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 5e-3),
        "schedule": nnbench.Choice(["cosine", "linear"]),
        "eta": nnbench.Uniform(0.0, 1.0),
        "width": nnbench.Choice([64, 128, 256]),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus: images must be shaped (C, H, W)."""
        reason = super().incompatibility(task)
        if reason is None and task.modality == "image" and len(task.output_shape) != 3:
            return f"diffusion generates images shaped (C, H, W), got {task.output_shape}"
        return reason

    def build(self, task: nnbench.TaskSpec, config: Diffusion.Config) -> nn.Module:
        """A :class:`DiffusionModel` for ``task``."""
        return DiffusionModel(task=task, config=config)

    def prepare(self, model: DiffusionModel, task: nnbench.Task, config: Diffusion.Config) -> None:
        """Fit the data scaling on the training split."""
        model.scaling.fit(task.data["train"][0])

    def step(self, model: DiffusionModel, batch, optimizers) -> torch.Tensor:
        """One update of the denoiser on the DDPM loss (the default optimizer: the suite's), then the EMA."""
        x, _ = batch
        (optimizer,) = optimizers
        loss = model.loss(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.update_ema()
        return loss.detach()


@hookimpl
def register_architectures(register):
    """Register the diffusion model."""
    register(Diffusion())
