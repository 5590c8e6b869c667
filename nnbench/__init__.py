"""nnbench: train neural-network architectures on shared tasks and compare them honestly.

The public API a plugin author or a script uses. Importing it does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnbench.errors import NnbenchError
from nnbench.hookspecs import hookimpl
from nnbench.registry import get_architecture, get_task
from nnbench.space import Choice, IntRange, LogUniform, Uniform
from nnbench.types import (
    Architecture,
    Budget,
    Config,
    Metric,
    RunContext,
    Task,
    TaskSpec,
    TrainingSettings,
    TrainResult,
    TrialSpec,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "Budget",
    "Choice",
    "Config",
    "IntRange",
    "LogUniform",
    "Metric",
    "NnbenchError",
    "RunContext",
    "Task",
    "TaskSpec",
    "TrainResult",
    "TrainingSettings",
    "TrialSpec",
    "Uniform",
    "__version__",
    "get_architecture",
    "get_task",
    "hookimpl",
    "figures",
    "load_curves",
    "load_results",
    "results",
    "run_suite",
]


def run_suite(suite, **options):
    """Run a suite (a path to a YAML file, or a parsed :class:`nnbench.config.Suite`); see :func:`nnbench.runner.run_suite`."""
    from nnbench.runner import run_suite as _run_suite

    return _run_suite(suite, **options)


def load_results(db=None) -> pandas.DataFrame:
    """One row per trial of the store at ``db`` (default ``$NNBENCH_DB`` or ``./nnbench.db``)."""
    from nnbench.store import load_results as _load_results

    return _load_results(db)


def load_curves(db=None) -> pandas.DataFrame:
    """One row per evaluation point (trial_id, step, train_s, split, metric, value)."""
    from nnbench.store import load_curves as _load_curves

    return _load_curves(db)


def results(db=None, run: str | None = None):
    """The store at ``db`` (one run with ``run``) as a :class:`nnbench.report.notebook.Results`: shown in
    Jupyter as the report's summary; ``.figure(name)``, ``.figures()``, ``.trials``, ``.write_report()``."""
    from nnbench.report.notebook import Results

    return Results(db, run)


def figures(db=None, run: str | None = None) -> dict:
    """The report's plotly figures of the store at ``db``, by name (``mnist1d/quality-time``, ...)."""
    return results(db, run).figures()
