"""The torch modules of the architecture declared in :mod:`nnbench_plugins.gan`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from nnbench_plugins.data_scaling import DataScaling
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import nnbench

if TYPE_CHECKING:  # only for annotations: the declaration imports this module, not the reverse
    from nnbench_plugins.gan import GAN

IMAGE_LATENT = 64  # the default latent size for images


def upsampling_stages(*, height: int, width: int) -> int:
    """How many times both sides can be halved exactly while staying at least 4."""
    stages = 0
    while height % 2 == 0 and width % 2 == 0 and height // 2 >= 4 and width // 2 >= 4:
        height, width, stages = height // 2, width // 2, stages + 1
    return stages


def groups(channels: int) -> int:
    """GroupNorm groups: 8 when they divide the channels, else the largest divisor below 8."""
    return math.gcd(8, channels)


class MLPGenerator(nn.Module):
    """``depth`` x (Linear, ReLU), then a linear layer to a point."""

    def __init__(self, *, latent_dim: int, out_features: int, width: int, depth: int):
        super().__init__()
        sizes = [latent_dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], out_features))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (B, D)


class MLPCritic(nn.Module):
    """``depth`` x (Linear, LeakyReLU 0.2), then a linear layer to one score; layers optionally spectral-normed."""

    def __init__(self, *, in_features: int, width: int, depth: int, normed):
        super().__init__()
        sizes = [in_features] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [normed(nn.Linear(a, b)), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, normed(nn.Linear(sizes[-1], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)  # (B,)


class ConvGenerator(nn.Module):
    """Linear to a (channels * 2^k, H / 2^k, W / 2^k) map, k x (norm, ReLU, upsample 2x, conv 3x3), conv to C, tanh."""

    def __init__(self, *, latent_dim: int, image_shape: tuple[int, int, int], channels: int):
        super().__init__()
        out_channels, height, width = image_shape
        stages = upsampling_stages(height=height, width=width)
        self.start = (channels * 2**stages, height >> stages, width >> stages)  # (c0, h0, w0)
        self.project = nn.Linear(latent_dim, math.prod(self.start))
        layers: list[nn.Module] = []
        c = self.start[0]
        for _ in range(stages):
            layers += [
                nn.GroupNorm(groups(c), c),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c, c // 2, 3, padding=1),
            ]
            c //= 2
        layers += [nn.GroupNorm(groups(c), c), nn.ReLU(), nn.Conv2d(c, out_channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), *self.start)  # (B, c0, h0, w0)
        return self.net(h)  # (B, C, H, W)


class ConvCritic(nn.Module):
    """Conv 3x3, then k x (stride-2 conv 4x4 doubling the channels), each with LeakyReLU 0.2, then a linear score."""

    def __init__(self, *, image_shape: tuple[int, int, int], channels: int, normed):
        super().__init__()
        in_channels, height, width = image_shape
        stages = upsampling_stages(height=height, width=width)
        layers: list[nn.Module] = [normed(nn.Conv2d(in_channels, channels, 3, padding=1)), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(stages):
            layers += [normed(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c *= 2
        self.net = nn.Sequential(*layers)
        self.score = normed(nn.Linear(c * (height >> stages) * (width >> stages), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x).flatten(1)  # (B, c_k * h0 * w0)
        return self.score(h).squeeze(1)  # (B,)


class GANModel(nn.Module):
    """Generator, critic and the data scaling; ``sample(n)`` draws ``(n, *output_shape)`` in data units."""

    def __init__(self, *, task: nnbench.TaskSpec, config: GAN.Config):
        super().__init__()
        self.output_shape = tuple(task.output_shape)
        self.image = task.modality == "image"
        self.loss_kind = config.loss
        self.critic_steps = config.critic_steps
        # A latent as large as the data works best for points (larger ones collapse onto fewer modes).
        self.latent_dim = config.latent_dim or (IMAGE_LATENT if self.image else math.prod(self.output_shape))
        normed = spectral_norm if config.spectral_norm else (lambda layer: layer)
        if self.image:
            self.generator = ConvGenerator(
                latent_dim=self.latent_dim, image_shape=self.output_shape, channels=config.channels
            )
            self.critic = ConvCritic(image_shape=self.output_shape, channels=config.channels, normed=normed)
        else:
            features = math.prod(self.output_shape)
            self.generator = MLPGenerator(
                latent_dim=self.latent_dim, out_features=features, width=config.width, depth=config.depth
            )
            self.critic = MLPCritic(
                in_features=features, width=config.width, depth=config.depth, normed=normed
            )
        # Images' range to [-1, 1] (the tanh's), points standardised; fitted by GAN.prepare.
        self.scaling = DataScaling(self.output_shape, image=self.image)

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.scaling.shift.device)  # (n, latent)

    def generate(self, n: int) -> torch.Tensor:
        """``n`` samples ``(n, *output_shape)`` in model units, with gradients to the generator."""
        return self.generator(self.noise(n)).view(n, *self.output_shape)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` generated samples ``(n, *output_shape)`` in data units, on the model's device."""
        return self.scaling.to_data(self.generate(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sample(x.shape[0])  # (B, *output_shape)


def critic_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Hinge: ``relu(1 - D(x)) + relu(1 + D(G(z)))``; non-saturating: ``softplus(-D(x)) + softplus(D(G(z)))``."""
    if kind == "hinge":
        return nn.functional.relu(1 - real).mean() + nn.functional.relu(1 + fake).mean()
    return nn.functional.softplus(-real).mean() + nn.functional.softplus(fake).mean()


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Hinge: ``-D(G(z))``; non-saturating: ``softplus(-D(G(z)))``."""
    return -fake.mean() if kind == "hinge" else nn.functional.softplus(-fake).mean()
