"""Warm workers, the driver's side: a long-lived ``python -m nnbench.worker --warm`` that forks each trial.

A fresh interpreter per trial spends seconds importing torch and the plugins before the trial starts.
A warm worker imports them once; for each trial it forks a *trial process*, a copy of itself as it
was before any trial ran (:mod:`nnbench.worker` holds that side and the protocol). What this side
keeps from the fresh-process executor (:mod:`nnbench.subprocess_trial`): the environment of a trial
(its threads, its GPU), the hard timeout, the outcome rules (``timeout``, ``crashed`` with the
signal and the stderr tail), a session of its own (Ctrl-C reaches the runner alone).

When the worker is replaced: on a timeout and on any failure on this side (the worker and its
trial process are ended, and the next trial starts a new worker); when it died (an out-of-memory
kill that hit it rather than its trial process); when a trial needs another environment (another
thread count or GPU); when a module it imported changed on disk (the worker says so instead of
starting the trial, and the trial is sent to a new worker). A trial that crashes, aborts, runs out
of memory or raises ends only its trial process: the worker ran nothing of it and stays as it was.
It never grows either (trials allocate in their own processes), so no memory bound is needed.

Used by the ``process`` executor (one warm worker per slot) and by the ``ray`` executor (one per
Ray worker process, on its node).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from nnbench.subprocess_trial import (
    PROGRESS_PREFIX,
    STDERR_TAIL_CHARS,
    WORKER_MODULE,
    ProgressCallback,
    spec_to_dict,
    trial_env,
    trial_outcome,
)
from nnbench.types import TrialSpec
from nnbench.worker import CONTROL_PREFIX

KILL_GRACE_S = 5.0  # how long a worker has to end its trial process and exit before SIGKILL
ATTEMPTS = 2  # a trial is sent to a new worker once when its worker died or went stale before starting it


def supported() -> bool:
    """Whether warm workers can run here: a fork that keeps torch usable (Linux; not macOS, not Windows)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class WorkerClosed(RuntimeError):
    """The worker was closed (the run is stopping): no new process is started."""


def follow_worker(stdout: IO[str], trial_id: str, on_progress: ProgressCallback | None, worker: WarmWorker):
    """Read the worker's stdout until its trial ended; return ``("exit", code)``, ``("stale", path)``
    or ``("eof", started)`` when the worker's output ended first (it died).

    Progress lines go to ``on_progress``, an observer: if it raises, progress stops being relayed and
    the trial goes on untouched. ``worker.trial_pid`` is the trial process while it runs.
    """
    started = False
    for line in stdout:
        if line.startswith(PROGRESS_PREFIX):
            if on_progress is None:
                continue
            try:
                step, train_s = line[len(PROGRESS_PREFIX) :].split()
                on_progress(trial_id, int(step), float(train_s))
            except Exception:
                on_progress = None
        elif line.startswith(CONTROL_PREFIX):
            event, _, value = line[len(CONTROL_PREFIX) :].strip().partition(" ")
            if event == "started":
                worker.trial_pid, started = int(value), True
            elif event == "exit":
                worker.trial_pid = None
                return "exit", int(value)
            elif event == "stale":
                return "stale", value
    return "eof", started


class WarmWorker:
    """One warm worker process (started on first use, replaced when needed) and its trials, one at a time."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._env: dict[str, str] | None = None
        self._stderr: IO[bytes] | None = None  # the worker's own stderr (its start-up errors)
        self._lock = threading.Lock()
        self._closed = False
        self._busy = False  # a run() is reading the worker's output
        self.trial_pid: int | None = None
        self.starts = 0  # worker processes started so far

    @property
    def pid(self) -> int | None:
        """The worker process's pid, while one runs."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def run(
        self,
        spec: TrialSpec,
        arch_label: str,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
        gpu: str | None = None,
    ) -> tuple[dict, list]:
        """Run ``spec`` in a trial process forked by this worker; return its ``(record, curve)`` whatever happens.

        The timeout counts from now (a worker's start-up included, as a fresh process's is). An
        exception on this side ends the worker and its trial process before it propagates.
        """
        env = trial_env(spec, gpu)
        with tempfile.TemporaryDirectory(prefix="nnbench-trial-") as tmp:
            result_path = Path(tmp) / "result.json"
            stderr_path = Path(tmp) / "stderr.txt"
            job = {
                "spec": spec_to_dict(spec),
                "arch_label": arch_label,
                "result_path": str(result_path),
                "stderr_path": str(stderr_path),
                "trial_process": "warm",
            }
            line = json.dumps(job) + "\n"
            timed_out = threading.Event()

            def on_timeout() -> None:
                timed_out.set()
                self.kill()

            timer = threading.Timer(timeout_s, on_timeout)
            timer.start()
            self._busy = True
            try:
                for _ in range(ATTEMPTS):
                    proc = self._ensure(env)
                    try:
                        assert proc.stdin is not None and proc.stdout is not None
                        proc.stdin.write(line)
                        proc.stdin.flush()
                        end, value = follow_worker(proc.stdout, spec.trial_id, on_progress, self)
                    except (BrokenPipeError, ValueError):  # it died, or was closed, before reading the job
                        end, value = "eof", False
                    if end == "exit" or (end == "eof" and value) or timed_out.is_set():
                        break
                    self._discard(proc)  # stale, or died before the trial started: a new worker
                worker_code = None if end == "exit" else self._discard(proc)
            except BaseException:
                self.kill()  # whatever failed on this side, no trial process outlives it
                raise
            finally:
                timer.cancel()
                self.trial_pid = None
                self._busy = False
            tail = _tail(stderr_path)
            if end == "exit" or timed_out.is_set():
                return trial_outcome(
                    spec, arch_label, value, result_path, tail, timeout_s, timed_out.is_set()
                )
            if end == "eof" and value:
                what = "the warm worker running the trial"
            elif end == "stale":
                what = f"the warm worker (its modules kept changing on disk: {value})"
                worker_code = None
            else:
                what = "the warm worker (before the trial started)"
                tail = self._worker_stderr_tail() or tail
            return trial_outcome(spec, arch_label, worker_code, result_path, tail, timeout_s, False, what)

    def _ensure(self, env: dict[str, str]) -> subprocess.Popen:
        """The running worker for ``env``; a new one if there is none, it died or had another environment."""
        with self._lock:
            if self._closed:
                raise WorkerClosed("the warm worker is closed: the run is stopping")
            proc = self._proc
            if proc is not None and (proc.poll() is not None or env != self._env):
                self._proc = None
                _end(proc)
                _close_output(proc)
            if self._proc is None:
                if self._stderr is not None:
                    self._stderr.close()
                self._stderr = tempfile.TemporaryFile(prefix="nnbench-worker-")  # noqa: SIM115 - lives with the worker
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", WORKER_MODULE, "--warm"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=self._stderr,
                    text=True,
                    errors="replace",
                    env=env,
                    # A session of its own (its trial processes inherit it): Ctrl-C at the terminal
                    # reaches the runner alone, which ends the trials in flight and records none.
                    start_new_session=True,
                )
                self._env = env
                self.starts += 1
            return self._proc

    def _discard(self, proc: subprocess.Popen) -> int | None:
        """End ``proc`` if it is still the worker (so the next trial starts a new one); its exit status.

        Called by the thread that reads its output, which alone may close that output."""
        with self._lock:
            if self._proc is proc:
                self._proc = None
        code = _end(proc)
        _close_output(proc)
        return code

    def _worker_stderr_tail(self) -> str:
        handle = self._stderr
        if handle is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            size = os.fstat(handle.fileno()).st_size
            start = max(0, size - STDERR_TAIL_CHARS)
            return os.pread(handle.fileno(), size - start, start).decode(errors="replace").strip()
        return ""

    def kill(self) -> None:
        """End the worker and its trial process now (the next trial starts a new worker)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)

    def close(self) -> None:
        """End the worker and its trial process; start none from now on."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)
            if not self._busy:  # else the thread reading its output closes it
                _close_output(proc)
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()


def _end(proc: subprocess.Popen) -> int | None:
    """End worker ``proc`` and reap it; return its exit status.

    SIGTERM first: the worker kills and reaps its trial process, then exits. Then SIGKILL to its process
    group, which its trial process shares: whatever is left (a trial process the worker could not end
    within :data:`KILL_GRACE_S`, a process the trial started) ends too and cannot hold its output open.
    The group is signalled before the worker is reaped, while its id cannot belong to anyone else.
    """
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGTERM)
        _wait_unreaped(proc, KILL_GRACE_S)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=30)
    if proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
    return proc.returncode


def _wait_unreaped(proc: subprocess.Popen, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``proc`` to exit, leaving it unreaped (a zombie keeps its ids)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except (AttributeError, ChildProcessError, OSError):
            return  # no waitid here, or already reaped
        time.sleep(0.01)


def _close_output(proc: subprocess.Popen) -> None:
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            proc.stdout.close()


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-STDERR_TAIL_CHARS:].strip()
    except OSError:
        return ""
