"""A generative adversarial network: a generator and a spectrally normalised critic trained in turn.

Goodfellow et al. (2014), "Generative Adversarial Nets". Points ``(D,)`` use MLPs; images ``(C, H, W)``
use DCGAN-style convolutional nets (Radford, Metz & Chintala, 2016): the generator starts from a small
map (4x4 or larger, halving the image while both sides stay even and at least 4) and doubles it with
nearest upsampling and a 3x3 convolution per stage; the critic mirrors it with stride-2 4x4 convolutions.
The critic's layers are spectrally normalised (Miyato et al., 2018, "Spectral Normalization for
Generative Adversarial Networks"); the loss is the hinge loss (Lim & Ye, 2017; as in SN-GAN) or the
non-saturating loss of Goodfellow et al.; both nets use Adam with betas (0.5, 0.9).

One step of the measured loop is ``critic_steps`` critic updates (each on a fresh batch) then one
generator update; the loss handed to the loop is critic loss + generator loss. Data are rescaled inside
the model (points: per-coordinate mean and std; images: their range to [-1, 1], generator ending in tanh)
with statistics of the training split, and ``sample(n)`` maps back to data units. The latent is as
large as the data for points (on toy2d a 2-D latent covered all 8 modes in 3 of 3 seeds where 8- and
16-D latents collapsed onto 1-4) and 64-D for images.

Cost of the defaults, a step of 128 samples on one CPU core (both nets' parameters): toy2d (MLPs of
3 x 128) 67k and 4.5 ms; 1x8x8 images 120k and 38 ms; 1x16x16 390k and 230 ms; 3x32x32 1.35M and 1.6 s.
Sizes, one critic and one generator update on 64 samples with AdamW on one CPU core: on toy2d xs (MLPs of
3 x 64) 17k parameters and 3.5 ms, l (3 x 512) 1.06M and 23 ms; on digits-gen (1x8x8) xs (16 channels) 47k
and 13-17 ms, l (64 channels) 342k and 61 ms.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from nnbench_plugins.data_scaling import DataScaling
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import nnbench
from nnbench import hookimpl

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


class GAN(nnbench.Architecture):
    """A GAN with a spectrally normalised critic: MLPs for points, DCGAN-style nets for images."""

    name = "gan"
    modalities = frozenset({"points", "image"})
    kinds = frozenset({"generation"})

    class Config(nnbench.Config):
        """Nets, loss and optimizers."""

        loss: Literal["hinge", "ns"] = "hinge"  # hinge loss or the non-saturating loss
        latent_dim: int | None = None  # generator's Gaussian input (None: points' size, e.g. 2; images 64)
        width: int = 128  # points: units per hidden layer of both MLPs
        depth: int = 3  # points: hidden layers of both MLPs
        channels: int = 32  # images: channels at full resolution (doubled at each halving)
        spectral_norm: bool = True  # spectral normalisation on every critic layer
        critic_steps: int = Field(
            1, ge=1
        )  # critic updates (on the step's batch, fresh fakes) per generator update
        lr_scale: float = Field(0.1, gt=0)  # the generator's learning rate, a multiple of the suite's
        critic_lr_scale: float = Field(0.1, gt=0)  # the critic's learning rate, a multiple of the suite's
        beta1: float = 0.5  # Adam's and AdamW's beta1 for both nets (0.0 is the other common choice)
        beta2: float = 0.9  # their beta2

    # Each size sets both families: MLP width for points (about 4x the parameters per size on toy2d)
    # and image channels (the generator's linear projection grows only linearly with them, so images
    # grow less, 47k to 340k on 8x8). s is the default; l keeps a step under 100 ms on 8x8 images.
    sizes = {
        "xs": {"width": 64, "depth": 3, "channels": 16},
        "s": {"width": 128, "depth": 3, "channels": 32},
        "m": {"width": 256, "depth": 3, "channels": 48},
        "l": {"width": 512, "depth": 3, "channels": 64},
    }
    # The suite's optimizer trains both nets, each at a multiple of the suite's learning rate: a tenth
    # by default (a GAN diverges at the 1e-3..3e-3 supervised suites use; on toy2d 2e-4 beat 3e-4 and
    # above by 10x in MMD). A tuned suite varies the suite's rate around 1e-3..1e-2 (so the nets get
    # 5e-5..1e-3) and the critic's own multiple from half to 4x the generator's (Heusel et al., 2017,
    # two time-scale updates); Adam's beta1 of 0.5 or 0.0 (both common for GANs); 1-3 critic updates
    # per generator one.
    search_space = {
        "training.lr": nnbench.LogUniform(5e-4, 1e-2),
        "critic_lr_scale": nnbench.LogUniform(0.05, 0.4),
        "beta1": nnbench.Choice([0.0, 0.5]),
        "critic_steps": nnbench.IntRange(1, 3),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus: images must be shaped (C, H, W)."""
        reason = super().incompatibility(task)
        if reason is None and task.modality == "image" and len(task.output_shape) != 3:
            return f"gan generates images shaped (C, H, W), got {task.output_shape}"
        return reason

    def build(self, task: nnbench.TaskSpec, config: GAN.Config) -> nn.Module:
        """A :class:`GANModel` for ``task``."""
        return GANModel(task=task, config=config)

    def prepare(self, model: GANModel, task: nnbench.Task, config: GAN.Config) -> None:
        """Fit the data scaling on the training split."""
        model.scaling.fit(task.data["train"][0])

    def optimizers(self, model: GANModel, config: GAN.Config, make) -> list[torch.optim.Optimizer]:
        """The suite's optimizer for the generator, and for the critic at ``critic_lr_scale`` times its rate."""
        betas = (config.beta1, config.beta2)
        return [
            make(model.generator.parameters(), lr_scale=config.lr_scale, betas=betas),
            make(model.critic.parameters(), lr_scale=config.critic_lr_scale, betas=betas),
        ]

    def step(self, model: GANModel, batch, optimizers) -> torch.Tensor:
        """``critic_steps`` critic updates on the batch (fresh fakes each), then one generator update."""
        x, _ = batch
        opt_g, opt_d = optimizers
        real = model.scaling.to_model(x)
        for _ in range(model.critic_steps):
            with torch.no_grad():
                fake = model.generate(len(x))
            loss_d = critic_loss(model.critic(real), model.critic(fake), model.loss_kind)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        model.critic.requires_grad_(False)  # the generator step needs gradients through it, not into it
        loss_g = generator_loss(model.critic(model.generate(len(x))), model.loss_kind)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        model.critic.requires_grad_(True)
        return loss_d.detach() + loss_g.detach()


@hookimpl
def register_architectures(register):
    """Register the GAN."""
    register(GAN())
