"""The default implementations of the replaceable hooks: ``trylast``, so any plugin can wrap or replace them.

Both lead into the one way an architecture is built and trained: ``build_model`` calls the
architecture's ``build``; ``train_model`` calls the core's loop (:func:`nnbench.training.run_steps`,
with the architecture's ``optimizers`` and ``step``), or the architecture's ``train`` when it
overrides that escape hatch.
"""

from __future__ import annotations

from nnbench.hookspecs import hookimpl


@hookimpl(trylast=True)
def build_model(architecture, task, config, ctx):
    """Build with the architecture's own ``build``."""
    return architecture.build(task, config)


@hookimpl(trylast=True)
def train_model(model, architecture, task, config, ctx):
    """Train in the core's loop, or with the architecture's own ``train`` when it returns a result."""
    from nnbench import training

    ctx.extra["trainer"] = "architecture"
    result = architecture.train(model, task, config, ctx)
    if result is None:
        ctx.extra["trainer"] = training.trainer_of(architecture)
        result = training.run_steps(model, architecture, task, config, ctx)
    return result
