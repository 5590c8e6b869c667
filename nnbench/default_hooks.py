"""The default implementations of the replaceable hooks: ``trylast``, so any plugin can wrap or replace them."""

from __future__ import annotations

from nnbench.hookspecs import hookimpl


@hookimpl(trylast=True)
def build_model(architecture, task, config, ctx):
    """Build with the architecture's own ``build``."""
    return architecture.build(task, config)


@hookimpl(trylast=True)
def train_model(model, architecture, task, config, ctx):
    """Train with the architecture's own ``train``, or the generic supervised trainer when it returns None."""
    ctx.extra["trainer"] = "architecture"
    result = architecture.train(model, task, config, ctx)
    if result is None:
        from nnbench.training import train_supervised

        ctx.extra["trainer"] = "generic"
        result = train_supervised(model, task, ctx)
    return result
