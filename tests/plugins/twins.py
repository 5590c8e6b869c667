"""The real A/A test's plugin: one architecture registered under two names, and a crippled one.

``twin-a`` and ``twin-b`` are the same small MLP, trained the same way on the same batches; only their
initial weights differ (drawn from the trial's seed plus an offset of the twin's own). A verdict
must never separate them beyond its error rate. ``crippled`` outputs the same logits whatever the
input (a learned bias and nothing else): it can learn the class prior, no more, and must always be
decided worse. Written only against nnbench's public API.
"""

import torch
from torch import nn

import nnbench
from nnbench import hookimpl


class SmallMLP(nnbench.Architecture):
    """Flatten, one hidden layer of ``width`` GELU units, linear to the classes."""

    name = "twin-a"
    modalities = {"tabular", "image"}
    kinds = {"classification"}
    weight_seed_offset = 0  # added to the trial's seed for the initial weights only

    class Config(nnbench.Config):
        width: int = 64  # hidden units

    def build(self, task, config):
        features = 1
        for size in task.input_shape:
            features *= size
        # The weights come from their own seed, and the global generator is left as it was, so the two
        # twins differ in nothing but their initial weights.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch.initial_seed() + self.weight_seed_offset)
            return nn.Sequential(
                nn.Flatten(),
                nn.Linear(features, config.width),
                nn.GELU(),
                nn.Linear(config.width, task.output_shape[0]),
            )


class Twin(SmallMLP):
    """The same architecture under another name, with other initial weights."""

    name = "twin-b"
    weight_seed_offset = 7919


class ConstantLogits(nn.Module):
    """The same logits for every input: one learned bias per class."""

    def __init__(self, classes):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1)


class Crippled(nnbench.Architecture):
    """Ignores its input: learns the class prior at best."""

    name = "crippled"
    modalities = {"tabular", "image"}
    kinds = {"classification"}

    def build(self, task, config):
        return ConstantLogits(task.output_shape[0])


@hookimpl
def register_architectures(register):
    register(SmallMLP())
    register(Twin())
    register(Crippled())
