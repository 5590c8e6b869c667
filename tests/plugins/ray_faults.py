"""A fault only meaningful under Ray: the trial kills the Ray worker process that runs it."""

import os
import signal

from torch import nn

import nnbench
from nnbench import hookimpl


class KillsItsRayWorker(nnbench.Architecture):
    """Sends SIGKILL to its parent, which under the Ray executor is the Ray worker."""

    name = "fault-kill-ray-worker"
    modalities = {"tabular"}
    kinds = {"classification"}

    def build(self, task, config):
        os.kill(os.getppid(), signal.SIGKILL)
        return nn.Linear(1, 1)


@hookimpl
def register_architectures(register):
    register(KillsItsRayWorker())
