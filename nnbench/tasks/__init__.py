"""The built-in tasks, registered as a default plugin.

Importing this package must stay fast (``nnbench list``): the task modules import torch, numpy and
scikit-learn only inside their methods.
"""

from __future__ import annotations

from nnbench.hookspecs import hookimpl
from nnbench.tasks.digits import Digits
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.tabular_real import TabularReal
from nnbench.tasks.toy2d import Toy2D

BUILTIN_TASKS = (Digits, TabularReal, RunningParity, Toy2D)

__all__ = ["BUILTIN_TASKS", "Digits", "RunningParity", "TabularReal", "Toy2D", "register_tasks"]


@hookimpl
def register_tasks(register):
    """Register every built-in task."""
    for task in BUILTIN_TASKS:
        register(task)
