"""Planted faults for the reliability tests: each architecture fails in one way a real one might."""

import os
import time

import torch
from torch import nn

import nnbench
from nnbench import hookimpl


class Healthy(nnbench.Architecture):
    """A linear classifier that trains fine: the control."""

    name = "fault-none"
    modalities = {"tabular"}
    kinds = {"classification"}

    def build(self, task, config):
        return nn.Sequential(nn.Flatten(), nn.Linear(task.input_shape[0], task.output_shape[0]))


class NaNLoss(Healthy):
    """Weights are NaN, so the first loss is NaN: diverged."""

    name = "fault-nan"

    def build(self, task, config):
        model = super().build(task, config)
        with torch.no_grad():
            model[1].weight.fill_(float("nan"))
        return model


class BuildError(Healthy):
    """An exception in build: error, with its traceback."""

    name = "fault-error"

    def build(self, task, config):
        raise RuntimeError("planted build error")


class Abort(Healthy):
    """The process aborts (SIGABRT), as a segfaulting extension would: crashed."""

    name = "fault-abort"

    def build(self, task, config):
        os.abort()


class Hang(Healthy):
    """Never returns: the executor's timeout ends it."""

    name = "fault-hang"

    def build(self, task, config):
        time.sleep(3600)


class OutOfMemory(Healthy):
    """Asks for far more memory than any machine has: oom."""

    name = "fault-oom"

    def build(self, task, config):
        torch.empty(2**50, dtype=torch.uint8)  # a petabyte
        return super().build(task, config)


class SilentExit(Healthy):
    """Exits without a result and without a signal: crashed, with the exit code."""

    name = "fault-exit"

    def build(self, task, config):
        os._exit(7)


@hookimpl
def register_architectures(register):
    for architecture in (Healthy, NaNLoss, BuildError, Abort, Hang, OutOfMemory, SilentExit):
        register(architecture())
