"""The subprocess side of a trial run in a process of its own: read the job, run it, write the result, exit.

Run as ``python -m nnbench.worker`` by :mod:`nnbench.subprocess_trial`, which holds the protocol: a
JSON job on stdin (``spec``, ``arch_label``, ``result_path``); progress lines on stdout starting with
:data:`~nnbench.subprocess_trial.PROGRESS_PREFIX`; the ``(record, curve)`` result as JSON in
``result_path``. Anything else the trial prints is passed through untouched.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def _exit_when_orphaned(parent: int) -> None:
    # If the runner is killed (SIGKILL, power loss of the session), nobody will read this trial's
    # result: stop instead of burning the machine. The next `nnbench run` re-runs the trial.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def main() -> None:
    """Read the job, run it, write the result."""
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    from nnbench.subprocess_trial import PROGRESS_PREFIX, spec_from_dict
    from nnbench.trial import execute_trial

    job = json.loads(sys.stdin.read())
    spec = spec_from_dict(job["spec"])

    def progress(step: int, train_s: float) -> None:
        print(f"{PROGRESS_PREFIX}{step} {train_s:.3f}", flush=True)

    record, curve = execute_trial(spec, job.get("arch_label", ""), progress=progress)
    with open(job["result_path"], "w") as handle:
        json.dump({"record": record, "curve": curve}, handle, default=str)


if __name__ == "__main__":
    main()
