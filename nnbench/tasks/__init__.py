"""The built-in tasks, registered as a default plugin.

Importing this package must stay fast (``nnbench list``): the task modules import torch, numpy,
scikit-learn and pandas only inside their methods.
"""

from __future__ import annotations

from nnbench.hookspecs import hookimpl
from nnbench.tasks.digits import Digits
from nnbench.tasks.digits_gen import DigitsGen
from nnbench.tasks.digits_shifted import DigitsShifted
from nnbench.tasks.listops import ListOps
from nnbench.tasks.local_images import CIFAR10, MNIST, FashionMNIST
from nnbench.tasks.local_tables import CSVTable, ParquetTable
from nnbench.tasks.mnist1d import MNIST1D, MNIST1DShuffled
from nnbench.tasks.mqar import MQAR
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.tabular import Tabular
from nnbench.tasks.tabular_real import TabularReal
from nnbench.tasks.toy2d import Toy2D

BUILTIN_TASKS = (
    # smoke: seconds a model, CI
    Digits,
    TabularReal,
    RunningParity,
    Toy2D,
    # quick: up to a minute a model on two cores
    DigitsShifted,
    MNIST1D,
    MNIST1DShuffled,
    MQAR,
    Tabular,
    DigitsGen,
    # long: minutes
    ListOps,
    # local: files the user has, from data_dir
    MNIST,
    FashionMNIST,
    CIFAR10,
    CSVTable,
    ParquetTable,
)

__all__ = [
    "BUILTIN_TASKS",
    "CIFAR10",
    "CSVTable",
    "Digits",
    "DigitsGen",
    "DigitsShifted",
    "FashionMNIST",
    "ListOps",
    "MNIST",
    "MNIST1D",
    "MNIST1DShuffled",
    "MQAR",
    "ParquetTable",
    "RunningParity",
    "Tabular",
    "TabularReal",
    "Toy2D",
    "register_tasks",
]


@hookimpl
def register_tasks(register):
    """Register every built-in task."""
    for task in BUILTIN_TASKS:
        register(task)
