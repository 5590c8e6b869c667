"""The built-in tasks. Each module is an ordinary plugin that registers its own tasks with a
``register_tasks`` hook at its end, exactly as each built-in architecture module registers its
architecture; :data:`TASK_MODULES` lists them, and the plugin manager loads each as a default plugin
(where ``pyproject.toml``'s entry points list the architecture modules).

Importing this package must stay fast (``nnbench list``): the task modules import torch, numpy,
scikit-learn and pandas only inside their methods.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from nnbench.types import Task

TASK_MODULES = (
    # smoke: seconds a model, CI
    "nnbench.tasks.digits",
    "nnbench.tasks.tabular_real",
    "nnbench.tasks.running_parity",
    "nnbench.tasks.toy2d",
    # quick: up to a minute a model on two cores
    "nnbench.tasks.digits_shifted",
    "nnbench.tasks.mnist1d",
    "nnbench.tasks.mqar",
    "nnbench.tasks.tabular",
    "nnbench.tasks.digits_gen",
    # long: minutes
    "nnbench.tasks.listops",
    # local: files the user has, from data_dir
    "nnbench.tasks.local_images",
    "nnbench.tasks.local_tables",
)


def builtin_tasks() -> tuple[type[Task], ...]:
    """Every built-in task class, in the order the task modules register them."""
    found: list[type[Task]] = []
    for module_name in TASK_MODULES:
        importlib.import_module(module_name).register_tasks(register=found.append)
    return tuple(found)


BUILTIN_TASKS = builtin_tasks()

__all__ = ["BUILTIN_TASKS", "TASK_MODULES", "builtin_tasks"]
