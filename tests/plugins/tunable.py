"""A test plugin with named sizes and a search space, written only against nnbench's public API."""

from torch import nn

import nnbench
from nnbench import hookimpl


class TinyMLP(nnbench.Architecture):
    """One hidden layer on flattened inputs; sized by ``hidden``."""

    name = "tiny-mlp"
    modalities = {"tabular", "image"}
    kinds = {"classification"}

    class Config(nnbench.Config):
        hidden: int = 16  # units of the hidden layer
        activation: str = "relu"  # relu | tanh

    sizes = {"xs": {"hidden": 4}, "s": {"hidden": 16}, "m": {"hidden": 64}}
    search_space = {
        "training.lr": nnbench.LogUniform(1e-3, 1e-1),
        "hidden": nnbench.Choice([8, 16, 32]),
        "activation": nnbench.Choice(["relu", "tanh"]),
    }

    def build(self, task, config):
        features = 1
        for size in task.input_shape:
            features *= size
        activation = nn.ReLU() if config.activation == "relu" else nn.Tanh()
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, config.hidden),
            activation,
            nn.Linear(config.hidden, task.output_shape[0]),
        )


class Untunable(nnbench.Architecture):
    """A linear model that declares no search space."""

    name = "untunable"
    modalities = {"tabular"}
    kinds = {"classification"}

    def build(self, task, config):
        return nn.Linear(task.input_shape[0], task.output_shape[0])


@hookimpl
def register_architectures(register):
    register(TinyMLP())
    register(Untunable())
