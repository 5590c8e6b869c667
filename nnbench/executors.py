"""Where trials run: ``inline`` (this process, for debugging), ``process`` (a process per trial,
``workers`` at once) or ``ray`` (each trial a Ray task, on one machine or a cluster).

An executor takes jobs and yields ``(job, record, curve)`` as trials finish; the runner alone writes
the store. In the process and Ray executors a crash, a segfault, an out-of-memory kill or a hang ends
that trial (status ``crashed`` or ``timeout``), never the suite. Their trial processes are forked by
warm workers (:mod:`nnbench.warm_worker`), or with ``warm=False`` are fresh interpreters
(:mod:`nnbench.subprocess_trial`).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nnbench import warm_worker
from nnbench.subprocess_trial import (
    ProgressCallback,
    RunningProcesses,
    run_trial_subprocess,
    spec_from_dict,
    spec_to_dict,
)
from nnbench.types import TrialSpec

StartCallback = Callable[["Job"], None]


@dataclass(frozen=True)
class Job:
    """One trial to run and the label shown for it."""

    spec: TrialSpec
    arch_label: str


class JobSource(Protocol):
    """Where an executor takes its jobs from: a fixed list, or a tuning scheduler that decides the next
    configuration only when a worker is free (see :mod:`nnbench.tuning`)."""

    def next_job(self) -> Job | None:
        """A job to start now, or None when none is ready (more may come once a running one finishes)."""

    def finished(self, job: Job, record: dict) -> None:
        """Told of every finished job, before the next :meth:`next_job`."""


class ListSource:
    """A fixed list of jobs, handed out in order."""

    def __init__(self, jobs: list[Job]):
        self._jobs = collections.deque(jobs)

    def next_job(self) -> Job | None:
        """The next job of the list."""
        return self._jobs.popleft() if self._jobs else None

    def finished(self, job: Job, record: dict) -> None:
        """Nothing to do: a list does not depend on results."""


def drive(
    executor, source: JobSource, on_start: StartCallback | None = None
) -> Iterator[tuple[Job, dict, list]]:
    """Keep ``executor``'s slots busy with jobs from ``source``; yield ``(job, record, curve)`` as they finish.

    Ends when nothing is running and the source has nothing ready. The executor is closed at the end
    and on Ctrl-C (trials in flight are killed; finished ones have been yielded).
    """
    running = 0
    try:
        while True:
            while running < executor.slots:
                job = source.next_job()
                if job is None:
                    break
                if on_start is not None:
                    on_start(job)
                executor.submit(job)
                running += 1
            if running == 0:
                return
            job, record, curve = executor.next_result()
            running -= 1
            source.finished(job, record)
            yield job, record, curve
    finally:
        executor.close()


class Executor:
    """The interface every executor implements: ``slots`` trials at once, ``submit`` and ``next_result``."""

    kind = ""
    slots = 1

    def start(self, on_progress: ProgressCallback | None = None) -> None:
        """Get ready to run trials (start workers, connect to a cluster)."""
        self.on_progress = on_progress

    def submit(self, job: Job) -> None:
        """Start ``job`` (the caller never submits more than ``slots`` at once)."""
        raise NotImplementedError

    def next_result(self) -> tuple[Job, dict, list]:
        """Wait for a submitted job to finish; return it with its record and curve."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop: end anything still running, release resources."""

    def run(
        self,
        jobs: list[Job],
        on_progress: ProgressCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> Iterator[tuple[Job, dict, list]]:
        """Run a fixed list of jobs; yield each result as it finishes (in completion order)."""
        self.start(on_progress)
        return drive(self, ListSource(jobs), on_start)


class InlineExecutor(Executor):
    """Runs trials one after another in this process: simplest, for debugging; no isolation."""

    kind = "inline"

    def __init__(self):
        self._queue: collections.deque[Job] = collections.deque()
        self.on_progress = None

    def submit(self, job: Job) -> None:
        """Queue the job; it runs when its result is asked for."""
        self._queue.append(job)

    def next_result(self) -> tuple[Job, dict, list]:
        """Run the queued job here and now."""
        from nnbench.trial import execute_trial

        job = self._queue.popleft()
        callback = None
        if self.on_progress is not None:

            def callback(step, train_s, _id=job.spec.trial_id, _report=self.on_progress):
                _report(_id, step, train_s)

        record, curve = execute_trial(job.spec, job.arch_label, progress=callback)
        record["trial_process"] = "inline"
        return job, record, curve


class ProcessExecutor(Executor):
    """A process per trial with a hard wall-clock timeout; ``workers`` trials at once.

    ``warm`` (the default where the platform allows it, see :func:`nnbench.warm_worker.supported`):
    each slot keeps a warm worker that forks every trial's process; ``warm=False``: a fresh
    interpreter per trial (seconds more per trial; for platforms without a safe fork).
    """

    kind = "process"

    def __init__(self, workers: int = 1, timeout_s: float = 600.0, warm: bool | None = None):
        self.workers = max(1, workers)
        self.slots = self.workers
        self.timeout_s = timeout_s
        self.warm = warm_worker.supported() if warm is None else warm and warm_worker.supported()
        self.on_progress = None
        self._running = RunningProcesses()
        self._warm = [warm_worker.WarmWorker() for _ in range(self.workers)] if self.warm else []
        self._lock = threading.Lock()
        self._done: queue.Queue[tuple[Job, dict, list]] = queue.Queue()
        self._free_slots = list(range(self.workers))

    def submit(self, job: Job) -> None:
        """Start the job's trial from a thread of its own (on a free worker slot)."""
        with self._lock:
            slot = self._free_slots.pop(0)

        def work() -> None:
            gpu = self._gpu_for(slot, job.spec)
            try:
                if self.warm:
                    result = self._warm[slot].run(
                        job.spec, job.arch_label, self.timeout_s, self.on_progress, gpu=gpu
                    )
                else:
                    result = run_trial_subprocess(
                        job.spec,
                        job.arch_label,
                        self.timeout_s,
                        self.on_progress,
                        gpu=gpu,
                        running=self._running,
                    )
            except BaseException as exc:  # never leave the driver waiting for a result that cannot come
                from nnbench.trial import failure_record

                result = (failure_record(job.spec, "crashed", f"executor error: {exc!r}", job.arch_label), [])
            with self._lock:
                self._free_slots.append(slot)
            self._done.put((job, *result))

        threading.Thread(target=work, daemon=True).start()

    def next_result(self) -> tuple[Job, dict, list]:
        """The next job to finish, in completion order."""
        return self._done.get()

    def close(self) -> None:
        """End every worker and trial process and reap them (reached on Ctrl-C too)."""
        self._running.kill_all()
        for worker in self._warm:
            worker.close()

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


def write_shipped_plugin(folder: Path, original: str, text: str) -> Path:
    """Write plugin file ``original`` (a path on the driver) into ``folder`` on a node; return where.

    The file keeps its name inside a subfolder named from a hash of its full driver path.
    """
    digest = hashlib.sha256(original.encode()).hexdigest()[:16]
    local = folder / digest / Path(original).name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    return local


_node_worker: warm_worker.WarmWorker | None = None  # this Ray worker process's warm worker


def _run_on_ray_node(
    spec_data: dict, arch_label: str, plugin_sources: dict[str, str], timeout_s: float, warm: bool = True
):
    """The body of one Ray task: the trial runs isolated in a process of its own on whichever node Ray chose.

    With ``warm``, the process is forked by a warm worker that this Ray worker process keeps for the
    tasks it runs next (the same code as the process executor's); else a fresh interpreter.
    Plugin files travel as their text (the driver's paths do not exist on other nodes). Each is written
    to a folder of its own, named from the driver's full path, under its own file name: two files with
    the same name (``a/models.py``, ``b/models.py``) stay two files, and two modules in the trial.
    """
    import platform
    import shutil

    global _node_worker
    folder = Path(tempfile.mkdtemp(prefix="nnbench-ray-plugins-"))
    try:
        local_files = [
            str(write_shipped_plugin(folder, original, text)) for original, text in plugin_sources.items()
        ]
        spec = spec_from_dict({**spec_data, "plugin_files": tuple(local_files)})
        if warm and warm_worker.supported():
            if _node_worker is None:
                _node_worker = warm_worker.WarmWorker()
            # Ray sets CUDA_VISIBLE_DEVICES for the task in this process: the trial's environment.
            record, curve = _node_worker.run(spec, arch_label, timeout_s)
        else:
            record, curve = run_trial_subprocess(spec, arch_label, timeout_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record["plugin_files"] = None
    record["executor_node"] = platform.node()
    return record, curve


class RayExecutor(Executor):
    """Each trial a Ray task with its resources (CPUs, one GPU for CUDA trials); results return to the driver.

    Without ``address`` a local Ray instance is started (on 127.0.0.1) and stopped afterwards.
    A Ray worker that dies marks its trial ``crashed`` and the suite goes on. ``slots`` is what the
    cluster can run at once: its CPUs over the threads of a trial (its GPUs, for CUDA trials).
    """

    kind = "ray"

    def __init__(
        self,
        address: str | None = None,
        timeout_s: float = 600.0,
        threads: int = 1,
        device: str = "cpu",
        warm: bool = True,
    ):
        self.address = address
        self.warm = warm
        self.timeout_s = timeout_s
        self.threads = max(1, threads)
        self.device = device
        self.on_progress = None
        self._refs: dict[Any, Job] = {}
        self._started_here = False

    def start(self, on_progress: ProgressCallback | None = None) -> None:
        """Connect to the cluster at ``address``, or start a local one; size ``slots`` from its resources."""
        self.on_progress = on_progress  # Ray tasks report no progress: the display shows finished trials
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

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self._started_here = not ray.is_initialized()
        if self._started_here:
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
        resources = ray.cluster_resources()
        slots = int(resources.get("CPU", 1) // self.threads)
        if self.device == "cuda":
            slots = min(slots, int(resources.get("GPU", 0)))
        self.slots = max(1, slots)
        self._task = ray.remote(_run_on_ray_node)

    def submit(self, job: Job) -> None:
        """Submit the job as a Ray task; Ray places it on a node with its resources free."""
        spec = job.spec
        sources = {path: Path(path).read_text() for path in spec.plugin_files}
        resources = {"num_cpus": spec.threads or 1, "num_gpus": 1 if spec.device == "cuda" else 0}
        ref = self._task.options(max_retries=0, **resources).remote(
            spec_to_dict(spec), job.arch_label, sources, self.timeout_s, self.warm
        )
        self._refs[ref] = job

    def next_result(self) -> tuple[Job, dict, list]:
        """The next Ray task to finish; a dead worker or node makes that trial ``crashed``."""
        import ray

        from nnbench.trial import failure_record

        ready, _ = ray.wait(list(self._refs), num_returns=1)
        job = self._refs.pop(ready[0])
        try:
            record, curve = ray.get(ready[0])
        except Exception as exc:  # the Ray worker or its node died: that trial only
            reason = f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            record, curve = failure_record(job.spec, "crashed", reason, job.arch_label), []
        return job, record, curve

    def close(self) -> None:
        """Cancel what is still queued or running; stop the local Ray instance if this executor started it."""
        import ray

        for ref in list(self._refs):
            with contextlib.suppress(Exception):  # already finished or gone: nothing to cancel
                ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started_here:
            ray.shutdown()


def make_executor(
    kind: str,
    workers: int = 1,
    timeout_s: float = 600.0,
    address: str | None = None,
    threads: int = 1,
    device: str = "cpu",
    warm: bool = True,
) -> Executor:
    """The executor called ``kind`` (not started: call ``start`` or ``run``); ``warm``: trial processes
    forked by warm workers where the platform allows it (process and ray), else fresh interpreters."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "process":
        return ProcessExecutor(workers=workers, timeout_s=timeout_s, warm=warm)
    if kind == "ray":
        return RayExecutor(address=address, timeout_s=timeout_s, threads=threads, device=device, warm=warm)
    raise ValueError(f"unknown executor {kind!r} (expected inline, process or ray)")
