"""The live display of a run: an outer bar over trials and a transient bar per running trial.

On a terminal it is a rich progress display; elsewhere (CI logs, pipes) it prints one plain line
per finished trial and nothing per step.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RunDisplay:
    """Shows a run's progress; use as a context manager."""

    def __init__(self, total: int, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._inner: dict[str, Any] = {}
        self._budgets: dict[str, tuple[int | None, float | None]] = {}
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.live,
        )
        self._outer = None

    def __enter__(self) -> RunDisplay:
        self.progress.__enter__()
        self._outer = self.progress.add_task("trials", total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def started(self, trial_id: str, label: str, steps: int | None, seconds: float | None) -> None:
        """A trial began: add its inner bar (over steps, or seconds when only time bounds it)."""
        if not self.live:
            return
        with self._lock:
            total = steps if steps is not None else seconds
            self._budgets[trial_id] = (steps, seconds)
            self._inner[trial_id] = self.progress.add_task(f"  {label}", total=total)

    def advance(self, trial_id: str, step: int, train_s: float) -> None:
        """Progress inside a trial (called every few dozen steps, never every step)."""
        if not self.live or trial_id not in self._inner:
            return
        steps, seconds = self._budgets[trial_id]
        fraction_steps = step / steps if steps else 0.0
        fraction_time = train_s / seconds if seconds else 0.0
        total = self.progress.tasks[self._inner[trial_id]].total or 1
        self.progress.update(self._inner[trial_id], completed=max(fraction_steps, fraction_time) * total)

    def finished(self, trial_id: str, label: str, record: dict[str, Any]) -> None:
        """A trial ended: drop its bar, advance the outer one, print a line when not live."""
        with self._lock:
            self.done += 1
            inner = self._inner.pop(trial_id, None)
            if inner is not None:
                self.progress.remove_task(inner)
            if self._outer is not None:
                self.progress.advance(self._outer)
        line = f"[{self.done}/{self.total}] {label}: {describe(record)}"
        if self.live:
            self.progress.console.print(line, markup=False, highlight=False)
        elif not self.quiet:
            print(line, flush=True)


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
