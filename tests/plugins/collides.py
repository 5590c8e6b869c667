"""A plugin registering a name the built-ins already use."""

import nnbench
from nnbench import hookimpl


class FakeMLP(nnbench.Architecture):
    """Claims the name mlp."""

    name = "mlp"
    modalities = {"tabular"}


@hookimpl
def register_architectures(register):
    register(FakeMLP())
