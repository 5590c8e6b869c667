"""Weights & Biases: one W&B run per trial, grouped by the nnbench run (``pip install "nnbench[wandb]"``).

W&B's own settings apply: ``WANDB_MODE`` (``offline`` writes runs under ``./wandb`` to sync later with
``wandb sync``), ``WANDB_PROJECT`` (default ``nnbench-<suite name>``), ``WANDB_ENTITY``, ``WANDB_DIR``.
Each trial's run has the trial's parameters as its config, its curve by step (``val/<metric>``), its
measurements in the summary, the nnbench run id as its group and the trial's stage as its job type; a
trial that failed ends with exit code 1. W&B's console capture is off, so the run's display is untouched.
Online without credentials is refused at the start (no login prompt in the middle of a run).
"""

from __future__ import annotations

import os

from nnbench.trackers.base import (
    FAILED,
    Tracker,
    TrackerUnavailable,
    curve_by_step,
    trial_metrics,
    trial_name,
)


class WandbTracker(Tracker):
    """Logs each trial as a W&B run."""

    name = "wandb"
    extra = "wandb"

    def __init__(self) -> None:
        self.wandb = None
        self.project = ""
        self.group = ""

    def start(self, suite, trials, ctx) -> None:
        """Import wandb; online, check for credentials without prompting."""
        self.wandb = self.need("wandb")
        mode = os.environ.get("WANDB_MODE", "online")
        if mode not in ("offline", "disabled", "dryrun"):
            try:
                logged_in = self.wandb.login(prompt=False, verify=False)
            except TypeError:  # an older wandb without these arguments: let init decide
                logged_in = True
            if not logged_in:
                raise TrackerUnavailable(
                    "no W&B credentials (run `wandb login`, set WANDB_API_KEY, or set WANDB_MODE=offline)"
                )
        self.project = os.environ.get("WANDB_PROJECT") or f"nnbench-{suite.name}"
        self.group = ctx.run_id

    def trial(self, record, curve, ctx) -> None:
        """One W&B run: config, the curve by step, the summary, the exit code."""
        wandb = self.wandb
        run = wandb.init(
            project=self.project,
            group=self.group,
            job_type=record.get("stage") or "main",
            name=trial_name(record),
            config={**self.params(record), "trial_id": record["trial_id"], "run_id": ctx.run_id},
            settings=wandb.Settings(console="off", silent=True),
        )
        try:
            for step, values in curve_by_step(curve):
                run.log(values, step=step)
            run.summary.update(
                {**trial_metrics(record), "status": record.get("status"), "error": record.get("error")}
            )
        finally:
            run.finish(exit_code=1 if record.get("status") in FAILED else 0)

    def finish(self, suite, records, ctx) -> None:
        """Nothing to close: each trial's run is finished after the trial."""

    def close(self) -> None:
        """Finish a run a failure left open."""
        if self.wandb is not None and self.wandb.run is not None:
            self.wandb.run.finish(exit_code=1)


def make() -> WandbTracker:
    """The tracker ``--track wandb`` attaches."""
    return WandbTracker()
