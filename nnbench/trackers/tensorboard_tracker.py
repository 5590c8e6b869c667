"""TensorBoard: event files per trial (``pip install "nnbench[tensorboard]"``).

Each trial gets a folder ``$NNBENCH_TENSORBOARD_DIR/<suite>/<run id>/<trial>`` (default ``./runs``, the
folder ``tensorboard --logdir`` users already point at) with its validation curve by step
(``val/<metric>``), its measurements under ``nnbench/<field>`` and its parameters in the HParams
dashboard. Written with ``torch.utils.tensorboard.SummaryWriter``: torch is already nnbench's dependency
and the writer needs only the ``tensorboard`` package the extra installs, so this adds nothing beyond
it, and it is the writer TensorBoard's PyTorch users know.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnbench.trackers.base import Tracker, curve_by_step, trial_metrics, trial_name

DEFAULT_DIR = "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:120] or "trial"


class TensorBoardTracker(Tracker):
    """Writes one TensorBoard run (a folder of event files) per trial."""

    name = "tensorboard"
    extra = "tensorboard"

    def __init__(self) -> None:
        self.root: Path | None = None
        self.writer_class = None

    def start(self, suite, trials, ctx) -> None:
        """Check that the writer imports; choose the run's folder."""
        self.need("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer_class = SummaryWriter
        base = Path(os.environ.get("NNBENCH_TENSORBOARD_DIR") or DEFAULT_DIR)
        self.root = base / _slug(suite.name) / ctx.run_id
        self.root.mkdir(parents=True, exist_ok=True)

    def trial(self, record, curve, ctx) -> None:
        """The trial's folder: curve scalars, then its parameters and measurements as an HParams entry."""
        folder = self.root / f"{_slug(trial_name(record))}-{record['trial_id'][:8]}"
        final_step = int(record.get("steps") or 0)
        writer = self.writer_class(log_dir=str(folder))
        try:
            for step, values in curve_by_step(curve):
                for key, value in values.items():
                    writer.add_scalar(key, value, step)
            writer.add_text(
                "nnbench/status", f"{record.get('status')}: {record.get('error') or ''}".strip(": ")
            )
            metrics = {f"nnbench/{key}": value for key, value in trial_metrics(record).items()}
            if metrics:  # the HParams dashboard needs a metric; a failed trial has none
                # run_name "." writes into the trial's own folder, not a sub-folder per call.
                writer.add_hparams(self.params(record), metrics, run_name=".", global_step=final_step)
        finally:
            writer.close()

    def finish(self, suite, records, ctx) -> None:
        """Nothing to close: each trial's writer is closed after the trial."""


def make() -> TensorBoardTracker:
    """The tracker ``--track tensorboard`` attaches."""
    return TensorBoardTracker()
