"""Every hook of nnbench, grouped by lifecycle stage. Nothing else lives here.

Each hook takes keyword arguments; an implementation may accept any subset of them.
Lifecycle hooks receive ``ctx`` (a :class:`nnbench.RunContext`) so the contract grows by adding
fields to it, never by changing signatures.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("nnbench")
hookimpl = pluggy.HookimplMarker("nnbench")


# ---------------------------------------------------------------------------------------------
# Registration: called once per process, results cached by the registry.
# ---------------------------------------------------------------------------------------------


@hookspec
def register_architectures(register):
    """Register architectures by calling ``register(architecture_instance)``.

    Called once; every implementation runs. A name already taken is an error naming both plugins.
    """


@hookspec
def register_tasks(register):
    """Register tasks by calling ``register(TaskClass)``.

    Called once; every implementation runs. A name already taken is an error naming both plugins.
    """


# ---------------------------------------------------------------------------------------------
# One trial: build and train. Replaceable: the defaults are ``trylast`` and lead into the one way an
# architecture is built (``build``) and trained (the core's loop); a plugin wraps them (AMP, compile,
# DDP, profiling) or replaces them.
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def build_model(architecture, task, config, ctx):
    """Return the ``torch.nn.Module`` for ``architecture`` on ``task`` (a TaskSpec) with ``config``.

    Stops at the first non-None result; the default calls ``architecture.build(task, config)``.
    """


@hookspec(firstresult=True)
def train_model(model, architecture, task, config, ctx):
    """Train ``model`` on ``task`` (the live Task) within the trial's budget; return a TrainResult.

    Stops at the first non-None result; the default trains in the core's measured loop with the
    architecture's ``optimizers`` and ``step`` (the generic supervised step unless overridden), or
    calls the architecture's ``train`` when it overrides that escape hatch.
    """


# ---------------------------------------------------------------------------------------------
# Observers: return nothing; every implementation runs.
# ---------------------------------------------------------------------------------------------


@hookspec
def suite_started(suite, trials, ctx):
    """Called in the runner's process before the first trial of a ``nnbench run``."""


@hookspec
def trial_finished(record, ctx):
    """Called in the runner's process after a trial's record (a dict) is written to the store."""


@hookspec
def suite_finished(suite, records, ctx):
    """Called in the runner's process after the last trial; ``records`` are this run's records."""


@hookspec
def log_metrics(step, metrics, ctx):
    """Called in the trial's process at each evaluation (never every step) with ``metrics`` (a dict)."""


# ---------------------------------------------------------------------------------------------
# Environment and reports.
# ---------------------------------------------------------------------------------------------


@hookspec
def environment_info():
    """Return a dict merged into the run's recorded environment (versions, hardware, ...).

    Every implementation runs; later keys do not override the core's.
    """


@hookspec
def report_sections(results):
    """Return ``{"title": str, "html": str}`` (or a list of them) to add to reports.

    ``results`` is the trials DataFrame of the report. ``html`` is inserted as given, so escape
    anything that came from user input; ``title`` is escaped. Every implementation runs.
    """
