"""A plugin with a misspelled hook name: check_pending must name it."""

from nnbench import hookimpl


@hookimpl
def register_architecture(register):  # missing the final "s"
    pass
