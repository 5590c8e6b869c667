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

from typing import TYPE_CHECKING, Literal

from pydantic import Field

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    import torch
    from nnbench_plugins.nets.diffusion import DiffusionModel
    from torch import nn


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
        from nnbench_plugins.nets.diffusion import DiffusionModel

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
