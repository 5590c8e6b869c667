"""The live display of a run: an outer bar over trials and a transient bar per running trial.

On a terminal it is a rich progress display; elsewhere (CI logs, pipes) it prints one plain line
per finished trial and nothing per step.

The display is an observer: it is called from the runner's thread and from the executor's reader
threads, and nothing it does may change a trial's fate. Every public method is guarded: an error
inside the display is reported once (as a warning line) and the run goes on without it.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


def _observer(method):
    """Run a display method; on any error warn once, turn the live display off, and return None."""

    @functools.wraps(method)
    def guarded(self: RunDisplay, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # a display must never break a trial
            self._display_failed(exc)
            return None

    return guarded


class RunDisplay:
    """Shows a run's progress; use as a context manager. Safe to call from several threads."""

    def __init__(self, total: int, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.error: str | None = None  # the first error the display hit, if any
        self._lock = threading.RLock()
        # trial id -> (rich task id, steps budget, seconds budget, the bar's total)
        self._inner: dict[str, tuple[TaskID, int | None, float | None, float]] = {}
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.live,
        )
        self._outer: TaskID | None = None

    def __enter__(self) -> RunDisplay:
        try:
            self.progress.__enter__()
            self._outer = self.progress.add_task("trials", total=self.total)
        except Exception as exc:
            self._display_failed(exc)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.progress.__exit__(*exc)
        except Exception as error:
            self._display_failed(error)

    @_observer
    def started(self, trial_id: str, label: str, steps: int | None, seconds: float | None) -> None:
        """A trial began: add its inner bar (over steps, or seconds when only time bounds it)."""
        if not self.live:
            return
        total = float(steps if steps is not None else seconds or 1)
        with self._lock:
            task_id = self.progress.add_task(f"  {label}", total=total)
            self._inner[trial_id] = (task_id, steps, seconds, total)

    @_observer
    def set_total(self, total: int) -> None:
        """The run's trial count changed (adaptive seeds asked for more): move the outer bar's end."""
        with self._lock:
            self.total = total
            if self.live and self._outer is not None:
                self.progress.update(self._outer, total=total)

    @_observer
    def advance(self, trial_id: str, step: int, train_s: float) -> None:
        """Progress inside a trial (called every few dozen steps, never every step)."""
        if not self.live:
            return
        with self._lock:
            bar = self._inner.get(trial_id)
            if bar is None:  # the trial already finished (a late progress line): nothing to move
                return
            task_id, steps, seconds, total = bar
            fraction_steps = step / steps if steps else 0.0
            fraction_time = train_s / seconds if seconds else 0.0
            self.progress.update(task_id, completed=min(1.0, max(fraction_steps, fraction_time)) * total)

    @_observer
    def finished(self, trial_id: str, label: str, record: dict[str, Any]) -> None:
        """A trial ended: drop its bar, advance the outer one, print a line (plain when not live)."""
        with self._lock:
            self.done += 1
            bar = self._inner.pop(trial_id, None)
            line = f"[{self.done}/{self.total}] {label}: {describe(record)}"
            if self.live:
                if bar is not None:
                    self.progress.remove_task(bar[0])
                if self._outer is not None:
                    self.progress.advance(self._outer)
                self.progress.console.print(line, markup=False, highlight=False)
                return
        if not self.quiet:
            print(line, flush=True)

    def _display_failed(self, exc: BaseException) -> None:
        """Report the display's first error once and stop drawing; trials are not affected."""
        with self._lock:
            first = self.error is None
            if first:
                self.error = f"{type(exc).__name__}: {exc}"
            self.live = False
        if first:
            import sys

            print(
                f"warning: the progress display failed ({self.error}); trials go on, without live bars",
                file=sys.stderr,
                flush=True,
            )


def describe(record: dict[str, Any]) -> str:
    """One line on a trial's outcome."""
    status = record.get("status")
    if status in ("ok", "diverged") and record.get("metric"):
        if record.get("stage") == "tune":  # tuning trials are judged on validation
            score = record.get("val_score")
            shown = f"{score:.4g}" if isinstance(score, (int, float)) else "n/a"
            return f"{status} val {record['metric']}={shown} in {(record.get('train_s') or 0.0):.2f}s"
        score = record.get("test_score")
        shown = f"{score:.4g}" if isinstance(score, (int, float)) else "n/a"
        train_s = record.get("train_s") or 0.0
        return f"{status} {record['metric']}={shown} in {train_s:.2f}s ({record.get('steps')} steps)"
    error = (record.get("error") or "").splitlines()
    return f"{status}: {error[0] if error else ''}"
