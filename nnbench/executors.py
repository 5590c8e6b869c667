"""Where trials run: ``inline`` (this process, for debugging), ``process`` (a subprocess per trial,
``workers`` at once) or ``ray`` (each trial a Ray task, on one machine or a cluster).

An executor takes jobs and yields ``(job, record, curve)`` as trials finish; the runner alone writes
the store. In the process and Ray executors a crash, a segfault, an out-of-memory kill or a hang ends
that trial (status ``crashed`` or ``timeout``), never the suite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnbench.types import Budget, TrainingSettings, TrialSpec

ProgressCallback = Callable[[str, int, float], None]  # (trial_id, step, train_s)
StartCallback = Callable[["Job"], None]
STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class Job:
    """One trial to run and the label shown for it."""

    spec: TrialSpec
    arch_label: str


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


class InlineExecutor:
    """Runs trials one after another in this process: simplest, for debugging; no isolation."""

    kind = "inline"

    def run(
        self,
        jobs: list[Job],
        on_progress: ProgressCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> Iterator[tuple[Job, dict, list]]:
        """Yield each job's result as it finishes."""
        from nnbench.trial import execute_trial

        for job in jobs:
            if on_start is not None:
                on_start(job)
            callback = None
            if on_progress is not None:

                def callback(step, train_s, _id=job.spec.trial_id):
                    on_progress(_id, step, train_s)

            record, curve = execute_trial(job.spec, job.arch_label, progress=callback)
            yield job, record, curve


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class ProcessExecutor:
    """A fresh subprocess per trial with a hard wall-clock timeout; ``workers`` trials at once."""

    kind = "process"

    def __init__(self, workers: int = 1, timeout_s: float = 600.0):
        self.workers = max(1, workers)
        self.timeout_s = timeout_s
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def run(
        self,
        jobs: list[Job],
        on_progress: ProgressCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> Iterator[tuple[Job, dict, list]]:
        """Yield each job's result as it finishes (in completion order)."""
        pending: queue.Queue[Job] = queue.Queue()
        for job in jobs:
            pending.put(job)
        done: queue.Queue[tuple[Job, dict, list]] = queue.Queue()
        stop = threading.Event()

        def worker(slot: int) -> None:
            while not stop.is_set():
                try:
                    job = pending.get_nowait()
                except queue.Empty:
                    return
                if on_start is not None:
                    on_start(job)
                done.put((job, *self._run_one(job, on_progress, gpu=self._gpu_for(slot, job.spec))))

        threads = [
            threading.Thread(target=worker, args=(slot,), daemon=True)
            for slot in range(min(self.workers, len(jobs)))
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in range(len(jobs)):
                yield done.get()
        finally:
            # Reached on Ctrl-C too: stop handing out jobs and end the ones in flight.
            stop.set()
            with self._lock:
                for proc in list(self._procs):
                    proc.kill()

    def _gpu_for(self, slot: int, spec: TrialSpec) -> str | None:
        """With several GPUs, worker ``slot`` gets its own (round robin over the visible ones)."""
        if spec.device != "cuda" or self.workers < 2:
            return None
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            devices = [d for d in visible.split(",") if d.strip()]
        else:
            import torch

            devices = [str(i) for i in range(torch.cuda.device_count())]
        return devices[slot % len(devices)] if len(devices) > 1 else None

    def _run_one(
        self, job: Job, on_progress: ProgressCallback | None, gpu: str | None = None
    ) -> tuple[dict, list]:
        from nnbench.trial import failure_record
        from nnbench.worker import PROGRESS_PREFIX

        spec = job.spec
        with tempfile.TemporaryDirectory(prefix="nnbench-trial-") as tmp:
            result_path = Path(tmp) / "result.json"
            stderr_path = Path(tmp) / "stderr.txt"
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            if spec.threads:
                env["OMP_NUM_THREADS"] = str(spec.threads)
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
            job_text = json.dumps(
                {"spec": spec_to_dict(spec), "arch_label": job.arch_label, "result_path": str(result_path)}
            )
            with open(stderr_path, "w") as stderr:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "nnbench.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    env=env,
                )
                with self._lock:
                    self._procs.add(proc)
                timed_out = threading.Event()

                def kill_on_timeout() -> None:
                    timed_out.set()
                    proc.kill()

                timer = threading.Timer(self.timeout_s, kill_on_timeout)
                timer.start()
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(job_text)
                    proc.stdin.close()
                    for line in proc.stdout:
                        if line.startswith(PROGRESS_PREFIX) and on_progress is not None:
                            step, train_s = line[len(PROGRESS_PREFIX) :].split()
                            on_progress(spec.trial_id, int(step), float(train_s))
                    returncode = proc.wait()
                finally:
                    timer.cancel()
                    with self._lock:
                        self._procs.discard(proc)
            if timed_out.is_set():
                return failure_record(
                    spec,
                    "timeout",
                    f"killed after the executor timeout of {self.timeout_s:g}s",
                    job.arch_label,
                ), []
            if result_path.exists() and returncode == 0:
                result = json.loads(result_path.read_text())
                return result["record"], result["curve"]
            tail = stderr_path.read_text(errors="replace")[-STDERR_TAIL_CHARS:].strip()
            how = (
                f"killed by {_signal_name(returncode)}"
                if returncode < 0
                else f"exited with code {returncode}"
            )
            message = f"trial process {how} without a result"
            if returncode == -signal.SIGKILL:
                message += " (SIGKILL: often the kernel's out-of-memory killer)"
            return failure_record(
                spec, "crashed", message + (f"; stderr: {tail}" if tail else ""), job.arch_label
            ), []


def _run_on_ray_node(spec_data: dict, arch_label: str, plugin_sources: dict[str, str], timeout_s: float):
    """The body of one Ray task: the trial runs isolated in a subprocess on whichever node Ray chose.

    Plugin files travel as their text (the driver's paths do not exist on other nodes) and are
    written to a temporary folder under their own names before the trial loads them.
    """
    import platform

    folder = Path(tempfile.mkdtemp(prefix="nnbench-ray-plugins-"))
    local_files = []
    for original, text in plugin_sources.items():
        local = folder / Path(original).name
        local.write_text(text)
        local_files.append(str(local))
    spec = spec_from_dict({**spec_data, "plugin_files": tuple(local_files)})
    record, curve = ProcessExecutor(workers=1, timeout_s=timeout_s)._run_one(Job(spec, arch_label), None)
    record["plugin_files"] = None
    record["executor_node"] = platform.node()
    return record, curve


class RayExecutor:
    """Each trial a Ray task with its resources (CPUs, one GPU for CUDA trials); results return to the driver.

    Without ``address`` a local Ray instance is started (on 127.0.0.1) and stopped afterwards.
    A Ray worker that dies marks its trial ``crashed`` and the suite goes on.
    """

    kind = "ray"

    def __init__(self, address: str | None = None, timeout_s: float = 600.0):
        self.address = address
        self.timeout_s = timeout_s

    def run(
        self,
        jobs: list[Job],
        on_progress: ProgressCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> Iterator[tuple[Job, dict, list]]:
        """Submit every job at once; yield results as they finish (the live display shows finished trials)."""
        from nnbench.errors import NnbenchError

        host = (self.address or "127.0.0.1").rsplit(":", 1)[0]
        loopback = host in ("127.0.0.1", "localhost", "local")
        if loopback:
            # Ray rewrites a loopback address to the machine's public one and looks for the cluster
            # there (ray-project/ray#59110); in its single-machine mode it keeps 127.0.0.1. This is
            # read when Ray is imported, so it is set first.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError:
            raise NnbenchError("the ray executor needs Ray: pip install 'nnbench[ray]'") from None
        from nnbench.trial import failure_record

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        started_here = not ray.is_initialized()
        if started_here:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.address and self.address != "local":
                options["address"] = self.address
            if loopback:
                options["_node_ip_address"] = "127.0.0.1"
            try:
                ray.init(**options)
            except Exception as exc:
                raise NnbenchError(
                    f"executor.address {self.address or 'local'}: cannot connect to Ray ({exc})"
                ) from None
        try:
            task = ray.remote(_run_on_ray_node)
            refs = {}
            for job in jobs:
                spec = job.spec
                sources = {path: Path(path).read_text() for path in spec.plugin_files}
                resources = {"num_cpus": spec.threads or 1, "num_gpus": 1 if spec.device == "cuda" else 0}
                ref = task.options(max_retries=0, **resources).remote(
                    spec_to_dict(spec), job.arch_label, sources, self.timeout_s
                )
                refs[ref] = job
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                job = refs[ready[0]]
                try:
                    record, curve = ray.get(ready[0])
                except Exception as exc:  # the Ray worker or its node died: that trial only
                    reason = f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    record, curve = failure_record(job.spec, "crashed", reason, job.arch_label), []
                yield job, record, curve
        finally:
            if started_here:
                ray.shutdown()


def make_executor(kind: str, workers: int = 1, timeout_s: float = 600.0, address: str | None = None):
    """The executor called ``kind``."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "process":
        return ProcessExecutor(workers=workers, timeout_s=timeout_s)
    if kind == "ray":
        return RayExecutor(address=address, timeout_s=timeout_s)
    raise ValueError(f"unknown executor {kind!r} (expected inline, process or ray)")
