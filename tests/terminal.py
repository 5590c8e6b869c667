"""Run the real ``nnbench`` command under a pseudo-terminal, as a person at a terminal runs it.

Off a terminal nnbench prints plain lines; on one it draws a live rich display from several threads.
Only a pty exercises that path, so the human path is tested here, not through a helper.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")


@dataclass
class PtyResult:
    """What a command run under a pty printed (ANSI codes stripped in ``text``) and how it exited."""

    returncode: int
    raw: str
    marker: str
    max_workers_seen: int = 0  # warm workers alive at once
    max_trials_seen: int = 0  # trial processes alive at once
    worker_pids_seen: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        """The output without terminal control sequences."""
        return ANSI.sub("", self.raw)


def worker_processes(marker: str) -> dict[int, tuple[int, bytes]]:
    """Live ``nnbench.worker`` processes started under ``marker``: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"nnbench.worker" not in cmdline:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":  # a zombie is dead, only not reaped
                continue
            if f"NNBENCH_PTY_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                found[int(entry.name)] = (int(fields[1]), cmdline)
        except OSError:  # the process ended while we looked
            continue
    return found


def default_interrupt() -> None:
    """In a child about to exec: Ctrl-C interrupts, as it does for a command typed at a shell.

    A test run started in the background of a non-interactive shell (``pytest ... &``) inherits SIGINT
    ignored, and an ignored SIGINT stays ignored across exec: the interrupt tests would then see a
    runner that cannot be interrupted, which is the shell's doing, not nnbench's.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def worker_pids(marker: str) -> set[int]:
    """Pids of live ``nnbench.worker`` processes started under ``marker``: warm workers and trial processes."""
    return set(worker_processes(marker))


def count_processes(marker: str) -> tuple[int, int]:
    """``(warm workers, trial processes)`` alive now under ``marker``.

    A warm worker is a ``--warm`` one started by the runner; a trial process is one a warm worker
    forked, or a fresh ``python -m nnbench.worker`` (no ``--warm``) started by the runner. What a trial
    process forks itself (a moment before it runs another program) is neither.
    """
    processes = worker_processes(marker)
    workers = {
        pid
        for pid, (parent, cmdline) in processes.items()
        if parent not in processes and b"--warm" in cmdline
    }
    fresh = {
        pid
        for pid, (parent, cmdline) in processes.items()
        if parent not in processes and b"--warm" not in cmdline
    }
    forked = {pid for pid, (parent, _) in processes.items() if parent in workers}
    return len(workers), len(fresh | forked)


def run_in_pty(
    *args: str,
    cwd: Path,
    columns: int = 120,
    rows: int = 40,
    timeout: float = 300,
    env: dict | None = None,
    interrupt_after: float | None = None,
) -> PtyResult:
    """Run ``python -m nnbench ARGS`` with stdin, stdout and stderr on a new pty of the given size.

    While it runs, the warm workers and trial processes it started are counted every 0.1 s. With
    ``interrupt_after`` the command gets SIGINT (Ctrl-C) after that many seconds.
    """
    marker = uuid.uuid4().hex
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    full_env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows))
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    full_env["NNBENCH_PTY_MARKER"] = marker
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnbench", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=full_env,
        start_new_session=True,  # the pty becomes its controlling terminal, as in a real shell
        preexec_fn=default_interrupt,
    )
    os.close(terminal)
    result = PtyResult(returncode=-1, raw="", marker=marker)
    stop = threading.Event()

    def count_workers() -> None:
        while not stop.is_set():
            result.worker_pids_seen |= worker_pids(marker)
            workers, trials = count_processes(marker)
            result.max_workers_seen = max(result.max_workers_seen, workers)
            result.max_trials_seen = max(result.max_trials_seen, trials)
            time.sleep(0.1)

    counter = threading.Thread(target=count_workers, daemon=True)
    counter.start()
    chunks: list[bytes] = []
    started = time.monotonic()
    interrupted = False
    try:
        while True:
            if (
                interrupt_after is not None
                and not interrupted
                and time.monotonic() - started > interrupt_after
            ):
                os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
                interrupted = True
            if time.monotonic() - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"nnbench {' '.join(args)} ran past {timeout}s")
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: every writer closed the pty
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                # drain what is left, then stop
                while select.select([controller], [], [], 0.2)[0]:
                    try:
                        data = os.read(controller, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    chunks.append(data)
                break
        result.returncode = proc.wait(timeout=60)
    finally:
        stop.set()
        counter.join(timeout=5)
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
    result.raw = b"".join(chunks).decode("utf-8", errors="replace")
    return result
