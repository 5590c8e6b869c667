"""One trial in a fresh subprocess of its own: the wire format and the parent's side of ``python -m nnbench.worker``.

Shared by the ``process`` and ``ray`` executors, with ``warm: false`` (by default they use warm
workers, :mod:`nnbench.warm_worker`, which share the wire format, the environment and the outcome
rules below). Protocol: a JSON job on the worker's stdin (``spec``, ``arch_label``, ``result_path``);
progress lines on its stdout starting with :data:`PROGRESS_PREFIX`; the ``(record, curve)`` result as
JSON in ``result_path``. A crash, a signal, an out-of-memory kill or a hang past the timeout becomes
that trial's record (``crashed`` or ``timeout``), never an exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnbench.trial import failure_record
from nnbench.types import Budget, TrainingSettings, TrialSpec

PROGRESS_PREFIX = "@@nnbench-progress "
STDERR_TAIL_CHARS = 2000
WORKER_MODULE = "nnbench.worker"

ProgressCallback = Callable[[str, int, float], None]  # (trial_id, step, train_s)


def spec_to_dict(spec: TrialSpec) -> dict[str, Any]:
    """A TrialSpec as plain JSON-able data."""
    return dataclasses.asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> TrialSpec:
    """The inverse of :func:`spec_to_dict`."""
    data = dict(data)
    data["budget"] = Budget(**data["budget"])
    data["training"] = TrainingSettings(**data["training"])
    data["plugin_files"] = tuple(data.get("plugin_files", ()))
    return TrialSpec(**data)


def trial_env(spec: TrialSpec, gpu: str | None = None) -> dict[str, str]:
    """The environment of a trial's process: this one's, unbuffered, with the trial's threads and GPU."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if spec.threads:
        env["OMP_NUM_THREADS"] = str(spec.threads)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


class RunningProcesses:
    """The trial processes running now, so that whoever stops a run can kill and reap them all.

    Once :meth:`kill_all` has run, a process added later (a trial that was starting just then) is
    killed at once.
    """

    def __init__(self):
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._closed = False

    def add(self, proc: subprocess.Popen) -> None:
        """Track ``proc`` (or kill it, if the run is being stopped)."""
        with self._lock:
            if not self._closed:
                self._procs.add(proc)
                return
        kill_and_reap(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        """Stop tracking ``proc``."""
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        """Kill and reap every tracked process, and any added from now on."""
        with self._lock:
            self._closed = True
            procs = list(self._procs)
        for proc in procs:
            kill_and_reap(proc)


def run_trial_subprocess(
    spec: TrialSpec,
    arch_label: str,
    timeout_s: float,
    on_progress: ProgressCallback | None = None,
    gpu: str | None = None,
    running: RunningProcesses | None = None,
) -> tuple[dict, list]:
    """Run ``spec`` in a fresh ``python -m nnbench.worker``; return its ``(record, curve)`` whatever happens.

    ``gpu`` pins the process to one CUDA device; ``running`` tracks the process while it runs.
    """
    with tempfile.TemporaryDirectory(prefix="nnbench-trial-") as tmp:
        result_path = Path(tmp) / "result.json"
        stderr_path = Path(tmp) / "stderr.txt"
        env = trial_env(spec, gpu)
        job_text = json.dumps(
            {"spec": spec_to_dict(spec), "arch_label": arch_label, "result_path": str(result_path)}
        )
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                # A session of its own: Ctrl-C at the terminal reaches the runner alone, which kills
                # the trials in flight and records none of them, rather than every trial dying of
                # SIGINT and being stored as crashed.
                start_new_session=True,
            )
            if running is not None:
                running.add(proc)
            timed_out = threading.Event()

            def kill_on_timeout() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout_s, kill_on_timeout)
            timer.start()
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(job_text)
                proc.stdin.close()
                relay_progress(proc.stdout, spec.trial_id, on_progress)
                returncode = proc.wait()
            finally:
                # Whatever failed on this side, the trial's process does not outlive it: a
                # survivor would crowd the machine that times the next trials.
                timer.cancel()
                kill_and_reap(proc)
                if running is not None:
                    running.discard(proc)
        stderr_tail = stderr_path.read_text(errors="replace")[-STDERR_TAIL_CHARS:].strip()
        return trial_outcome(
            spec, arch_label, returncode, result_path, stderr_tail, timeout_s, timed_out.is_set()
        )


def trial_outcome(
    spec: TrialSpec,
    arch_label: str,
    returncode: int | None,
    result_path: Path,
    stderr_tail: str,
    timeout_s: float,
    timed_out: bool,
    what: str = "trial process",
) -> tuple[dict, list]:
    """The ``(record, curve)`` of a trial whose process ended with ``returncode`` (None: unknown).

    Its result when it wrote one and exited 0; else ``timeout`` (killed at the executor's timeout) or
    ``crashed``, saying how the process ended (``what`` names it) and ending with its stderr's tail.
    """
    if timed_out:
        return failure_record(
            spec, "timeout", f"killed after the executor timeout of {timeout_s:g}s", arch_label
        ), []
    if returncode == 0 and result_path.exists():
        result = json.loads(result_path.read_text())
        return result["record"], result["curve"]
    if returncode is None:
        how = "ended"
    elif returncode < 0:
        how = f"killed by {_signal_name(returncode)}"
    else:
        how = f"exited with code {returncode}"
    message = f"{what} {how} without a result"
    if returncode == -signal.SIGKILL:
        message += " (SIGKILL: often the kernel's out-of-memory killer)"
    return failure_record(
        spec, "crashed", message + (f"; stderr: {stderr_tail}" if stderr_tail else ""), arch_label
    ), []


def relay_progress(stdout, trial_id: str, on_progress: ProgressCallback | None) -> None:
    """Read the trial's stdout to its end, passing progress lines to ``on_progress``.

    The callback is an observer (the live display): if it raises, progress stops being relayed,
    and the trial goes on untouched.
    """
    for line in stdout:
        if on_progress is None or not line.startswith(PROGRESS_PREFIX):
            continue
        try:
            step, train_s = line[len(PROGRESS_PREFIX) :].split()
            on_progress(trial_id, int(step), float(train_s))
        except Exception:
            on_progress = None


def kill_and_reap(proc: subprocess.Popen) -> None:
    """Kill ``proc`` if it still runs and wait for it, so no zombie or orphan is left."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
