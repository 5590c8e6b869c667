"""One of two plugin files both called models.py (in folders a/ and b/): each must load as its own module.

The files differ only in the architecture's name. Its build checks that the module name it was loaded
under still resolves to this file (what pickling, dataclasses and Ray rely on): when two files with the
same name collide in sys.modules, the first file's classes resolve to the second file's module.
"""

import sys

from torch import nn

import nnbench
from nnbench import hookimpl

NAME = "same-name-b"


class Model(nnbench.Architecture):
    """A linear classifier on flattened inputs."""

    name = NAME
    modalities = {"tabular"}
    kinds = {"classification"}

    class Config(nnbench.Config):
        bias: bool = True  # learn an offset per class

    def build(self, task, config):
        module = sys.modules.get(type(self).__module__)
        if getattr(module, "Model", None) is not type(self):
            raise RuntimeError(
                f"{NAME}: module {type(self).__module__} is another file's: plugin files collided"
            )
        features = 1
        for size in task.input_shape:
            features *= size
        return nn.Sequential(nn.Flatten(), nn.Linear(features, task.output_shape[0], bias=config.bias))


@hookimpl
def register_architectures(register):
    register(Model())
