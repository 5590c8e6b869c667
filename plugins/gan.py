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

from typing import TYPE_CHECKING, Literal

from pydantic import Field

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    import torch
    from nnbench_plugins.nets.gan import GANModel
    from torch import nn


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
        from nnbench_plugins.nets.gan import GANModel

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
        import torch
        from nnbench_plugins.nets.gan import critic_loss, generator_loss

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
