"""An architecture that leaves behind every kind of process state a trial can, and refuses to train if it
finds any left by an earlier trial: whoever runs it twice in one process without a clean start sees it fail.

What it leaves: a module-level counter (its own model's width depends on it), torch's default dtype,
thread count, grad mode and deterministic-algorithms flag, cuDNN's flags, numpy's error handling, an
environment variable, and a random draw from each generator outside the trial's seeding.
"""

import os

import numpy as np
import torch
from torch import nn

import nnbench
from nnbench import hookimpl

BUILDS = 0  # how many times this module built a model: 0 in a process that ran no trial of it


def leftovers() -> list[str]:
    """The state an earlier trial left in this process (empty in a clean one)."""
    found = []
    if BUILDS:
        found.append(f"module counter at {BUILDS}")
    if torch.get_default_dtype() != torch.float32:
        found.append(f"default dtype {torch.get_default_dtype()}")
    if torch.are_deterministic_algorithms_enabled():
        found.append("deterministic algorithms on")
    if torch.backends.cudnn.benchmark or torch.backends.cudnn.deterministic:
        found.append("cuDNN flags set")
    if np.geterr()["over"] != "warn":
        found.append(f"numpy overflow errors {np.geterr()['over']}")
    if "NNBENCH_LEFTOVER" in os.environ:
        found.append("an environment variable")
    return found


class LeavesState(nnbench.Architecture):
    """A linear classifier whose build changes every process-wide setting it can (see the module)."""

    name = "leaves-state"
    modalities = {"tabular"}
    kinds = {"classification"}

    def build(self, task, config):
        global BUILDS
        found = leftovers()
        if found:
            raise RuntimeError(f"state left by an earlier trial: {', '.join(found)}")
        BUILDS += 1
        model = nn.Sequential(
            nn.Linear(task.input_shape[0], 4 * BUILDS), nn.ReLU(), nn.Linear(4 * BUILDS, task.output_shape[0])
        )
        # What it leaves behind (after its own model is built in float32, so its own trial trains).
        torch.set_default_dtype(torch.float64)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = True
        torch.set_num_threads(2)
        np.seterr(over="raise")
        os.environ["NNBENCH_LEFTOVER"] = "1"
        torch.rand(3), np.random.rand(3)  # draws outside the trial's seeding
        return model


@hookimpl
def register_architectures(register):
    register(LeavesState())
