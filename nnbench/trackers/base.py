"""What every tracker shares: the observer plugin that guards it, and what of a trial it logs.

A :class:`Tracker` implements three methods called from the suite-level hooks; :class:`TrackerPlugin`
wraps them so that the first exception (a server down, a bad URI, a missing package) prints one warning
line naming the tracker and the reason, and turns the tracker off for the rest of the run. The store is
written before ``trial_finished`` runs, so a tracker can lose its own copy but never a result.
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from nnbench.hookspecs import hookimpl

# Record fields logged as metrics (when they are finite numbers): the measurements of MEASUREMENT.md.
SUMMARY_METRICS = (
    "test_score",
    "val_score",
    "val_final",
    "train_s",
    "wall_s",
    "steps",
    "samples",
    "final_loss",
    "step_ms_median",
    "step_ms_p10",
    "step_ms_p90",
    "samples_per_s",
    "inference_samples_per_s",
    "tokens_per_s",
    "params",
    "flops_per_step",
    "total_train_flops",
    "achieved_tflops",
    "mfu",
    "peak_mem_bytes",
    "cuda_peak_allocated_bytes",
    "host_peak_rss_bytes",
    "energy_j",
    "cost_usd",
    "cost_to_target_usd",
    "time_to_target_s",
    "steps_to_target",
)
# Record fields logged as parameters: what the trial was, beside its architecture and task options.
RECORD_PARAMS = (
    "architecture",
    "arch_label",
    "task",
    "task_version",
    "seed",
    "device",
    "device_name",
    "budget_steps",
    "budget_s",
    "stage",
    "size",
    "study",
    "tune_index",
    "threads",
    "metric",
    "higher_is_better",
    "trainer",
    "torch_version",
)
# Statuses that mean a trial produced no measurement (the tracker marks its run as failed).
FAILED = ("error", "timeout", "oom", "crashed")
PROBE_TIMEOUT_S = 5.0  # how long a tracker waits for a server to accept a connection at the start


class TrackerUnavailable(Exception):
    """A tracker cannot work in this run (its package is missing, its server unreachable, ...)."""


class Tracker:
    """Base class of a tracker: override the three methods; raise anything to report a failure."""

    name = ""  # as in ``--track NAME``
    extra = ""  # the pip extra that installs its package
    specs: dict[str, Any] = {}  # trial id -> TrialSpec of the trials planned at the start (set per run)

    def start(self, suite: Any, trials: list[Any], ctx: Any) -> None:
        """Called once before the first trial (``suite_started``)."""

    def trial(self, record: dict[str, Any], curve: list[dict[str, Any]], ctx: Any) -> None:
        """Called after each trial's record is in the store (``trial_finished``)."""

    def finish(self, suite: Any, records: list[dict[str, Any]], ctx: Any) -> None:
        """Called once after the last trial (``suite_finished``)."""

    def close(self) -> None:
        """Release what the tracker holds after a failure (best effort; never raises)."""

    def params(self, record: dict[str, Any]) -> dict[str, Any]:
        """The trial's parameters (see :func:`trial_params`), with every training setting when planned."""
        return trial_params(record, self.specs.get(record.get("trial_id")))

    def need(self, module: str):
        """Import the tracker's package, or raise TrackerUnavailable naming the extra that installs it."""
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise TrackerUnavailable(
                f'the {module} package is not installed ({exc}); pip install "nnbench[{self.extra}]"'
            ) from None


class TrackerPlugin:
    """The observer plugin around one tracker: every call guarded, the first failure warned once."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker
        self.failed = False

    def _guard(self, stage: str, call, *args) -> None:
        if self.failed:
            return
        try:
            call(*args)
        except Exception as exc:  # a tracker is an observer: whatever it raises, the run goes on
            self.failed = True
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, TrackerUnavailable):
                reason = f"{type(exc).__name__}: {reason}"
            print(
                f"warning: tracker {self.tracker.name} failed {stage}: {reason}; it is off for the rest "
                "of this run (every result is in the store)",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(Exception):  # closing is best effort after a failure
                self.tracker.close()

    @hookimpl
    def suite_started(self, suite, trials, ctx) -> None:
        """Start the tracker's run (its parent run, its folder...)."""
        self.tracker.specs = {spec.trial_id: spec for spec in trials}
        self._guard("to start", self.tracker.start, suite, trials, ctx)

    @hookimpl
    def trial_finished(self, record, ctx) -> None:
        """Log one trial: its parameters, its curve (``ctx.curve``) and its measurements."""
        self._guard(f"on trial {record.get('trial_id')}", self.tracker.trial, record, ctx.curve or [], ctx)

    @hookimpl
    def suite_finished(self, suite, records, ctx) -> None:
        """Close the tracker's run."""
        self._guard("to finish", self.tracker.finish, suite, records, ctx)


# -- what a trial logs ------------------------------------------------------------------------------
def finite(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (bools are not measurements)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif value is not None:
        out[prefix] = value if isinstance(value, (bool, int, float, str)) else str(value)


def trial_params(record: dict[str, Any], spec: Any = None) -> dict[str, Any]:
    """A trial's parameters, flat: ``arch.<option>``, ``task.<option>``, ``training.<setting>``,
    ``hparams.<key>`` and the identity fields; ``spec`` (the TrialSpec, when known) gives every
    training setting, else the record's (batch size, optimizer, lr, weight decay)."""
    params: dict[str, Any] = {}
    for key in RECORD_PARAMS:
        _flatten(key, record.get(key), params)
    _flatten("arch", record.get("arch_config") or {}, params)
    _flatten("task", record.get("task_config") or {}, params)
    _flatten("hparams", record.get("hparams") or {}, params)
    if spec is not None:
        from dataclasses import asdict

        _flatten("training", asdict(spec.training), params)
    else:
        for key in ("batch_size", "optimizer", "lr", "weight_decay"):
            _flatten(f"training.{key}", record.get(key), params)
    return params


def trial_metrics(record: dict[str, Any]) -> dict[str, float]:
    """A trial's measurements that are finite numbers, and its test metrics as ``test.<name>``."""
    metrics = {key: float(record[key]) for key in SUMMARY_METRICS if finite(record.get(key))}
    for name, value in (record.get("test_metrics") or {}).items():
        if finite(value):
            metrics[f"test.{name}"] = float(value)
    return metrics


def curve_by_step(curve: Iterable[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """The evaluation points as ``(step, {"val/accuracy": ..., "val/loss": ...})``, steps ascending."""
    steps: dict[int, dict[str, float]] = {}
    for point in curve:
        if finite(point.get("value")):
            steps.setdefault(int(point["step"]), {})[f"{point['split']}/{point['metric']}"] = float(
                point["value"]
            )
    return sorted(steps.items())


def trial_name(record: dict[str, Any]) -> str:
    """A human name for a trial's run: ``mlp width=64 · digits · seed 0``."""
    architecture = record.get("arch_label") or record.get("architecture")
    return f"{architecture} · {record.get('task')} · seed {record.get('seed')}"


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """For an http(s) URL, check that its server accepts a connection; raise TrackerUnavailable if not.

    Trackers' own clients retry a refused connection for minutes; a run should not wait that long to
    learn that the server is down.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            pass
    except OSError as exc:  # the address alone: a URL may carry credentials
        where = f"{parts.scheme}://{parts.hostname}:{port}"
        raise TrackerUnavailable(f"cannot reach {where} ({exc.strerror or exc})") from None
