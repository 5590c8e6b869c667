"""MLflow: one parent run per ``nnbench run``, one child run per trial (``pip install "nnbench[mlflow]"``).

The tracking URI is MLflow's own choice: ``MLFLOW_TRACKING_URI`` when set (a server, ``sqlite:///...``,
a folder), else MLflow's default. The experiment is ``MLFLOW_EXPERIMENT_NAME`` when set, else
``nnbench-<suite name>``. A child run holds the trial's parameters (architecture and task options, seed,
budget, training settings), its validation curve by step (``val/<metric>``) and its measurements
(``test_score``, ``step_ms_median``, ``samples_per_s``, FLOPs, memory, energy, cost); its status is
FINISHED, or FAILED for a trial that failed. The client is an explicit ``MlflowClient``, so nothing of
MLflow's process-wide "active run" state is touched.
"""

from __future__ import annotations

import os
import time
from typing import Any

from nnbench.trackers.base import (
    FAILED,
    Tracker,
    curve_by_step,
    probe,
    trial_metrics,
    trial_name,
)

# MLflow's limits on one log_batch call (entities of each kind).
MAX_METRICS, MAX_PARAMS = 1000, 100
MAX_PARAM_CHARS = 500  # the longest value every MLflow version accepts for a parameter
MAX_TAG_CHARS = 5000


def _ms(seconds: float | None) -> int:
    return int((seconds if seconds is not None else time.time()) * 1000)


class MLflowTracker(Tracker):
    """Logs to MLflow through an explicit ``MlflowClient``."""

    name = "mlflow"
    extra = "mlflow"

    def __init__(self) -> None:
        self.client = None
        self.experiment_id: str | None = None
        self.parent_id: str | None = None

    def start(self, suite, trials, ctx) -> None:
        """Open the experiment and the parent run named after the nnbench run id."""
        mlflow = self.need("mlflow")
        from mlflow import MlflowClient

        uri = mlflow.get_tracking_uri()  # MLFLOW_TRACKING_URI, or MLflow's default
        probe(uri)
        self.client = MlflowClient(tracking_uri=uri)
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"nnbench-{suite.name}"
        experiment = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
        )
        parent = self.client.create_run(
            self.experiment_id,
            run_name=ctx.run_id,
            tags={
                "nnbench.run_id": ctx.run_id,
                "nnbench.suite": suite.name,
                "nnbench.device": ctx.device,
                "nnbench.db_path": ctx.db_path,
            },
        )
        self.parent_id = parent.info.run_id
        model = suite.model
        self._log(
            self.parent_id,
            params={
                "suite": suite.name,
                "suite_path": str(suite.path) if suite.path else "",
                "device": ctx.device,
                "seeds": ",".join(str(s) for s in model.seed_list()),
                "budget_steps": model.budget.steps,
                "budget_s": model.budget.time,
                "trials_to_run": len(trials),
            },
        )

    def trial(self, record, curve, ctx) -> None:
        """One child run: parameters, the curve by step, the measurements, the status."""
        finished = record.get("finished_at") or time.time()
        started = finished - (record.get("wall_s") or 0.0)
        status = record.get("status")
        tags = {
            "mlflow.parentRunId": self.parent_id,
            "nnbench.trial_id": record["trial_id"],
            "nnbench.run_id": ctx.run_id,
            "nnbench.status": status,
        }
        if record.get("error"):
            tags["nnbench.error"] = str(record["error"])[:MAX_TAG_CHARS]
        run = self.client.create_run(
            self.experiment_id, start_time=_ms(started), tags=tags, run_name=trial_name(record)
        )
        run_id = run.info.run_id
        from mlflow.entities import Metric

        train_s = {point["step"]: point.get("train_s") or 0.0 for point in curve}  # step -> training clock
        metrics = [
            Metric(key, value, _ms(started + train_s[step]), step)
            for step, values in curve_by_step(curve)
            for key, value in values.items()
        ]
        final_step = int(record.get("steps") or 0)
        metrics += [
            Metric(key, value, _ms(finished), final_step) for key, value in trial_metrics(record).items()
        ]
        self._log(run_id, params=self.params(record), metrics=metrics)
        self.client.set_terminated(
            run_id, status="FAILED" if status in FAILED else "FINISHED", end_time=_ms(finished)
        )

    def finish(self, suite, records, ctx) -> None:
        """End the parent run."""
        self.client.set_terminated(self.parent_id, status="FINISHED")

    def close(self) -> None:
        """Mark the parent run failed, if there is one and the server still answers."""
        if self.client is not None and self.parent_id is not None:
            self.client.set_terminated(self.parent_id, status="FAILED")

    def _log(self, run_id: str, params: dict[str, Any] | None = None, metrics: list | None = None) -> None:
        """``log_batch`` in chunks within MLflow's per-call limits."""
        from mlflow.entities import Param

        param_list = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in (params or {}).items() if v is not None]
        metric_list = list(metrics or [])
        while param_list or metric_list:
            self.client.log_batch(run_id, metrics=metric_list[:MAX_METRICS], params=param_list[:MAX_PARAMS])
            param_list, metric_list = param_list[MAX_PARAMS:], metric_list[MAX_METRICS:]


def make() -> MLflowTracker:
    """The tracker ``--track mlflow`` attaches."""
    return MLflowTracker()
