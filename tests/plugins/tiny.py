"""Test plugins written only against nnbench's public API: a tiny classifier and a generator that owns its loop."""

import torch
from torch import nn

import nnbench
from nnbench import hookimpl


class TinyLinear(nnbench.Architecture):
    """A linear model on flattened inputs: the cheapest thing that can train."""

    name = "tiny-linear"
    modalities = {"tabular", "image"}
    kinds = {"classification"}

    class Config(nnbench.Config):
        bias: bool = True  # learn an offset per class

    def build(self, task, config):
        features = 1
        for size in task.input_shape:
            features *= size
        return nn.Sequential(nn.Flatten(), nn.Linear(features, task.output_shape[0], bias=config.bias))


class GaussianSampler(nn.Module):
    """A diagonal Gaussian with learned mean and scale; sample(n) draws from it."""

    def __init__(self, dim):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))
        self.log_std = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return self.sample(x.shape[0])

    def sample(self, n):
        return self.mean + self.log_std.exp() * torch.randn(n, self.mean.shape[0], device=self.mean.device)


class Gauss(nnbench.Architecture):
    """Fits one Gaussian by maximum likelihood, with a step of its own (the GAN/diffusion path)."""

    name = "gauss"
    modalities = {"points"}
    kinds = {"generation"}

    class Config(nnbench.Config):
        lr_scale: float = 50.0  # its learning rate, a multiple of the suite's (0.05 at the default 1e-3)

    def build(self, task, config):
        return GaussianSampler(task.output_shape[0])

    def optimizers(self, model, config, make):
        return [make(model.parameters(), lr_scale=config.lr_scale)]

    def step(self, model, batch, optimizers):
        x, _ = batch
        (optimizer,) = optimizers
        z = (x - model.mean) / model.log_std.exp()
        loss = (0.5 * z.pow(2) + model.log_std).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss


@hookimpl
def register_architectures(register):
    register(TinyLinear())
    register(Gauss())
