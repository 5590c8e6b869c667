"""A fault only meaningful under Ray: the trial kills the Ray worker process that runs it."""

import os
import signal
from pathlib import Path

from torch import nn

import nnbench
from nnbench import hookimpl


def ray_worker_pid() -> int:
    """The nearest ancestor that is a Ray worker (its command line reads ``ray::...``).

    The trial's process is forked by a warm worker that the Ray worker started, or with warm workers
    off is a fresh interpreter the Ray worker started: either way the Ray worker is up the chain.
    """
    pid = os.getppid()
    while pid > 1:
        if (Path("/proc") / str(pid) / "cmdline").read_bytes().startswith(b"ray::"):
            return pid
        pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no Ray worker among this process's ancestors")


class KillsItsRayWorker(nnbench.Architecture):
    """Sends SIGKILL to the Ray worker running the task that runs it."""

    name = "fault-kill-ray-worker"
    modalities = {"tabular"}
    kinds = {"classification"}

    def build(self, task, config):
        os.kill(ray_worker_pid(), signal.SIGKILL)
        return nn.Linear(1, 1)


@hookimpl
def register_architectures(register):
    register(KillsItsRayWorker())
