"""The subprocess side of trials run in processes of their own: a fresh interpreter, or a warm worker.

``python -m nnbench.worker`` runs one trial in a fresh interpreter: it reads one JSON job on stdin
(``spec``, ``arch_label``, ``result_path``), runs it, writes the ``(record, curve)`` result as JSON to
``result_path`` and exits.

``python -m nnbench.worker --warm`` is a warm worker (:mod:`nnbench.warm_worker` drives it). It imports
torch, nnbench and the plugins once, then never runs anything itself: for each job line on stdin
(the same job, plus ``stderr_path``) it forks a *trial process*, a copy of itself as it was before any
trial ran, which runs that one trial and exits. So every trial starts from the same state (seeds,
thread counts, torch's global flags, plugin modules, caches), whichever trial ran before; a crash,
an abort or an out-of-memory kill ends only the trial process. The worker reports on stdout, each
on a line of its own starting with :data:`CONTROL_PREFIX`: ``started PID`` when the trial process
starts, ``exit CODE`` when it has ended (its exit status, negative for a signal), and ``stale PATH``
instead of starting a trial when a module it imported has changed on disk since (it then exits, and
the driver starts a new worker that imports the new code).

In both modes progress lines (:data:`~nnbench.subprocess_trial.PROGRESS_PREFIX`) go to stdout and
anything else the trial prints passes through untouched; each process exits within a second of its
parent's death (the runner's, or for a trial process its worker's).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import threading
import time
import traceback

CONTROL_PREFIX = "@@nnbench-worker "
ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent: int) -> None:
    # If the runner is killed (SIGKILL, power loss of the session), nobody will read this trial's
    # result: stop instead of burning the machine. The next `nnbench run` re-runs the trial.
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os._exit(3)


def _watch_parent() -> None:
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def name_process(name: str) -> None:
    """Set this process's name as ``ps``/``top`` show it (``/proc/PID/comm``); Linux only, else nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_name = 15
        ctypes.CDLL(None).prctl(pr_set_name, name.encode()[:15], 0, 0, 0)


def run_job(job: dict) -> None:
    """Run one job's trial in this process and write its ``(record, curve)`` to ``job["result_path"]``."""
    from nnbench.subprocess_trial import PROGRESS_PREFIX, spec_from_dict
    from nnbench.trial import execute_trial

    spec = spec_from_dict(job["spec"])

    def progress(step: int, train_s: float) -> None:
        print(f"{PROGRESS_PREFIX}{step} {train_s:.3f}", flush=True)

    record, curve = execute_trial(spec, job.get("arch_label", ""), progress=progress)
    record["trial_process"] = job.get("trial_process", "fresh")  # warm (forked by a warm worker) or fresh
    with open(job["result_path"], "w") as handle:
        json.dump({"record": record, "curve": curve}, handle, default=str)


def main() -> None:
    """A fresh interpreter for one trial: read the job, run it, write the result."""
    _watch_parent()
    name_process("nnbench-trial")
    run_job(json.loads(sys.stdin.read()))


# -- the warm worker ------------------------------------------------------------------------------


def warm_up() -> set[str]:
    """Import what every trial imports, without running anything; return the modules to watch for changes.

    No thread and no CUDA context is started: a forked trial process can use CUDA only if its parent
    never initialised it, and autograd's device threads do not survive a fork, so the worker imports
    and never computes. The plugins are loaded and registered once; if that fails (strict mode, say),
    nothing is kept and each trial process loads them itself and records the failure as a fresh
    process would. Watched: nnbench's modules and whatever loading the plugins imported (torch and
    the libraries imported before it are not: they do not change under a running suite).
    """
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401 - what the first optimizer imports (about 1 s)
    import torch.utils.flop_counter  # noqa: F401

    from nnbench import training, trial  # noqa: F401

    before = set(sys.modules)
    from nnbench import plugins, registry

    try:
        plugins.load_plugins()
        registry.get_registry()
    except Exception:
        plugins.reset()
    own = {name for name in sys.modules if name == "nnbench" or name.startswith("nnbench")}
    return (set(sys.modules) - before) | own


def module_files(names: set[str]) -> dict[str, tuple[int, int]]:
    """``path -> (mtime_ns, size)`` of the source file of each module in ``names`` that has one."""
    stamps = {}
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and path.endswith(".py"):
            with contextlib.suppress(OSError):
                stat = os.stat(path)
                stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


def changed_file(stamps: dict[str, tuple[int, int]]) -> str | None:
    """The first file of ``stamps`` that changed (or went) since; None when none did."""
    for path, stamp in stamps.items():
        try:
            stat = os.stat(path)
        except OSError:
            return path
        if (stat.st_mtime_ns, stat.st_size) != stamp:
            return path
    return None


class _Lines:
    """Lines from a file descriptor, with a timeout, without Python's buffering (which select cannot see)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""

    def readline(self, timeout: float) -> str | None:
        """The next line ("" at end of file), or None when none came within ``timeout`` seconds."""
        while b"\n" not in self.buffer:
            if not select.select([self.fd], [], [], timeout)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                line, self.buffer = self.buffer, b""
                return line.decode()
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode() + "\n"


def _control(event: str, value: object) -> None:
    # A newline first: a trial that printed without one must not swallow the line.
    sys.stdout.write(f"\n{CONTROL_PREFIX}{event} {value}\n")
    sys.stdout.flush()


_trial_pid: list[int] = []  # the trial process running now (at most one)


def _end_trial_and_exit(signum=None, frame=None) -> None:
    # SIGTERM from the driver (timeout, Ctrl-C, a driver-side failure) or the runner's death: the trial
    # process is killed and reaped here, so that it is neither left running nor left a zombie.
    for pid in list(_trial_pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
    os._exit(143 if signum else 3)


def _wait_for(pid: int, parent: int) -> int:
    """Wait for trial process ``pid`` to end and return its exit status; exit if ``parent`` died meanwhile."""
    try:
        handle = os.pidfd_open(pid)  # Linux 5.3+: readable when the process ends
    except (AttributeError, OSError):
        handle = None
    try:
        while True:
            if handle is not None:
                select.select([handle], [], [], ORPHAN_CHECK_S)
            else:
                time.sleep(0.005)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if os.getppid() != parent:
                _end_trial_and_exit()
    finally:
        if handle is not None:
            os.close(handle)


def _trial_process(job: dict, worker: int) -> None:
    """The forked trial process: run the job's trial, then leave at once (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        name_process("nnbench-trial")
        # Its own stderr file (the driver reads its tail when it fails); no stdin: jobs are the worker's.
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        stderr = os.open(job["stderr_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(stderr, 2)
        os.close(stderr)
        threading.Thread(target=_exit_when_orphaned, args=(worker,), daemon=True).start()
        run_job(job)
        code = 0
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # not the worker's exit handlers: this process is a copy of it


def serve() -> None:
    """The warm worker's loop: warm up, then fork one trial process per job line until stdin closes."""
    parent = os.getppid()
    name_process("nnbench-worker")
    stamps = module_files(warm_up())
    signal.signal(signal.SIGTERM, _end_trial_and_exit)
    gc.collect()
    gc.freeze()  # the warm-up's objects are never traced again: fewer pages copied into trial processes
    lines = _Lines(sys.stdin.fileno())
    while True:
        line = lines.readline(ORPHAN_CHECK_S)
        if os.getppid() != parent:
            _end_trial_and_exit()
        if line is None:
            continue
        if not line:
            return  # the driver closed stdin: done
        if not line.strip():
            continue
        job = json.loads(line)
        changed = changed_file(stamps)
        if changed is not None:
            _control("stale", changed)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        # SIGTERM waits until the trial process is known, so that the handler can end it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid == 0:
            _trial_process(job, worker=os.getppid())
        _trial_pid.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _control("started", pid)
        code = _wait_for(pid, parent)
        _trial_pid.clear()
        _control("exit", code)


if __name__ == "__main__":
    if "--warm" in sys.argv[1:]:
        serve()
    else:
        main()
