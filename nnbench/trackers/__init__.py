"""Experiment trackers: observer plugins that copy a run's trials to MLflow, TensorBoard or W&B.

``nnbench run SUITE --track mlflow`` (repeatable) or ``track: [mlflow, tensorboard]`` in a suite attaches
them for that run. They implement the suite-level hooks (``suite_started``, ``trial_finished``,
``suite_finished``), so they run in the runner's process only, after each record is in the store: a
tracker that fails warns once and stops, and never fails a trial or loses a result. Each tracker's
package is an optional extra (``pip install "nnbench[mlflow]"``) imported only when it is attached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import pydantic

# Tracker name -> the module (in this package) that implements it, imported only when attached.
MODULES = {
    "mlflow": "nnbench.trackers.mlflow_tracker",
    "tensorboard": "nnbench.trackers.tensorboard_tracker",
    "wandb": "nnbench.trackers.wandb_tracker",
}
NAMES = tuple(MODULES)
PLUGIN_PREFIX = "nnbench-tracker:"  # the plugin-manager names of attached trackers


def check_name(name: str) -> str:
    """``name`` when it is a known tracker; otherwise a ValueError with a did-you-mean."""
    if name in MODULES:
        return name
    from nnbench.registry import did_you_mean

    raise ValueError(f"unknown tracker {name!r}{did_you_mean(name, list(NAMES))} (known: {', '.join(NAMES)})")


# The type of the suite's ``track:`` entries: a validated tracker name.
TrackerName = Annotated[str, pydantic.AfterValidator(check_name)]


def validated(names: Iterable[str]) -> list[str]:
    """``names`` without repeats, each checked; an unknown one is an NnbenchError with a did-you-mean."""
    from nnbench.errors import NnbenchError

    try:
        return list(dict.fromkeys(check_name(name) for name in names))
    except ValueError as exc:
        raise NnbenchError(f"track: {exc}") from None


def attach(names: Iterable[str]) -> list[str]:
    """Register one observer plugin per tracker in ``names`` (each once) for the coming run, after
    detaching any a previous run left; return the names attached."""
    import importlib

    from nnbench import plugins
    from nnbench.trackers.base import TrackerPlugin

    detach()
    attached = []
    for name in validated(names):
        module = importlib.import_module(
            MODULES[name]
        )  # imports nnbench code only, not the tracker's package
        plugins.pm.register(TrackerPlugin(module.make()), name=PLUGIN_PREFIX + name)
        attached.append(name)
    return attached


def detach() -> None:
    """Unregister every attached tracker (after a run's ``suite_finished``)."""
    from nnbench import plugins

    for name, _plugin in list(plugins.pm.list_name_plugin()):
        if name and name.startswith(PLUGIN_PREFIX):
            plugins.pm.unregister(name=name)
